"""Specimen density -> expected photons per camera pixel, with the photon budget made precise.

"Signal photons per pixel on structures" (`photons`) is defined per structure class so that it means
the same to the eye whatever the specimen: the expected signal photons in the brightest camera pixel
of an isolated, in-focus structure of nominal brightness 1 (a point centred on a pixel, a straight
line through pixel centres, a large uniform area). Specimen brightness factors (lognormal puncta,
textured nuclei) vary around that. `unit_peaks` measures those peaks once by rendering each unit
structure with the same PSF and pixel integration that the frames use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from fluorogate.sim.optics import Grid, Optics, blur, psf_kernel
from fluorogate.sim.specimen import Specimen, splat


@lru_cache(maxsize=32)
def unit_peaks(optics: Optics, pixel_nm: float, oversample: int) -> dict[str, float]:
    """Peak camera-pixel signal of a unit point, unit line and unit area (photons per unit density)."""
    grid = Grid.for_optics(9, 9, pixel_nm, oversample, optics)
    kernel = psf_kernel(optics, grid.fine_nm)
    c = float(grid.camera_to_fine(4.0))
    fx = grid.fine_shape[1]
    xs = np.arange(0, fx - 1, 0.5)
    point = splat(np.zeros(1, np.int64), np.array([c]), np.array([c]), np.ones(1), 1, grid.fine_shape)
    line = splat(
        np.zeros(xs.size, np.int64), np.full(xs.size, c), xs, np.full(xs.size, 0.5), 1, grid.fine_shape
    )
    return {
        "point": float(grid.bin(blur(point, kernel))[0, 4, 4]),
        "line": float(grid.bin(blur(line, kernel))[0, 4, 4]),
        "area": float(oversample**2),
    }


@dataclass
class Rendered:
    """Signal photons on the fine grid, margin included: the object itself and its image through the
    optics."""

    grid: Grid
    object_fine: np.ndarray  # (n, Fy, Fx) photons per fine pixel, before the optics: the high-res truth
    image_fine: np.ndarray  # (n, Fy, Fx) the same after the PSF (and haze)

    def camera(self) -> np.ndarray:
        """Expected signal photons per camera pixel, (n, height, width)."""
        return self.grid.bin(self.image_fine)

    def resampled(self, factor: int) -> np.ndarray:
        """Expected signal on a grid `factor` x finer than the camera, as photons per *camera-pixel area*.

        Same intensity units as `camera()`, so a flat region reads the same at both samplings.
        """
        if self.grid.oversample % factor:
            raise ValueError(f"oversample {self.grid.oversample} is not a multiple of {factor}")
        return self.grid.bin(self.image_fine, self.grid.oversample // factor) * np.float32(factor**2)


def render(specimen: Specimen, grid: Grid, optics: Optics, photons: float) -> Rendered:
    """Scale each structure class to the photon budget and image it through the optics."""
    peaks = unit_peaks(optics, grid.pixel_nm, grid.oversample)
    obj = np.zeros((1, *grid.fine_shape), dtype=np.float32)
    for cls, density in specimen.items():
        obj = obj + density * np.float32(photons / peaks[cls])
    return Rendered(grid, obj, blur(obj, psf_kernel(optics, grid.fine_nm)))
