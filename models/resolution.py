"""Resolution metrics that need no reference image's judgement: bead FWHM and Fourier ring correlation.

- Bead FWHM: isolated beads are found in the noise-free truth (the simulator knows where they are),
  then each restored image is fitted there with an isotropic 2D Gaussian plus a constant; the median
  FWHM over beads is reported. A sub-resolution bead's image IS the system's PSF, so this is the
  resolution a user would measure on a bead slide.
- FRC (Nieuwenhuizen et al., Nat. Methods 10:557, 2013): two images of the same specimen from
  independent noise, correlated ring by ring in Fourier space; the resolution is 1 / the first
  frequency where the curve drops below 1/7. Both images are Hann-windowed first, so the frame edges'
  wrap-around does not correlate. Where the curve never drops below 1/7 the result is the Nyquist
  limit (2 pixels): the resolution is at least that good, and `frc_resolution` says so with `limited`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import optimize

FRC_THRESHOLD = 1 / 7
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


def find_beads(truth: np.ndarray, radius: int, rel_threshold: float = 0.3) -> np.ndarray:
    """(y, x) integer peaks of `truth` above `rel_threshold` of its range, with no other peak within
    2 `radius` pixels and at least `radius` pixels from the edge: beads that can be fitted alone."""
    from skimage.feature import peak_local_max

    lo = float(np.median(truth))
    peaks = peak_local_max(truth, min_distance=1, threshold_abs=lo + rel_threshold * (truth.max() - lo))
    h, w = truth.shape
    keep = []
    for p in peaks:
        alone = np.sum(np.hypot(*(peaks - p).T) < 2 * radius) == 1  # itself only
        inside = radius <= p[0] < h - radius and radius <= p[1] < w - radius
        if alone and inside:
            keep.append(p)
    return np.array(keep, dtype=int).reshape(-1, 2)


def _gauss(coords, amp, y0, x0, sigma, base):
    y, x = coords
    return base + amp * np.exp(-((y - y0) ** 2 + (x - x0) ** 2) / (2 * sigma**2))


def fit_fwhm(image: np.ndarray, peak: np.ndarray, radius: int) -> float:
    """FWHM in pixels of the isotropic Gaussian fitted to `image` in the window around `peak`; nan if
    the fit fails or wanders off the window."""
    y0, x0 = peak
    win = image[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1].astype(np.float64)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    start = (float(win.max() - win.min()), 0.0, 0.0, radius / 3, float(win.min()))
    try:
        with warnings.catch_warnings():  # a noise-free bead fits exactly: no covariance, no matter
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            p, _ = optimize.curve_fit(_gauss, (yy.ravel(), xx.ravel()), win.ravel(), p0=start, maxfev=2000)
    except RuntimeError:
        return math.nan
    amp, dy, dx, sigma = p[:4]
    if amp <= 0 or math.hypot(dy, dx) > radius / 2 or not 0 < abs(sigma) < radius:
        return math.nan
    return abs(sigma) * FWHM_PER_SIGMA


def bead_fwhm(images: list[np.ndarray], truths: list[np.ndarray], radius: int) -> tuple[float, int]:
    """Median FWHM (pixels) over the isolated beads of all frames, and how many beads were fitted."""
    fwhm = [
        fit_fwhm(img, p, radius) for img, t in zip(images, truths, strict=True) for p in find_beads(t, radius)
    ]
    good = [f for f in fwhm if not math.isnan(f)]
    return (float(np.median(good)) if good else math.nan), len(good)


def frc(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two equally sized images: (ring frequency in cycles per pixel, FRC)."""
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    fa = np.fft.fft2((a - a.mean()) * window)
    fb = np.fft.fft2((b - b.mean()) * window)
    r = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]) * min(h, w)
    ring = np.round(r).astype(int).ravel()
    n = min(h, w) // 2
    cross = np.bincount(ring, (fa * fb.conj()).real.ravel(), minlength=n + 1)[: n + 1]
    pa = np.bincount(ring, (np.abs(fa) ** 2).ravel(), minlength=n + 1)[: n + 1]
    pb = np.bincount(ring, (np.abs(fb) ** 2).ravel(), minlength=n + 1)[: n + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = cross / np.sqrt(pa * pb)
    return np.arange(n + 1) / min(h, w), curve


def frc_resolution(a: np.ndarray, b: np.ndarray) -> tuple[float, bool]:
    """(resolution in pixels, limited): 1 / the first frequency where the FRC (3-ring moving average)
    falls below 1/7, interpolated linearly; `limited` when it never does (then 2 pixels, Nyquist)."""
    freq, curve = frc(a, b)
    smooth = np.convolve(np.nan_to_num(curve[1:]), np.ones(3) / 3, mode="same")
    below = np.nonzero(smooth < FRC_THRESHOLD)[0]
    if below.size == 0:
        return 2.0, True
    i = int(below[0])
    f = freq[1:]
    if i == 0:
        return 1 / f[0], False
    t = (smooth[i - 1] - FRC_THRESHOLD) / (smooth[i - 1] - smooth[i])
    return 1 / (f[i - 1] + t * (f[i] - f[i - 1])), False
