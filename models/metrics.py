"""Image quality metrics, with the data range taken from the ground truth (not the dtype)."""

from __future__ import annotations

import numpy as np


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    rng = float(truth.max() - truth.min())
    mse = float(np.mean((np.asarray(pred, np.float64) - truth) ** 2))
    return 10 * np.log10(rng**2 / mse) if mse > 0 and rng > 0 else float("inf")


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    rng = float(truth.max() - truth.min())
    return float(structural_similarity(np.asarray(pred, np.float64), np.asarray(truth, np.float64), data_range=rng))
