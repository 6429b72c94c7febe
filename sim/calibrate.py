"""Calibration targets for the simulated microscope: a bead, flat fields, a uniform sheet.

What one images on a real instrument to measure it (PSF from a sub-resolution bead, gain and read
noise from flat fields); the physics tests and `fluorogate.sim.benchmark` measure the simulator on
exactly these.
"""

from __future__ import annotations

import numpy as np

from fluorogate.sim.camera import CameraPreset
from fluorogate.sim.measure import half_max_width
from fluorogate.sim.optics import Grid, Optics, blur, psf_kernel
from fluorogate.sim.pairs import simulate_movie
from fluorogate.sim.specimen import Specimen, splat

PTC_LEVELS = (0, 2, 8, 30, 100, 300, 1000)  # photons per pixel, dark to below the 12-bit ceiling
PTC_LEVELS_EM = (0, 0.3, 1, 3, 10)  # EM gain 300 saturates 16 bits near 1000 photoelectrons


def flat(_rng: np.random.Generator, n: int, grid: Grid) -> Specimen:
    """A uniform fluorescent sheet (a specimen maker): density 1 = `photons` per camera pixel."""
    return {"area": np.ones((n, *grid.fine_shape), dtype=np.float32)}


def bead_at(y: float, x: float):
    """A specimen maker with one unit bead at camera coordinates (y, x) in every frame."""

    def make(_rng: np.random.Generator, n: int, grid: Grid) -> Specimen:
        fy, fx = grid.camera_to_fine(np.array([y])), grid.camera_to_fine(np.array([x]))
        frames = np.arange(n)
        return {"point": splat(frames, np.repeat(fy, n), np.repeat(fx, n), np.ones(n), n, grid.fine_shape)}

    return make


def bead_fwhm_nm(optics: Optics, pixel_size_um: float = 6.5, oversample: int = 4) -> float:
    """FWHM of the simulated PSF: a bead on a fine-pixel centre, profile through its peak, half-max
    crossings."""
    grid = Grid.for_optics(25, 25, optics.pixel_nm(pixel_size_um), oversample, optics)
    c = round(float(grid.camera_to_fine(12.0)))
    bead = splat(np.zeros(1, np.int64), np.array([c]), np.array([c]), np.ones(1), 1, grid.fine_shape)
    image = blur(bead, psf_kernel(optics, grid.fine_nm))[0]
    return half_max_width(image[c]) * grid.fine_nm


def flat_stacks(
    preset: CameraPreset, levels: tuple[float, ...], frames: int = 8, size: int = 48, seed: int = 0
) -> list[np.ndarray]:
    """One (frames, size, size) stack of flat-field exposures per light level, hot pixels off."""
    preset = preset.model_copy(update={"hot_pixel_fraction": 0.0})
    return [
        simulate_movie(frames, size, photons=p, background=0, preset=preset, specimen=flat, seed=seed + i).adu
        for i, p in enumerate(levels)
    ]
