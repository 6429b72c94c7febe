"""Camera calibration from the user's own movie: temporal photon transfer without flat fields.

A camera's noise at a pixel of mean level m (ADU) is var = a (m - offset) + s^2, with a the conversion
gain (ADU/e-; x2 G for an EMCCD with EM gain G: excess noise 2) and s^2 = (read noise in ADU)^2 + 1/12.
A microscopy movie holds every level at once, but its specimen moves, bleaches and blinks, so the
variance is taken over time, locally, on what stayed still:

- **Second differences in time**, e_t = x_t - (x_{t-1} + x_{t+1}) / 2, per pixel: a still or linearly
  drifting (bleaching) pixel leaves only noise, var(e) = 1.5 var(x), and its level (the 3-frame mean)
  is uncorrelated with e. No per-pixel temporal mean is needed, so slow drift costs nothing.
- **Motion mask**: where the specimen moved, e is coherent over neighbouring pixels; its 5x5 box mean,
  which for noise alone has 1/25 of the noise variance, is tested against the first-pass noise model
  (4.5 sigma) and rejected with a 2-pixel margin. The samples kept are binned by level; no
  sigma clipping inside a bin: EM noise has a long tail, whose cumulants the fit needs.
- **Line fit** of var against level over the bins (weights N / var^2: a variance estimate scatters in
  proportion to itself), with bins near the ADC ceiling (or holding saturated codes) left out.

The line gives the gain and the intercept b = s^2 - a offset, which mixes offset and read noise. They
are separated by, in order of preference: dark frames (`dark`: mean = offset, temporal variance = s^2),
a given offset, or the **third cumulant**: shot noise is skewed and read noise is not, k3 = c (m - offset)
with c = a^2 (Poisson) or 1.5 a^2 (EM register: Gamma-compound Poisson), so the k3 line crosses zero at
the offset, whatever the background. The skewness route needs many samples (its precision is reported);
read noise that is small against the shot noise at the darkest level (an EMCCD with background) cannot be
measured from the movie alone, and the result says so (`read_noise_se_e`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import ndimage

from fluorogate.errors import UserError

MAX_SAMPLES = 6_000_000  # second-difference samples kept (frames subsampled beyond that)
LEVEL_WINDOW = 15  # frames averaged for a pixel's level
BOX = 5  # motion test window (pixels)
MOTION_SIGMAS = 4.5
MIN_BIN = 500  # samples per level bin
EM_RATIO = 1.25  # k3 slope / gain^2 above this: an EM register (1.5), below: Poisson (1.0)
EM_MIN_GAIN = 4.0  # ADU/e-: 2 G g of any EMCCD in use is above, a CCD or sCMOS gain below


@dataclass
class TemporalPTC:
    """The fit and the data behind it (per level bin: mean level, variance, third cumulant, samples)."""

    gain_adu_per_e: float  # slope a of variance against level (x 2 G on an EMCCD)
    offset_adu: float
    read_noise_adu: float
    offset_source: Literal["dark", "given", "skewness"]
    em: bool
    k3_ratio: float  # k3 slope / a^2: 1 for Poisson shot noise, 1.5 through an EM register
    gain_se: float
    offset_se: float
    read_noise_se_adu: float
    r2: float  # of the variance line, weighted
    still_fraction: float  # of the second-difference samples kept by the motion mask
    saturated_codes: int  # pixels at the ADC ceiling (dtype max) in the movie
    frames: int
    levels: list[float] = field(default_factory=list)
    variances: list[float] = field(default_factory=list)
    k3: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    used: list[bool] = field(default_factory=list)

    @property
    def read_noise_e(self) -> float:
        return self.read_noise_adu / self.gain_adu_per_e

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not isinstance(v, list)} | {
            "read_noise_e": self.read_noise_e
        }


def second_differences(frames: np.ndarray, max_samples: int = MAX_SAMPLES) -> tuple[np.ndarray, ...]:
    """(e, level, sort_level), each (k, H, W) float64, from (n >= 3, H, W) frames (a large movie: its first
    frames, then its central part, up to `max_samples` values).

    `level` is the 3-frame mean (t-1, t, t+1): uncorrelated with e (equal weights). `sort_level`, which
    the bins are made by, is the pixel's mean over up to `LEVEL_WINDOW` frames around t *without* those
    three, so its noise is independent of both e and `level`: binning by a level that carries the same
    noise as the one reported regresses to the mean at low light, where the spread of levels is mostly
    noise, and dilutes the slope (measured: gain 13-47 % low at 10 photons with a shared window). With an
    independent sort key each bin's mean `level` is an unbiased mean of its pixels' true levels."""
    n, h, w = frames.shape
    if (
        n > 9 and (n - 2) * h * w > max_samples
    ):  # the first frames, all of them (the motion test needs t +- 3)
        n = max(9, max_samples // (h * w) + 2)
        frames = frames[:n]
    if (n - 2) * h * w > max_samples:  # still too large: the central part of the field
        side = max(32, int(math.sqrt(max_samples / (n - 2))))
        y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
        frames = frames[:, y0 : y0 + side, x0 : x0 + side]
        n, h, w = frames.shape
    mid = np.arange(1, n - 1)
    x = frames.astype(np.float64)
    e = x[mid] - 0.5 * (x[mid - 1] + x[mid + 1])
    three = x[mid - 1] + x[mid] + x[mid + 1]
    level = three / 3.0
    win = min(LEVEL_WINDOW, n)
    if win <= 3:
        return e, level, level
    lo = np.clip(mid - win // 2, 0, n - win)  # a full window of frames holding t-1..t+1
    csum = np.concatenate([np.zeros((1, h, w)), np.cumsum(x, axis=0)])
    window = csum[lo + win] - csum[lo]
    return e, level, (window - three) / (win - 3)


def _box(a: np.ndarray) -> np.ndarray:
    return ndimage.uniform_filter(a, size=(1, BOX, BOX), mode="reflect")


def still_mask(e: np.ndarray, predicted_var_e: np.ndarray) -> np.ndarray:
    """True where e looks like noise alone over each 5x5 window, rejected with a 2-pixel margin:

    - its box mean (a change of one sign: bleaching, a blink) within MOTION_SIGMAS of zero, and
    - its box mean square (a change of both signs: a moving texture, whose second difference oscillates
      and averages out) within MOTION_SIGMAS of the predicted variance, *taken 3 frames before and after*
      (e_{t-3}, e_{t+3} share no frame with e_t): rejecting windows by their own mean square would
      select against the noise being measured (measured: gain 3-13 % low). Motion lasts frames."""
    pv = np.maximum(_box(predicted_var_e), 1e-12)
    z_mean = np.abs(_box(e)) / np.sqrt(pv / BOX**2)
    # mean of e^2 over the window: 1 +- sqrt(2 / 25) in units of the predicted variance for Gaussian noise
    busy = (_box(e**2) / pv - 1) / math.sqrt(2 / BOX**2) > MOTION_SIGMAS
    k = len(e)
    if k > 3:
        busy_indep = np.zeros_like(busy)
        busy_indep[3:] |= busy[:-3]
        busy_indep[:-3] |= busy[3:]
    else:  # too short to look elsewhere: its own windows, at twice the threshold
        busy_indep = (_box(e**2) / pv - 1) / math.sqrt(2 / BOX**2) > 2 * MOTION_SIGMAS
    moved = ndimage.binary_dilation((z_mean > MOTION_SIGMAS) | busy_indep, structure=np.ones((1, 5, 5), bool))
    return ~moved


def binned_moments(
    e: np.ndarray, level: np.ndarray, sort_level: np.ndarray | None = None, n_bins: int = 40
) -> tuple[np.ndarray, ...]:
    """Per bin of `sort_level` (quantile and level-spaced edges, >= MIN_BIN samples): mean `level`, var(x),
    k3(x), count.

    var(x) = var(e) / 1.5 and k3(x) = k3(e) / 0.75 for a second difference of independent frames."""
    key = level if sort_level is None else sort_level
    order = np.argsort(key, kind="stable")
    level, e, key = level[order], e[order], key[order]
    n = len(e)
    # half the edges at quantiles (the many dim pixels), half evenly in level (the few bright ones, which
    # carry the slope), then bins of fewer than MIN_BIN samples merged into the next
    half = max(1, n_bins // 2)
    cuts = np.concatenate(
        [
            np.linspace(0, n, half + 1).astype(int),
            np.searchsorted(key, np.linspace(key[0], key[-1], half + 1)[1:-1]),
        ]
    )
    edges = [0]
    for c in np.unique(cuts)[1:]:
        if c - edges[-1] >= MIN_BIN:
            edges.append(int(c))
    if n - edges[-1] < MIN_BIN and len(edges) > 1:
        edges.pop()
    edges.append(n)
    out = []
    for lo, hi in itertools.pairwise(edges):
        sample = e[lo:hi]
        c = sample - sample.mean()
        out.append((level[lo:hi].mean(), np.mean(c**2) / 1.5, np.mean(c**3) / 0.75, len(sample)))
    return tuple(np.array(col) for col in zip(*out, strict=True))


def _wls_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, np.ndarray, float]:
    """Weighted least squares y = p0 x + p1: (slope, intercept, covariance, weighted R^2)."""
    a = np.stack([x, np.ones_like(x)], axis=1)
    aw = a * w[:, None]
    cov = np.linalg.pinv(a.T @ aw)
    p = cov @ (aw.T @ y)
    resid = y - a @ p
    dof = max(len(x) - 2, 1)
    chi2 = float(np.sum(w * resid**2))
    ybar = np.sum(w * y) / np.sum(w)
    r2 = 1 - chi2 / max(float(np.sum(w * (y - ybar) ** 2)), 1e-300)
    return float(p[0]), float(p[1]), cov * max(chi2 / dof, 1.0), r2


def fit_variance(levels, variances, counts, used) -> tuple[float, float, np.ndarray, float]:
    """The photon-transfer line over the bins in `used`, weights N / var^2."""
    w = counts / np.maximum(variances, 1e-12) ** 2
    return _wls_line(levels[used], variances[used], w[used])


def temporal_ptc(
    frames: np.ndarray,
    dark: np.ndarray | None = None,
    offset: float | None = None,
    em: bool | None = None,
    adc_max: int | None = None,
) -> TemporalPTC:
    """Calibrate from `frames` (n >= 3, H, W) integer ADU; see the module docstring."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[0] < 3:
        raise UserError(
            f"calibration needs a movie of at least 3 frames (frames, H, W), got shape {frames.shape}"
        )
    if not np.issubdtype(frames.dtype, np.integer):
        raise UserError(f"calibration needs raw integer camera ADU, got dtype {frames.dtype}")
    adc_max = int(np.iinfo(frames.dtype).max) if adc_max is None else adc_max
    saturated = int(np.count_nonzero(frames >= adc_max))
    e, level, sort_level = second_differences(frames)
    keep = np.ones(e.shape, bool)
    for _ in range(3):  # the noise model from the samples kept so far predicts what stillness looks like
        lv, var, k3, cnt = binned_moments(e[keep], level[keep], sort_level[keep])
        a0, b0, _, _ = fit_variance(lv, var, cnt, np.ones(len(lv), bool))
        keep = still_mask(e, np.maximum(a0 * level + b0, 0.1) * 1.5)
    still_fraction = float(keep.mean())
    if saturated:
        keep &= ~(frames[1:-1] >= adc_max).any(axis=0)[None]
    if keep.sum() < 4 * MIN_BIN:
        raise UserError(
            f"only {int(keep.sum())} still pixel samples: the specimen moves everywhere, or the movie "
            "is too small for a photon-transfer fit"
        )
    lv, var, k3, cnt = binned_moments(e[keep], level[keep], sort_level[keep])
    used = np.ones(len(lv), bool)
    if adc_max is not None:  # the noise of a level within 5 sigma of the ceiling is clipped
        used &= lv + 5 * np.sqrt(np.maximum(var, 0)) < adc_max
    a, b, cov, r2 = 0.0, 0.0, np.zeros((2, 2)), 0.0
    for _ in range(3):  # drop bins far off the line (nonlinearity, residual motion), refit
        a, b, cov, r2 = fit_variance(lv, var, cnt, used)
        sd = var * math.sqrt(2) / np.sqrt(cnt)
        used &= np.abs(var - (a * lv + b)) < 5 * sd + 0.02 * var
        if used.sum() < 3:
            raise UserError("the photon-transfer line does not fit: fewer than 3 consistent level bins")
    gain_se = math.sqrt(cov[0, 0])
    # k3 line: free slope first (is it an EM register?), then offset at the model's slope
    w3 = cnt / np.maximum(var, 1e-12) ** 3 / 6.0
    c, _, _, _ = _wls_line(lv[used], k3[used], w3[used])
    ratio = c / a**2 if a > 0 else float("nan")
    em = bool(ratio > EM_RATIO and a > EM_MIN_GAIN) if em is None else em
    slope3 = (1.5 if em else 1.0) * a**2
    if dark is not None:
        dk = np.asarray(dark, dtype=np.float64)
        if dk.ndim != 3 or dk.shape[0] < 2:
            raise UserError(f"dark frames: need a (frames >= 2, H, W) stack, got shape {dk.shape}")
        off = float(dk.mean())
        s2 = float(np.mean(dk.var(axis=0, ddof=1)))
        off_se = math.sqrt(s2 / dk.size)
        s2_se = s2 * math.sqrt(2 / (dk.shape[1] * dk.shape[2] * (dk.shape[0] - 1)))
        source = "dark"
    else:
        if offset is not None:
            off, off_se, source = float(offset), 0.0, "given"
        else:
            # k3_j = slope3 (m_j - o): o_j = m_j - k3_j / slope3, weighted by 1 / var(o_j)
            oj = lv[used] - k3[used] / slope3
            wj = w3[used] * slope3**2
            off = float(np.sum(wj * oj) / np.sum(wj))
            off_se = float(1 / math.sqrt(np.sum(wj)))
            source = "skewness"
        s2 = b + a * off
        # s2 = b + a o: its error from b and a (correlated) and from the offset
        s2_se = math.sqrt(max(cov[1, 1] + off**2 * cov[0, 0] + 2 * off * cov[0, 1], 0) + (a * off_se) ** 2)
    rn2 = max(s2 - 1 / 12, 0.0)
    rn = math.sqrt(rn2)
    rn_se = s2_se / (2 * rn) if rn > 0 else float("inf")
    return TemporalPTC(
        gain_adu_per_e=a,
        offset_adu=off,
        read_noise_adu=rn,
        offset_source=source,
        em=em,
        k3_ratio=float(ratio),
        gain_se=gain_se,
        offset_se=off_se,
        read_noise_se_adu=rn_se,
        r2=r2,
        still_fraction=still_fraction,
        saturated_codes=saturated,
        frames=int(frames.shape[0]),
        levels=lv.tolist(),
        variances=var.tolist(),
        k3=k3.tolist(),
        counts=cnt.astype(int).tolist(),
        used=used.tolist(),
    )


def plot_ptc(path, fit: TemporalPTC, title: str = "") -> None:
    """The fit as a PNG: variance and third cumulant against level, with the model lines and residuals."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    lv, var, k3 = np.array(fit.levels), np.array(fit.variances), np.array(fit.k3)
    used = np.array(fit.used, bool)
    x = np.linspace(min(fit.offset_adu, lv.min()), lv.max(), 200)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    ax.plot(lv[used], var[used], "o", ms=4, label="level bins (fitted)")
    if (~used).any():
        ax.plot(lv[~used], var[~used], "x", color="tab:red", label="left out")
    s2 = fit.read_noise_adu**2 + 1 / 12
    ax.plot(
        x,
        fit.gain_adu_per_e * (x - fit.offset_adu) + s2,
        "-",
        color="k",
        label=f"gain {fit.gain_adu_per_e:.4g} ADU/e-, R^2 {fit.r2:.4f}",
    )
    ax.axvline(
        fit.offset_adu, ls=":", color="grey", label=f"offset {fit.offset_adu:.2f} ADU ({fit.offset_source})"
    )
    ax.set_xlabel("mean level (ADU)")
    ax.set_ylabel("temporal variance (ADU$^2$)")
    ax.set_title("photon transfer (still pixels)")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(lv[used], k3[used], "o", ms=4)
    k = (1.5 if fit.em else 1.0) * fit.gain_adu_per_e**2
    ax.plot(
        x, k * (x - fit.offset_adu), "-", color="k", label=f"k3 = {1.5 if fit.em else 1}·gain²·(m - offset)"
    )
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("mean level (ADU)")
    ax.set_ylabel("third cumulant (ADU$^3$)")
    ax.set_title(f"skewness: k3 slope / gain² = {fit.k3_ratio:.2f} ({'EM' if fit.em else 'Poisson'})")
    ax.legend(fontsize=7)
    ax = axes[2]
    model = fit.gain_adu_per_e * (lv - fit.offset_adu) + s2
    ax.plot(lv, (var - model) / model * 100, "o", ms=4)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("mean level (ADU)")
    ax.set_ylabel("residual (% of the model variance)")
    ax.set_title(f"read noise {fit.read_noise_e:.3g} e- ({fit.read_noise_adu:.3g} ADU)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_movie(path: str | Path, what: str = "movie"):
    """(frames (n, H, W) as stored, pixel size at the sample or None); UserError unless integer ADU."""
    import numpy as np

    from fluorogate.errors import UserError
    from fluorogate.imageio import read_tiff

    image = read_tiff(path)
    data = np.squeeze(image.data)
    if data.ndim < 2 or min(data.shape[-2:]) < 8:
        raise UserError(
            f"{path}: expected a {what} (frames, H, W) of at least 8x8 pixels, got shape {image.data.shape}"
        )
    if not np.issubdtype(data.dtype, np.integer):
        raise UserError(
            f"{path}: expected raw integer camera ADU (uint8/uint16), got dtype {data.dtype}; "
            "calibrate the frames as the camera wrote them, before any scaling"
        )
    return data.reshape(-1, *data.shape[-2:]), image.pixel_size_um


def movie_statistics(frames) -> dict:
    """What matched training needs of the movie beside the camera: its brightest pixel (the input shift
    that clips none of it), its median (the background level) and its 99.99th percentile (the signal's
    top, for the photon range), in ADU."""
    import numpy as np

    return {
        "max_adu": int(frames.max()),
        "median_adu": float(np.median(frames)),
        "p9999_adu": float(np.percentile(frames, 99.99)),
    }
