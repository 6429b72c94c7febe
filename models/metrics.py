"""Image quality metrics, with the data range taken from the ground truth (not the dtype)."""

from __future__ import annotations

import numpy as np


def psnr(pred: np.ndarray, truth: np.ndarray, data_range: float | None = None) -> float:
    """PSNR in dB; `data_range` defaults to the truth's max - min (pass a test set's range for frames
    that are nearly flat on their own)."""
    rng = float(truth.max() - truth.min()) if data_range is None else data_range
    mse = float(np.mean((np.asarray(pred, np.float64) - truth) ** 2))
    return 10 * np.log10(rng**2 / mse) if mse > 0 and rng > 0 else float("inf")


def ssim(pred: np.ndarray, truth: np.ndarray, data_range: float | None = None) -> float:
    from skimage.metrics import structural_similarity

    rng = float(truth.max() - truth.min()) if data_range is None else data_range
    return float(
        structural_similarity(np.asarray(pred, np.float64), np.asarray(truth, np.float64), data_range=rng)
    )
