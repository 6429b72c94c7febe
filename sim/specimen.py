"""Specimens drawn on the fine grid, batched and seeded.

A specimen is a dict of density maps (n, Fy, Fx) by structure class, because "photons per pixel on
a structure" means different things for a point, a line and an area (see `fluorogate.sim.render`):
- "point": point masses (beads, puncta, SMLM emitters); 1 = a point of nominal brightness;
- "line": line density per fine pixel of length (filaments); 1 = a filament of nominal brightness;
- "area": area density per fine pixel (nuclei); 1 = nominal brightness.
Everything is vectorised over the batch: thousands of 64x64 patches take seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import fft, ndimage

from fluorogate.errors import UserError
from fluorogate.sim.optics import Grid

Specimen = dict[str, np.ndarray]


def splat(
    frame: np.ndarray, y: np.ndarray, x: np.ndarray, w: np.ndarray, n: int, shape: tuple[int, int]
) -> np.ndarray:
    """Bilinear splat of weights `w` at fine coordinates (y, x) into frames `frame` of (n, *shape).

    Bilinear weights keep each point's total mass and centroid exactly; points off the grid are dropped.
    """
    h, wd = shape
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = (y - y0).astype(np.float32), (x - x0).astype(np.float32)
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    w = np.asarray(w, dtype=np.float32)
    yy = np.concatenate((y0, y0, y0 + 1, y0 + 1))
    xx = np.concatenate((x0, x0 + 1, x0, x0 + 1))
    ww = np.concatenate((w * (1 - fy) * (1 - fx), w * (1 - fy) * fx, w * fy * (1 - fx), w * fy * fx))
    ff = np.concatenate((frame, frame, frame, frame))
    ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < wd) & (ww != 0)
    out = np.bincount((ff[ok] * h + yy[ok]) * wd + xx[ok], weights=ww[ok], minlength=n * h * wd)
    return out.reshape(n, h, wd).astype(np.float32)


def _counts(rng: np.random.Generator, n: int, grid: Grid, per_um2: float) -> np.ndarray:
    """Poisson number of objects per frame over the whole fine grid (margin included)."""
    fy, fx = grid.fine_shape
    area_um2 = fy * fx * (grid.fine_nm / 1000) ** 2
    return rng.poisson(per_um2 * area_um2, size=n)


def _uniform_positions(rng: np.random.Generator, counts: np.ndarray, grid: Grid):
    frame = np.repeat(np.arange(counts.size), counts)
    fy, fx = grid.fine_shape
    return frame, rng.uniform(0, fy - 1, frame.size), rng.uniform(0, fx - 1, frame.size)


def filaments(
    rng: np.random.Generator,
    n: int,
    grid: Grid,
    per_um2: float = 0.08,
    length_um: tuple[float, float] = (3.0, 15.0),
    persistence_um: float = 5.0,
) -> Specimen:
    """Worm-like chains: tangent angle diffuses with variance ds / persistence length per step ds."""
    frame, y0, x0 = _uniform_positions(rng, _counts(rng, n, grid, per_um2), grid)
    k = frame.size
    ds = 0.5  # fine pixels per step: dense enough that the splats form a continuous line
    max_steps = math.ceil(length_um[1] * 1000 / grid.fine_nm / ds)
    lengths = rng.uniform(*length_um, size=k) * 1000 / grid.fine_nm / ds  # in steps
    dtheta = rng.standard_normal((k, max_steps)) * math.sqrt(ds * grid.fine_nm / (persistence_um * 1000))
    theta = rng.uniform(0, 2 * math.pi, size=(k, 1)) + np.cumsum(dtheta, axis=1)
    y = y0[:, None] + ds * np.cumsum(np.sin(theta), axis=1)
    x = x0[:, None] + ds * np.cumsum(np.cos(theta), axis=1)
    brightness = rng.lognormal(0.0, 0.25, size=(k, 1))
    w = np.where(np.arange(max_steps)[None, :] < lengths[:, None], ds * brightness, 0.0)
    frames = np.broadcast_to(frame[:, None], (k, max_steps))
    return {"line": splat(frames.ravel(), y.ravel(), x.ravel(), w.ravel(), n, grid.fine_shape)}


def puncta(
    rng: np.random.Generator, n: int, grid: Grid, per_um2: float = 0.6, sigma_log: float = 0.6
) -> Specimen:
    """Sub-resolution puncta/vesicles: uniform positions, lognormal brightness (median 1)."""
    frame, y, x = _uniform_positions(rng, _counts(rng, n, grid, per_um2), grid)
    return {"point": splat(frame, y, x, rng.lognormal(0.0, sigma_log, frame.size), n, grid.fine_shape)}


def vesicles(
    rng: np.random.Generator,
    n: int,
    grid: Grid,
    per_um2: float = 0.3,
    radius_nm: float = 120.0,
    sigma_log: float = 0.6,
) -> Specimen:
    """Vesicles near the resolution limit: rings (projected shells) of lognormal radius (median
    `radius_nm`, sigma 0.35) and lognormal brightness, as 24 points each; a small one acts as a punctum."""
    frame, cy, cx = _uniform_positions(rng, _counts(rng, n, grid, per_um2), grid)
    k, m = frame.size, 24
    radius = rng.lognormal(np.log(radius_nm / grid.fine_nm), 0.35, size=(k, 1))
    angle = 2 * math.pi * (np.arange(m)[None, :] + rng.random((k, 1))) / m
    w = np.repeat(rng.lognormal(0.0, sigma_log, size=(k, 1)) / m, m, axis=1)
    y, x = cy[:, None] + radius * np.sin(angle), cx[:, None] + radius * np.cos(angle)
    return {"point": splat(np.repeat(frame, m), y.ravel(), x.ravel(), w.ravel(), n, grid.fine_shape)}


def beads(rng: np.random.Generator, n: int, grid: Grid, per_um2: float = 0.05) -> Specimen:
    """Sub-resolution beads of equal brightness: point sources for resolution checks."""
    frame, y, x = _uniform_positions(rng, _counts(rng, n, grid, per_um2), grid)
    return {"point": splat(frame, y, x, np.ones(frame.size), n, grid.fine_shape)}


def _texture(rng: np.random.Generator, n: int, grid: Grid, corr_um: float = 0.4, contrast: float = 0.35):
    """Smooth chromatin-like texture, mean 1, from low-pass filtered white noise."""
    fy, fx = grid.fine_shape
    sy, sx = fft.next_fast_len(fy, real=True), fft.next_fast_len(fx, real=True)
    sigma = corr_um * 1000 / grid.fine_nm
    ky = fft.fftfreq(sy)[:, None]
    kx = fft.rfftfreq(sx)[None, :]
    lowpass = np.exp(-2 * (math.pi * sigma) ** 2 * (ky**2 + kx**2)).astype(np.float32)
    noise = rng.standard_normal((n, sy, sx), dtype=np.float32)
    field = fft.irfft2(fft.rfft2(noise) * lowpass, s=(sy, sx))[:, :fy, :fx]
    field /= field.std(axis=(-2, -1), keepdims=True) + 1e-12
    return np.clip(1 + contrast * field, 0.1, None).astype(np.float32)


def nuclei(
    rng: np.random.Generator,
    n: int,
    grid: Grid,
    per_um2: float = 0.008,
    radius_um: tuple[float, float] = (3.0, 7.0),
    edge_um: float = 0.25,
) -> Specimen:
    """Soft-edged ellipses (logistic edge `edge_um` wide) with textured interior; density ~1."""
    fy, fx = grid.fine_shape
    frame, cy, cx = _uniform_positions(rng, _counts(rng, n, grid, per_um2), grid)
    out = np.zeros((n, fy, fx), dtype=np.float32)
    scale = 1000 / grid.fine_nm
    for f, y0, x0 in zip(frame, cy, cx, strict=True):
        a = rng.uniform(*radius_um) * scale
        b = a * rng.uniform(0.6, 1.0)
        phi = rng.uniform(0, math.pi)
        brightness = rng.lognormal(0.0, 0.2)
        r = int(a + 4 * edge_um * scale) + 1
        ys = slice(max(int(y0) - r, 0), min(int(y0) + r + 1, fy))
        xs = slice(max(int(x0) - r, 0), min(int(x0) + r + 1, fx))
        yy, xx = np.mgrid[ys, xs]
        u = (xx - x0) * math.cos(phi) + (yy - y0) * math.sin(phi)
        v = -(xx - x0) * math.sin(phi) + (yy - y0) * math.cos(phi)
        rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        edge = 0.5 * (1 - np.tanh((rho - 1) * a / (2 * edge_um * scale)))
        out[f, ys, xs] = np.maximum(out[f, ys, xs], brightness * edge)
    has = np.unique(frame)
    if has.size:
        out[has] *= _texture(rng, has.size, grid)
    return {"area": out}


def mix(rng: np.random.Generator, n: int, grid: Grid) -> Specimen:
    """Random mixtures for training: each frame holds each structure type with some probability."""
    parts = (
        (filaments, {}, 0.7, 1.0),
        (puncta, {}, 0.7, 0.8),
        (nuclei, {"per_um2": 0.004}, 0.4, 0.3),
    )
    out: Specimen = {}
    for make, kwargs, prob, level in parts:
        chosen = np.flatnonzero(rng.random(n) < prob)
        for cls, density in make(rng, chosen.size, grid, **kwargs).items():
            full = out.setdefault(cls, np.zeros((n, *grid.fine_shape), dtype=np.float32))
            full[chosen] += density * np.float32(level)
    return out


SpecimenMaker = Callable[[np.random.Generator, int, Grid], Specimen]
SPECIMENS: dict[str, SpecimenMaker] = {
    "filaments": filaments,
    "puncta": puncta,
    "vesicles": vesicles,
    "nuclei": nuclei,
    "beads": beads,
    "mix": mix,
}


def make_specimen(kind: str | SpecimenMaker, rng: np.random.Generator, n: int, grid: Grid) -> Specimen:
    """`n` frames of specimen `kind` (a name, or your own maker with the same signature) on `grid`'s
    fine grid; UserError naming the choices if the name is unknown."""
    if callable(kind):
        return kind(rng, n, grid)
    try:
        make = SPECIMENS[kind]
    except KeyError:
        raise UserError(f"unknown specimen {kind!r}; choose one of {', '.join(SPECIMENS)}") from None
    return make(rng, n, grid)


def from_image(image: np.ndarray) -> SpecimenMaker:
    """A specimen maker that uses a 2D image (e.g. a real micrograph) as the area density.

    The image is taken at camera sampling: scaled so its 99.5th percentile above the minimum is 1
    (nominal brightness), resampled to the fine grid (cubic, clipped at 0) and mirrored into the margin.
    """
    img = np.asarray(image, dtype=np.float64)
    img = img - img.min()
    img /= max(float(np.percentile(img, 99.5)), 1e-12)

    def make(_rng: np.random.Generator, n: int, grid: Grid) -> Specimen:
        if img.shape != (grid.height, grid.width):
            raise UserError(
                f"specimen image is {img.shape[0]}x{img.shape[1]}, frames are {grid.height}x{grid.width}"
            )
        fine = np.clip(ndimage.zoom(img, grid.oversample, order=3), 0, None)
        pad = grid.margin * grid.oversample
        fine = np.pad(fine, pad, mode="reflect").astype(np.float32)
        return {"area": np.broadcast_to(fine, (n, *fine.shape)).copy()}

    return make
