"""SMLM movies (STORM/PALM-like): sparse blinking emitters with every emitter's position and photons.

Emitters sit on a structure (filaments) or at random, at fixed sub-pixel positions. Each follows a
two-state Markov chain per frame (off -> on with `p_on`, on -> off with `p_off`, started from its
stationary distribution); an on emitter sends a lognormal number of photons (mean `photons_mean`) in
that frame. Frames are imaged like any other: point masses on the fine grid, PSF, pixel
integration, background, sensor. The ground truth (`localizations`) is what a Deep-STORM net is
trained to recover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import erf

from fluorogate.errors import UserError
from fluorogate.sim.camera import CameraPreset
from fluorogate.sim.optics import Grid, Optics, blur, psf_kernel
from fluorogate.sim.pairs import chunks, setup_grid
from fluorogate.sim.sensor import expected_adu, expose, hot_pixel_map
from fluorogate.sim.specimen import filaments, splat

LOCALIZATION_DTYPE = np.dtype(
    [
        ("frame", np.int32),
        ("emitter", np.int32),
        ("y_px", np.float64),
        ("x_px", np.float64),
        ("photons", np.float32),
    ]
)


class SMLMConfig(BaseModel):
    """Labelling density, blinking kinetics and brightness."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    emitters_per_um2: float = Field(default=3.0, gt=0, description="labels per um^2 (random) or on filaments")
    photons_mean: float = Field(default=1500.0, gt=0, description="mean photons of an on emitter per frame")
    photons_sigma_log: float = Field(default=0.5, ge=0)
    p_on: float = Field(default=0.005, gt=0, le=1, description="off -> on probability per frame")
    p_off: float = Field(default=0.5, gt=0, le=1, description="on -> off probability per frame")
    structure: Literal["filaments", "random"] = "filaments"


@dataclass
class SMLMMovie:
    """Frames and their truth. Positions are camera pixel coordinates (pixel centres at integers)."""

    adu: np.ndarray  # (T, H, W) uint16
    expected_adu: np.ndarray  # (T, H, W) float32
    emitters_px: np.ndarray  # (E, 2) (y, x) of every emitter, on or not
    localizations: np.ndarray  # LOCALIZATION_DTYPE, one row per emitter per frame it is on
    pixel_nm: float


def _place(rng: np.random.Generator, grid: Grid, cfg: SMLMConfig) -> np.ndarray:
    """Emitter positions on the fine grid (E, 2), margin included."""
    fy, fx = grid.fine_shape
    area_um2 = fy * fx * (grid.fine_nm / 1000) ** 2
    count = rng.poisson(cfg.emitters_per_um2 * area_um2)
    if cfg.structure == "random":
        return np.stack([rng.uniform(0, fy - 1, count), rng.uniform(0, fx - 1, count)], axis=1)
    density = filaments(rng, 1, grid)["line"][0].ravel().astype(np.float64)
    if density.sum() == 0:
        return np.zeros((0, 2))
    pick = rng.choice(density.size, size=count, p=density / density.sum())
    jitter = rng.uniform(-0.5, 0.5, size=(count, 2))
    return np.stack(np.unravel_index(pick, (fy, fx)), axis=1) + jitter


def smlm_movie(
    frames: int,
    size: int | tuple[int, int],
    background: float = 20.0,
    preset: str | CameraPreset = "scmos",
    seed: int = 0,
    config: SMLMConfig | None = None,
    optics: Optics | None = None,
    oversample: int = 4,
) -> SMLMMovie:
    """`frames` frames of blinking emitters; `background` in photons per pixel."""
    cfg = config or SMLMConfig()
    preset, optics, grid = setup_grid(size, 0.0, background, preset, optics, oversample)
    rng = np.random.default_rng(seed)
    pos = _place(rng, grid, cfg)
    n_em = len(pos)
    on = rng.random(n_em) < cfg.p_on / (cfg.p_on + cfg.p_off)
    states = np.empty((frames, n_em), dtype=bool)
    for t in range(frames):
        states[t] = on
        flip = rng.random(n_em)
        on = np.where(on, flip >= cfg.p_off, flip < cfg.p_on)
    t_idx, e_idx = np.nonzero(states)
    mu = np.log(cfg.photons_mean) - cfg.photons_sigma_log**2 / 2
    photons = rng.lognormal(mu, cfg.photons_sigma_log, t_idx.size)
    kernel = psf_kernel(optics, grid.fine_nm)
    cam = np.empty((frames, grid.height, grid.width), dtype=np.float32)
    for start, m in chunks(frames, grid):
        sel = (t_idx >= start) & (t_idx < start + m)
        fine = splat(
            t_idx[sel] - start, pos[e_idx[sel], 0], pos[e_idx[sel], 1], photons[sel], m, grid.fine_shape
        )
        cam[start : start + m] = grid.bin(blur(fine, kernel)) + np.float32(background)
    hot = hot_pixel_map(cam.shape[1:], preset, rng)
    em_cam = grid.fine_to_camera(pos)
    inside = ((em_cam > -0.5) & (em_cam < np.array([grid.height, grid.width]) - 0.5)).all(axis=1)
    keep = inside[e_idx]
    locs = np.zeros(int(keep.sum()), dtype=LOCALIZATION_DTYPE)
    locs["frame"], locs["emitter"] = t_idx[keep], e_idx[keep]
    locs["y_px"], locs["x_px"] = em_cam[e_idx[keep], 0], em_cam[e_idx[keep], 1]
    locs["photons"] = photons[keep]
    return SMLMMovie(expose(cam, preset, rng, hot), expected_adu(cam, preset), em_cam, locs, grid.pixel_nm)


@dataclass
class SMLMFrames:
    """Independent single-molecule frames (Deep-STORM training and test pairs) and their truth."""

    adu: np.ndarray  # (n, H, W) uint16
    density_adu: np.ndarray  # (n, scale*H, scale*W) float32: camera offset + gain x photons per output px
    localizations: np.ndarray  # LOCALIZATION_DTYPE, emitters inside the frame (`frame` = index in the batch)
    pixel_nm: float
    scale: int
    sigma_out: float


def render_density(
    frame: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    photons: np.ndarray,
    shape: tuple[int, int, int],
    scale: int,
    sigma_out: float,
) -> np.ndarray:
    """Deep-STORM target: each emitter a unit Gaussian (`sigma_out` output px) integrated over the output
    pixels, times its photons, on a grid `scale`x finer than the camera (y, x in camera px, centres at
    integers: output coordinate = scale (y + 1/2) - 1/2). Returns photons per output pixel (n, sH, sW);
    an emitter's pixels sum to its photons (less what falls off the frame)."""
    n, h, w = shape
    out = np.zeros((n, h * scale, w * scale), dtype=np.float64)
    radius = int(np.ceil(4 * sigma_out))
    offs = np.arange(-radius, radius + 1)
    u, v = scale * (np.asarray(y) + 0.5) - 0.5, scale * (np.asarray(x) + 0.5) - 0.5
    iu, iv = np.rint(u).astype(np.int64), np.rint(v).astype(np.int64)
    rows, cols = iu[:, None] + offs, iv[:, None] + offs  # (E, 2r+1)

    def profile(pix: np.ndarray, centre: np.ndarray) -> np.ndarray:
        edges = (pix[..., None] + np.array([-0.5, 0.5]) - centre[:, None, None]) / (sigma_out * np.sqrt(2))
        return np.diff(erf(edges), axis=-1)[..., 0] / 2

    wy, wx = profile(rows, u), profile(cols, v)
    weight = np.asarray(photons, np.float64)[:, None, None] * wy[:, :, None] * wx[:, None, :]
    rr, cc = np.broadcast_arrays(rows[:, :, None], cols[:, None, :])
    ff = np.broadcast_to(np.asarray(frame)[:, None, None], rr.shape)
    ok = (rr >= 0) & (rr < h * scale) & (cc >= 0) & (cc < w * scale)
    np.add.at(out, (ff[ok], rr[ok], cc[ok]), weight[ok])
    return out.astype(np.float32)


def smlm_frames(
    n: int,
    size: int | tuple[int, int],
    photons_mean: float,
    emitters_per_um2: float | np.ndarray,
    background: float | np.ndarray = 20.0,
    preset: str | CameraPreset = "scmos",
    seed: int = 0,
    photons_sigma_log: float = 0.5,
    scale: int = 2,
    sigma_out: float = 1.0,
    optics: Optics | None = None,
    oversample: int = 4,
) -> SMLMFrames:
    """`n` independent frames, each of fresh emitters that are all on (uniform positions, Poisson count).

    `emitters_per_um2` and `background` (photons/px) are scalars or one value per frame. Emitters in the
    margin light the frame's edge and are drawn into the target, but only those inside are listed.
    The target's scale (photons per output pixel, times the camera's ADU per photon, plus its offset)
    keeps photons conserved, and with `sigma_out` = 1 an emitter's target peak (0.147 x its photons)
    stays below its brightest camera pixel (~0.26 x for the default PSF): the input's conversion to
    codes covers the target too, so an output quantizer on the input's grid never saturates first.
    """
    preset, optics, grid = setup_grid(size, 0.0, 0.0, preset, optics, oversample)
    if n < 1:
        raise UserError(f"need at least one frame, got n={n}")
    rng = np.random.default_rng(seed)
    density = np.broadcast_to(np.asarray(emitters_per_um2, np.float64), (n,))
    bg = np.broadcast_to(np.asarray(background, np.float64), (n,)).astype(np.float32)
    fy, fx = grid.fine_shape
    counts = rng.poisson(density * fy * fx * (grid.fine_nm / 1000) ** 2)
    t_idx = np.repeat(np.arange(n), counts)
    pos = np.stack([rng.uniform(0, fy - 1, t_idx.size), rng.uniform(0, fx - 1, t_idx.size)], axis=1)
    mu = np.log(photons_mean) - photons_sigma_log**2 / 2
    photons = rng.lognormal(mu, photons_sigma_log, t_idx.size)
    kernel = psf_kernel(optics, grid.fine_nm)
    cam = np.empty((n, grid.height, grid.width), dtype=np.float32)
    for start, m in chunks(n, grid):
        sel = (t_idx >= start) & (t_idx < start + m)
        fine = splat(t_idx[sel] - start, pos[sel, 0], pos[sel, 1], photons[sel], m, grid.fine_shape)
        cam[start : start + m] = grid.bin(blur(fine, kernel)) + bg[start : start + m, None, None]
    hot = hot_pixel_map(cam.shape[1:], preset, rng)
    em = grid.fine_to_camera(pos)
    shape = (n, grid.height, grid.width)
    dens = render_density(t_idx, em[:, 0], em[:, 1], photons, shape, scale, sigma_out)
    gain = np.float32(preset.qe * preset.em_gain * preset.gain_adu_per_e)
    inside = ((em > -0.5) & (em < np.array([grid.height, grid.width]) - 0.5)).all(axis=1)
    locs = np.zeros(int(inside.sum()), dtype=LOCALIZATION_DTYPE)
    locs["frame"], locs["emitter"] = t_idx[inside], np.nonzero(inside)[0]
    locs["y_px"], locs["x_px"], locs["photons"] = em[inside, 0], em[inside, 1], photons[inside]
    return SMLMFrames(
        expose(cam, preset, rng, hot),
        dens * gain + np.float32(preset.offset_adu),
        locs,
        grid.pixel_nm,
        scale,
        sigma_out,
    )
