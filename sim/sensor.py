"""Sensor model: expected photons per pixel -> camera ADU, with every noise source of a real camera.

Chain per pixel (all in electrons until the ADC):
    mean_e = qe * photons + dark_current * exposure (+ hot-pixel dark current)
    e      ~ Poisson(mean_e)                                   shot noise (light and dark)
    e      ~ Gamma(shape=e, scale=em_gain)  if em_gain > 1     EMCCD multiplication (excess noise 2)
    e     += Normal(0, read_noise_e)                           read noise at the output amplifier
    adu    = clip(round(gain_adu_per_e * e + offset), 0, 2**adu_bits - 1)

The noise-free target (`expected_adu`) is the mean of that chain without hot pixels and without the
ADC rounding: what a perfect denoiser should output. Hot pixels are left out of it on purpose: they
are a sensor defect the restoration is expected to remove, not part of the specimen.
"""

from __future__ import annotations

import numpy as np

from fluorogate.sim.camera import CameraPreset


def expected_electrons(photons: np.ndarray, preset: CameraPreset) -> np.ndarray:
    """Mean photo- plus dark electrons per pixel (before EM gain), float32."""
    dark = preset.dark_current_e_per_s * preset.exposure_s
    return (np.asarray(photons, dtype=np.float32) * np.float32(preset.qe) + np.float32(dark)).astype(
        np.float32
    )


def expected_adu(photons: np.ndarray, preset: CameraPreset) -> np.ndarray:
    """Noise-free expected ADU (offset included, clipped to the ADC range), float32."""
    adu = expected_electrons(photons, preset) * np.float32(preset.em_gain * preset.gain_adu_per_e)
    return np.clip(adu + np.float32(preset.offset_adu), 0, preset.max_adu).astype(np.float32)


def hot_pixel_map(shape: tuple[int, ...], preset: CameraPreset, rng: np.random.Generator) -> np.ndarray:
    """Extra dark electrons per exposure for each pixel: a few pixels with `hot_pixel_e_per_s`, rest 0."""
    hot = rng.random(shape) < preset.hot_pixel_fraction
    return hot.astype(np.float32) * np.float32(preset.hot_pixel_e_per_s * preset.exposure_s)


def expose(
    photons: np.ndarray, preset: CameraPreset, rng: np.random.Generator, hot_e: np.ndarray | None = None
) -> np.ndarray:
    """One noisy exposure of `photons` (expected photons per pixel, any shape) as uint16 ADU.

    `hot_e` adds a fixed hot-pixel dark map (from `hot_pixel_map`, broadcast over frames), so a movie
    keeps its hot pixels in place from frame to frame.
    """
    mean_e = expected_electrons(photons, preset)
    if hot_e is not None:
        mean_e = mean_e + hot_e
    electrons = rng.poisson(mean_e).astype(np.float32)
    if preset.em_gain > 1:
        # Gamma(shape=n, scale=g) is the standard model of the EM register for n input electrons; it
        # doubles the variance of the shot noise (excess noise factor F^2 = 2). shape 0 gives exactly 0.
        electrons = rng.gamma(electrons, preset.em_gain).astype(np.float32)
    if preset.read_noise_e > 0:
        electrons += rng.standard_normal(electrons.shape, dtype=np.float32) * np.float32(preset.read_noise_e)
    adu = np.rint(electrons * np.float32(preset.gain_adu_per_e) + np.float32(preset.offset_adu))
    return np.clip(adu, 0, preset.max_adu).astype(np.uint16)
