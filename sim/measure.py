"""Measurements on images that a microscopist makes on a real instrument: bead FWHM, spot fits.

Used by the physics tests and the simulator benchmark, so the simulator is checked with the same
tools one would point at real camera data.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special
from scipy.optimize import curve_fit


def half_max_width(profile: np.ndarray) -> float:
    """Full width at half maximum of a single peak, in samples (linear interpolation at both crossings)."""
    profile = np.asarray(profile, dtype=np.float64)
    i = int(np.argmax(profile))
    half = profile[i] / 2
    right = i + int(np.flatnonzero(profile[i:] < half)[0])
    left = i - int(np.flatnonzero(profile[: i + 1][::-1] < half)[0])
    x_right = right - 1 + (profile[right - 1] - half) / (profile[right - 1] - profile[right])
    x_left = left + (half - profile[left]) / (profile[left + 1] - profile[left])
    return float(x_right - x_left)


def pixel_gaussian(
    yx: tuple[np.ndarray, np.ndarray], amp: float, y0: float, x0: float, sigma: float, base: float
) -> np.ndarray:
    """A 2D Gaussian of total `amp` integrated over unit pixels centred on integer coordinates, plus
    `base`."""
    y, x = yx
    s = sigma * math.sqrt(2)
    ex = (special.erf((x + 0.5 - x0) / s) - special.erf((x - 0.5 - x0) / s)) / 2
    ey = (special.erf((y + 0.5 - y0) / s) - special.erf((y - 0.5 - y0) / s)) / 2
    return (amp * ex * ey + base).ravel()


def fit_spot(image: np.ndarray, y0: float, x0: float, origin: tuple[int, int] = (0, 0)) -> dict[str, float]:
    """Least-squares fit of `pixel_gaussian` to `image`; returns amp, y, x, sigma (pixels), base.

    `origin` is the image's top-left pixel in the frame, so positions come back in frame coordinates.
    """
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    yy, xx = yy + origin[0], xx + origin[1]
    p0 = [float(image.sum()), y0, x0, 1.0, 0.0]
    popt, _ = curve_fit(pixel_gaussian, (yy, xx), np.asarray(image, dtype=np.float64).ravel(), p0=p0)
    return dict(zip(("amp", "y", "x", "sigma", "base"), map(float, popt), strict=True))


def fit_cosine(image: np.ndarray, k: np.ndarray) -> tuple[float, float]:
    """Least-squares a + b cos + c sin at wave vector k (ky, kx; cycles per pixel): (modulation, phase).

    The SIM check: modulation sqrt(b^2 + c^2) / a and phase atan2(-c, b) of a pattern in an image.
    """
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    arg = 2 * np.pi * (k[0] * yy + k[1] * xx)
    design = np.stack([np.ones(image.size), np.cos(arg).ravel(), np.sin(arg).ravel()], axis=1)
    (a, b, c), *_ = np.linalg.lstsq(design, image.ravel(), rcond=None)
    return math.hypot(b, c) / a, math.atan2(-c, b)
