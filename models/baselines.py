"""Classical restorations to measure the networks against, each with its parameter chosen by oracle.

Every baseline works on offset-subtracted ADU (float64) and returns the same. "Best" means the
parameter (Gaussian sigma, median size, Richardson-Lucy iterations) that maximises the mean PSNR
against the truth over the frames of one test condition: an upper bound for what a user tuning by
eye would get, so a network that beats it beats the baseline honestly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from fluorogate.models.metrics import psnr

GAUSS_SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
MEDIAN_SIZES = (3, 5)
RL_ITERATIONS = (3, 6, 12, 25)


def gaussian_psf(sigma_px: float) -> np.ndarray:
    radius = max(1, int(np.ceil(4 * sigma_px)))
    ax = np.arange(-radius, radius + 1)
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma_px**2))
    return g / g.sum()


def _best(frames: list[np.ndarray], truths: list[np.ndarray], params, apply: Callable) -> tuple[list, object]:
    best = None
    rng = float(np.max(truths) - np.min(truths))
    for p in params:
        out = [apply(f, p) for f in frames]
        score = float(np.mean([psnr(o, t, rng) for o, t in zip(out, truths, strict=True)]))
        if best is None or score > best[0]:
            best = (score, out, p)
    return best[1], best[2]


def best_gaussian(frames, truths):
    return _best(frames, truths, GAUSS_SIGMAS, lambda f, s: ndimage.gaussian_filter(f, s, mode="reflect"))


def best_gaussian_bicubic(frames, truths):
    """For 2x super-resolution: the best Gaussian denoising, then bicubic 2x upsampling."""
    from skimage.transform import rescale

    return _best(
        frames,
        truths,
        GAUSS_SIGMAS,
        lambda f, s: rescale(ndimage.gaussian_filter(f, s, mode="reflect"), 2, order=3, mode="reflect"),
    )


def best_median(frames, truths):
    return _best(frames, truths, MEDIAN_SIZES, lambda f, s: ndimage.median_filter(f, size=s, mode="reflect"))


def best_richardson_lucy(frames, truths, psf_sigma_px: float):
    """Richardson-Lucy with the simulator's Gaussian PSF. The truth is the blurred noise-free image,
    so deconvolution is scored against a blurred target: RL is listed because users reach for it."""
    from skimage.restoration import richardson_lucy

    psf = gaussian_psf(psf_sigma_px)

    def apply(f, n):
        scale = max(float(f.max()), 1e-6)
        return richardson_lucy(np.clip(f, 0, None) / scale, psf, num_iter=n, clip=False) * scale

    return _best(frames, truths, RL_ITERATIONS, apply)


def bm3d_available() -> bool:
    try:
        import bm3d  # noqa: F401
    except ImportError:
        return False
    return True


def denoise_baselines(cfg, adu: np.ndarray, noisy: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    """The denoising tasks' baselines: raw, best Gaussian, median, Richardson-Lucy, BM3D if installed."""
    from fluorogate.sim.camera import get_preset
    from fluorogate.sim.optics import Optics

    optics = Optics()
    psf_sigma = optics.sigma_nm / optics.pixel_nm(get_preset(cfg.train.preset).pixel_size_um)
    out: dict[str, tuple[list[np.ndarray], str]] = {"raw": (noisy, "")}
    g, s = best_gaussian(noisy, truths)
    out["gaussian"] = (g, f"sigma {s}")
    m, k = best_median(noisy, truths)
    out["median"] = (m, f"{k}x{k}")
    r, n = best_richardson_lucy(noisy, truths, psf_sigma)
    out["richardson-lucy"] = (r, f"{n} it")
    if bm3d_available():
        import bm3d

        sigma = float(np.std(noisy[0] - truths[0]))
        out["bm3d"] = ([bm3d.bm3d(f, sigma_psd=sigma) for f in noisy], "oracle sigma")
    return out


def upsampling_baselines(cfg, adu: np.ndarray, noisy: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    """2x super-resolution's baselines: nearest, bicubic, best Gaussian then bicubic."""
    from skimage.transform import rescale

    gb, s = best_gaussian_bicubic(noisy, truths)
    return {
        "nearest": ([np.kron(f, np.ones((2, 2))) for f in noisy], ""),
        "bicubic": ([rescale(f, 2, order=3, mode="reflect") for f in noisy], ""),
        "gaussian+bicubic": (gb, f"sigma {s}"),
    }
