"""Single-molecule localization in numpy/scipy: Gaussian MLE fit, Cramer-Rao bound, density-map peaks,
matching against the truth, Jaccard index and lateral RMSE.

Coordinates are camera pixels with pixel centres at integers (as in `fluorogate.sim.smlm`). Counts are
photo-electrons with Poisson statistics; a camera's Gaussian read noise is folded in as Huang et al.'s
(Nat. Methods 10:653, 2013) Poisson approximation: `read_noise_e**2` is added to both data and model.

- `fit_gaussian`: per-ROI maximum likelihood (Poisson) of an integrated Gaussian PSF of known sigma,
  parameters (y, x, photons, background/px), by Fisher scoring, all ROIs at once (Smith et al., Nat.
  Methods 7:373, 2010). The inverse Fisher information at the fit is each fit's own CRLB.
- `crlb_mortensen`: the closed-form bound of Mortensen et al. (Nat. Methods 7:377, 2010, eq. 5;
  excess noise factor 2 for an EMCCD), against which the empirical precision is checked (tests).
- `local_maxima`: the 3x3 peak rule shared with the hardware peak finder (`fluorogate.quantize.peaks`).
- `match` / `score`: optimal one-to-one assignment (Hungarian) within a radius, Jaccard = TP / (TP +
  FP + FN), lateral RMSE over the matched pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize, special

LOC_DTYPE = np.dtype(
    [("frame", np.int32), ("y_px", np.float64), ("x_px", np.float64), ("photons", np.float64)]
)
FIT_ITERATIONS = 20


def _profile(pix: np.ndarray, centre: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit Gaussian integrated over pixels `pix` (..., R) around `centre` (...,1) and its d/d centre."""
    hi, lo = pix - centre + 0.5, pix - centre - 0.5
    s2 = sigma * math.sqrt(2)
    value = (special.erf(hi / s2) - special.erf(lo / s2)) / 2
    deriv = (np.exp(-(lo**2) / (2 * sigma**2)) - np.exp(-(hi**2) / (2 * sigma**2))) / (
        math.sqrt(2 * math.pi) * sigma
    )
    return value, deriv


@dataclass
class Fit:
    """Per-ROI results: position relative to the ROI centre (px), photons, background per px, CRLB."""

    y: np.ndarray
    x: np.ndarray
    photons: np.ndarray
    background: np.ndarray
    crlb_y: np.ndarray  # variance (px^2) from the inverse Fisher information at the fit
    crlb_x: np.ndarray


def fit_gaussian(rois: np.ndarray, sigma: float, extra_var: float = 0.0) -> Fit:
    """Poisson MLE of `N * psf(y, x) + b` on square ROIs (K, R, R) of counts; ROI centre = pixel (R//2, R//2).

    `extra_var` (read noise^2 in counts) is added to data and model. Steps are clipped to 1 px and
    photons/background kept positive so a bad start cannot run away.
    """
    rois = np.asarray(rois, np.float64)
    r = rois.shape[1]
    if len(rois) == 0:
        return Fit(*(np.zeros(0) for _ in range(6)))
    pix = np.arange(r, dtype=np.float64) - r // 2
    data = np.clip(rois + extra_var, 0, None)
    border = np.concatenate([rois[:, 0], rois[:, -1], rois[:, 1:-1, 0], rois[:, 1:-1, -1]], axis=1)
    b = np.clip(np.median(border, axis=1), 0.1, None)
    excess = np.clip(rois - b[:, None, None], 0, None)
    total = np.clip(excess.sum(axis=(1, 2)), 1.0, None)
    theta = np.stack([(excess.sum(2) @ pix) / total, (excess.sum(1) @ pix) / total, total, b], axis=1)
    eye = np.eye(4) * 1e-9
    for _ in range(FIT_ITERATIONS):
        info, grad = _fisher(theta, pix, sigma, data, extra_var)
        step = np.linalg.solve(info + eye, grad[..., None])[..., 0]
        step[:, :2] = np.clip(step[:, :2], -1, 1)
        theta = theta + step
        theta[:, :2] = np.clip(theta[:, :2], -r / 2, r / 2)
        theta[:, 2:] = np.clip(theta[:, 2:], 1e-3, None)
    info, _ = _fisher(theta, pix, sigma, data, extra_var)
    cov = np.linalg.inv(info + eye)
    return Fit(theta[:, 0], theta[:, 1], theta[:, 2], theta[:, 3], cov[:, 0, 0], cov[:, 1, 1])


def _fisher(theta: np.ndarray, pix: np.ndarray, sigma: float, data: np.ndarray, extra_var: float):
    """Fisher information (K, 4, 4) and score (K, 4) of the Poisson likelihood at `theta`."""
    ey, dy = _profile(pix[None, :], theta[:, :1], sigma)
    ex, dx = _profile(pix[None, :], theta[:, 1:2], sigma)
    n = theta[:, 2, None, None]
    mu = n * ey[:, :, None] * ex[:, None, :] + theta[:, 3, None, None] + extra_var
    jac = np.stack(
        [
            n * dy[:, :, None] * ex[:, None, :],
            n * ey[:, :, None] * dx[:, None, :],
            ey[:, :, None] * ex[:, None, :],
            np.ones_like(mu),
        ],
        axis=1,
    ).reshape(len(theta), 4, -1)
    mu = mu.reshape(len(theta), -1)
    info = np.einsum("kip,kjp->kij", jac / mu[:, None], jac)
    grad = np.einsum("kip,kp->ki", jac, data.reshape(len(theta), -1) / mu - 1)
    return info, grad


def crlb_mortensen(photons, background, sigma: float, pixel: float = 1.0, excess: float = 1.0) -> np.ndarray:
    """Variance bound per axis for an MLE fit (Mortensen 2010, eq. 5), same length unit as `sigma`/`pixel`.

    var = sigma_a^2 / N * [1 + integral_0^1 ln t / (1 + t / tau) dt]^-1 * excess,
    sigma_a^2 = sigma^2 + a^2/12, tau = 2 pi sigma_a^2 b / (N a^2); b in counts per pixel; `excess` = 2
    for an EMCCD. The integral runs as t = exp(-s) on Gauss-Laguerre nodes (no log singularity).
    """
    n, b = np.asarray(photons, np.float64), np.asarray(background, np.float64)
    sa2 = sigma**2 + pixel**2 / 12
    tau = 2 * math.pi * sa2 * b / (n * pixel**2)
    s, w = np.polynomial.laguerre.laggauss(60)
    with np.errstate(divide="ignore"):
        integral = np.sum(w * -s / (1 + np.exp(-s) / np.expand_dims(tau, -1)), axis=-1)
    return sa2 / n / (1 + integral) * excess


def local_maxima(v: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean mask of 3x3 peaks above `threshold` of (..., H, W); outside the frame counts as -inf.

    Tie rule (so a plateau yields one peak, the first in raster order): strictly greater than the four
    neighbours that come earlier in raster order (up-left, up, up-right, left), greater or equal to the
    four later ones. The hardware peak finder uses exactly this rule.
    """
    v = np.asarray(v)
    pad = [(0, 0)] * (v.ndim - 2) + [(1, 1), (1, 1)]
    low = np.iinfo(v.dtype).min if np.issubdtype(v.dtype, np.integer) else -np.inf
    p = np.pad(v, pad, constant_values=low)
    h, w = v.shape[-2:]
    mask = v > threshold
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
        nb = p[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        earlier = dy < 0 or (dy == 0 and dx < 0)
        mask &= (v > nb) if earlier else (v >= nb)
    return mask


def window3_sums(v: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """At each True of `mask` (H, W): (rows, cols, sum, sum dy, sum dx) of the 3x3 window of `v` (zero
    outside)."""
    rows, cols = np.nonzero(mask)
    p = np.pad(v, 1)
    win = np.stack([p[rows + 1 + dy, cols + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=1)
    dy, dx = np.repeat([-1, 0, 1], 3), np.tile([-1, 0, 1], 3)
    return rows, cols, win.sum(1), win @ dy, win @ dx


def density_capture3(dy: np.ndarray, dx: np.ndarray, sigma_out: float) -> np.ndarray:
    """Fraction of an emitter's target (integrated Gaussian) inside the 3x3 window of its peak pixel, for
    its offsets (dy, dx) from that pixel (output px): 0.75 centred, 0.67 at half a pixel in both axes."""

    def axis(d):
        return sum(_profile(np.float64(k), np.asarray(d, np.float64), sigma_out)[0] for k in (-1, 0, 1))

    return axis(dy) * axis(dx)


def centroid_table(sigma_out: float, frac_bits: int) -> np.ndarray:
    """Offset (output px) of an emitter whose 3x3 centroid along one axis is q / 2**frac_bits, for
    q = -2**frac_bits .. 2**frac_bits: the inverse of c(d) = sum k g_k(d) / sum g_k(d), k = -1, 0, 1, g the
    integrated Gaussian of `sigma_out`. The raw centroid pulls towards the centre pixel (at sigma 1 a
    true 0.5 px offset reads as 0.25, 14 nm at 2x on 108 nm pixels); this table undoes it, clamped to
    +-1 px. A separable Gaussian's 3x3 centroid along an axis is this 1D one."""
    d = np.linspace(-1.5, 1.5, 3001)
    g, _ = _profile(np.array([-1.0, 0.0, 1.0])[None, :], d[:, None], sigma_out)
    c = (g[:, 2] - g[:, 0]) / g.sum(1)
    q = np.arange(-(2**frac_bits), 2**frac_bits + 1) / 2**frac_bits
    return np.clip(np.interp(q, c, d), -1, 1)


def localize_density(density: np.ndarray, threshold: float, scale: int, sigma_out: float) -> np.ndarray:
    """Localizations (LOC_DTYPE) from density maps (n, sH, sW) in photons per output pixel.

    3x3 peaks above `threshold` (the hardware rule), sub-pixel position from the 3x3 centroid through
    `centroid_table`, photons = 3x3 sum / `density_capture3` at that offset. Output pixel u maps back to
    camera pixel (u + 1/2) / scale - 1/2.
    """
    out = []
    c = np.linspace(-1, 1, 2**12 + 1)
    table = centroid_table(sigma_out, 11)
    for i, frame in enumerate(np.asarray(density, np.float64)):
        rows, cols, s, sy, sx = window3_sums(frame, local_maxima(frame, threshold))
        loc = np.zeros(len(rows), LOC_DTYPE)
        loc["frame"] = i
        dy, dx = np.interp(sy / s, c, table), np.interp(sx / s, c, table)
        loc["y_px"] = (rows + dy + 0.5) / scale - 0.5
        loc["x_px"] = (cols + dx + 0.5) / scale - 0.5
        loc["photons"] = s / density_capture3(dy, dx, sigma_out)
        out.append(loc)
    return np.concatenate(out) if out else np.zeros(0, LOC_DTYPE)


def localize_fit(
    counts: np.ndarray, sigma: float, threshold: float, read_noise: float = 0.0, radius: int = 3
) -> np.ndarray:
    """The classical pipeline on frames of counts (n, H, W), e.g. (ADU - offset) / (ADU per electron).

    Candidates: 3x3 peaks of a difference of Gaussians (sigma, 3 sigma) above `threshold` x its robust
    noise (1.4826 MAD); each is fit on a (2 radius + 1)^2 ROI (`fit_gaussian`, edge-padded); fits that
    leave their pixel by more than 1 px, or land within 0.5 px of a brighter fit, are dropped.
    """
    out = []
    for i, frame in enumerate(np.asarray(counts, np.float64)):
        dog = ndimage.gaussian_filter(frame, sigma) - ndimage.gaussian_filter(frame, 3 * sigma)
        noise = 1.4826 * np.median(np.abs(dog - np.median(dog))) + 1e-9
        rows, cols = np.nonzero(local_maxima(dog, threshold * noise))
        p = np.pad(frame, radius, mode="edge")
        size = 2 * radius + 1
        rois = (
            np.stack([p[r : r + size, c : c + size] for r, c in zip(rows, cols, strict=True)])
            if len(rows)
            else np.zeros((0, size, size))
        )
        fit = fit_gaussian(rois, sigma, read_noise**2)
        keep = (np.abs(fit.y) <= 1) & (np.abs(fit.x) <= 1)
        loc = np.zeros(int(keep.sum()), LOC_DTYPE)
        loc["frame"], loc["y_px"], loc["x_px"] = i, rows[keep] + fit.y[keep], cols[keep] + fit.x[keep]
        loc["photons"] = fit.photons[keep]
        out.append(_drop_duplicates(loc, 0.5))
    return np.concatenate(out) if out else np.zeros(0, LOC_DTYPE)


def _drop_duplicates(loc: np.ndarray, radius: float) -> np.ndarray:
    """Keep the brightest of fits closer than `radius` px (two candidates converged on one emitter)."""
    order = np.argsort(-loc["photons"])
    loc = loc[order]
    yx = np.stack([loc["y_px"], loc["x_px"]], axis=1)
    keep = np.ones(len(loc), bool)
    for j in range(len(loc)):
        if keep[j]:
            close = np.hypot(*(yx[j + 1 :] - yx[j]).T) < radius
            keep[j + 1 :] &= ~close
    return loc[keep]


def match(pred: np.ndarray, truth: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one pairs (indices into pred, truth) of (K, 2) and (M, 2) points within `radius`."""
    if len(pred) == 0 or len(truth) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    dist = np.hypot(pred[:, None, 0] - truth[None, :, 0], pred[:, None, 1] - truth[None, :, 1])
    cost = np.where(dist <= radius, dist, radius * 1e3)
    i, j = optimize.linear_sum_assignment(cost)
    ok = dist[i, j] <= radius
    return i[ok], j[ok]


def inside(loc: np.ndarray, shape: tuple[int, int], border: float) -> np.ndarray:
    """Rows of `loc` at least `border` px inside a frame of `shape` (pixel centres 0 .. H-1)."""
    lo, hy, hx = border - 0.5, shape[0] - 0.5 - border, shape[1] - 0.5 - border
    return loc[(loc["y_px"] >= lo) & (loc["y_px"] < hy) & (loc["x_px"] >= lo) & (loc["x_px"] < hx)]


def score(
    pred: np.ndarray,
    truth: np.ndarray,
    radius_px: float,
    pixel_nm: float,
    shape: tuple[int, int],
    border: float = 1.0,
) -> dict[str, float]:
    """Jaccard, lateral RMSE (nm) and counts of localizations `pred` (LOC_DTYPE) against the truth rows
    (`frame`, `y_px`, `x_px`, `photons`), matched frame by frame within `radius_px`.

    Both lists are cut to `border` px inside the frame first: an emitter just outside the frame (not in
    the truth) lights the edge and would otherwise count as a false positive.
    """
    pred, truth = inside(pred, shape, border), inside(truth, shape, border)
    tp = fp = fn = 0
    err, ratio = [], []
    for f in np.union1d(pred["frame"], truth["frame"]):
        p, t = pred[pred["frame"] == f], truth[truth["frame"] == f]
        py, ty = np.stack([p["y_px"], p["x_px"]], 1), np.stack([t["y_px"], t["x_px"]], 1)
        i, j = match(py, ty, radius_px)
        tp, fp, fn = tp + len(i), fp + len(p) - len(i), fn + len(t) - len(i)
        err.append(py[i] - ty[j])
        ratio.append(p["photons"][i] / t["photons"][j])
    d = np.concatenate(err) if err else np.zeros((0, 2))
    r = np.concatenate(ratio) if ratio else np.zeros(0)
    rmse = float(np.sqrt(np.mean(np.sum(d**2, 1)))) * pixel_nm if len(d) else float("nan")
    return {
        "jaccard": tp / max(tp + fp + fn, 1),
        "rmse_nm": rmse,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "photon_ratio": float(np.median(r)) if len(r) else float("nan"),
    }
