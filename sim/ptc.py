"""Photon transfer: conversion gain and read noise from flat fields, the standard camera calibration.

For a shot-noise-limited sensor, per pixel and over time: var(ADU) = g * (mean(ADU) - offset) +
g^2 * r^2 + 1/12, with g the gain in ADU/e-, r the read noise in e- and 1/12 the ADC rounding. A line
fit of temporal variance against offset-corrected mean over several light levels gives g as the
slope and r from the intercept. Temporal variance (over a stack of exposures of the same field)
removes the specimen's and the sensor's fixed pattern. Include a dark level and a few low levels:
the intercept (read noise) is only as good as the light levels near it. With EM gain G the slope is 2 g G
(excess noise factor 2) and the intercept still g^2 r^2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fluorogate.errors import UserError


@dataclass(frozen=True)
class PhotonTransfer:
    slope_adu_per_e: float  # the conversion gain (times 2 G with EM gain G)
    read_noise_adu: float  # sqrt(intercept - 1/12)
    means: np.ndarray  # offset-corrected mean ADU per level
    variances: np.ndarray  # temporal variance per level

    def read_noise_e(self, gain_adu_per_e: float) -> float:
        return self.read_noise_adu / gain_adu_per_e


def photon_transfer(stacks: Sequence[np.ndarray], offset_adu: float) -> PhotonTransfer:
    """Fit a photon-transfer line to `stacks`: one (frames, H, W) stack of exposures per light level."""
    if len(stacks) < 2:
        raise UserError(f"photon transfer needs at least 2 light levels, got {len(stacks)}")
    means, variances = [], []
    for i, stack in enumerate(stacks):
        stack = np.asarray(stack, dtype=np.float64)
        if stack.ndim != 3 or stack.shape[0] < 2:
            raise UserError(f"light level {i}: want a (frames>=2, H, W) stack, got shape {stack.shape}")
        means.append(stack.mean() - offset_adu)
        variances.append(stack.var(axis=0, ddof=1).mean())
    m, v = np.array(means), np.array(variances)
    # weights 1/variance: the scatter of a variance estimate grows with the variance itself, so an
    # unweighted fit lets the brightest level swamp the intercept (the read noise)
    slope, intercept = np.polyfit(m, v, 1, w=1 / v)
    return PhotonTransfer(float(slope), float(np.sqrt(max(intercept - 1 / 12, 0.0))), m, v)
