"""Optics: the microscope's PSF, the fine simulation grid, and imaging onto camera pixels.

Specimens are drawn on a fine grid `oversample` times finer than the camera pixel (2-4x). A structure
is a set of point masses at fine-pixel centres (bilinear splats for sub-pixel positions); convolving
them with the PSF *integrated over one fine pixel* and summing `oversample x oversample` blocks gives
exactly the PSF integrated over each camera pixel. The grid carries a margin as wide as the PSF (and
haze) kernel, so the FFT convolution's wrap-around never reaches the cropped frame.

PSFs: Gaussian with sigma = 0.21 lambda/NA (Zhang et al., Appl. Opt. 46:1819, 2007) or the Airy
pattern (2 J1(v)/v)^2, v = 2 pi NA r / lambda, whose FWHM is 0.514 lambda/NA. Out-of-focus haze is a
wide Gaussian carrying a fraction `haze` of the light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import fft, special


class Optics(BaseModel):
    """Objective and emission: what sets the PSF and the pixel size at the sample."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wavelength_nm: float = Field(default=520.0, gt=200, lt=2000, description="emission wavelength")
    na: float = Field(default=1.4, gt=0, le=1.7)
    magnification: float = Field(default=60.0, gt=0, description="total magnification onto the sensor")
    psf: Literal["gaussian", "airy"] = "gaussian"
    haze: float = Field(default=0.0, ge=0, lt=1, description="fraction of the light out of focus")
    haze_sigma_um: float = Field(default=1.0, gt=0, description="sigma of the out-of-focus blur")

    @property
    def sigma_nm(self) -> float:
        """Gaussian PSF sigma, 0.21 lambda/NA."""
        return 0.21 * self.wavelength_nm / self.na

    @property
    def fwhm_nm(self) -> float:
        """Nominal resolution, 0.51 lambda/NA (the Airy FWHM, to 1%)."""
        return 0.51 * self.wavelength_nm / self.na

    @property
    def cutoff_per_nm(self) -> float:
        """Incoherent OTF cut-off frequency 2 NA / lambda, cycles per nm."""
        return 2 * self.na / self.wavelength_nm

    def pixel_nm(self, pixel_size_um: float) -> float:
        """Camera pixel size at the sample for a sensor pitch `pixel_size_um`."""
        return pixel_size_um * 1000.0 / self.magnification

    def kernel_radius_nm(self) -> float:
        """Where the PSF kernel is cut (then renormalised): 4 sigma, 4 lambda/NA for Airy, 3 haze sigmas."""
        psf = 4 * self.sigma_nm if self.psf == "gaussian" else 4 * self.wavelength_nm / self.na
        return max(psf, 3000.0 * self.haze_sigma_um) if self.haze > 0 else psf


@dataclass(frozen=True)
class Grid:
    """Camera frame of `height x width` pixels of `pixel_nm`, drawn `oversample`x finer, with a margin."""

    height: int
    width: int
    pixel_nm: float
    oversample: int
    margin: int  # camera pixels on every side

    @classmethod
    def for_optics(cls, height: int, width: int, pixel_nm: float, oversample: int, optics: Optics) -> Grid:
        margin = math.ceil(optics.kernel_radius_nm() / pixel_nm) + 1
        return cls(height, width, pixel_nm, oversample, margin)

    @property
    def fine_nm(self) -> float:
        return self.pixel_nm / self.oversample

    @property
    def fine_shape(self) -> tuple[int, int]:
        return (
            (self.height + 2 * self.margin) * self.oversample,
            (self.width + 2 * self.margin) * self.oversample,
        )

    def camera_to_fine(self, u: np.ndarray) -> np.ndarray:
        """Camera pixel coordinates (centres at integers, frame without margin) to fine-grid coordinates."""
        return (np.asarray(u, dtype=np.float64) + self.margin) * self.oversample + (self.oversample - 1) / 2

    def fine_to_camera(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - (self.oversample - 1) / 2) / self.oversample - self.margin

    def crop_fine(self, fine: np.ndarray) -> np.ndarray:
        """The fine-grid frame without its margin (..., height*oversample, width*oversample)."""
        m = self.margin * self.oversample
        return fine[..., m : m + self.height * self.oversample, m : m + self.width * self.oversample]

    def bin(self, fine: np.ndarray, factor: int | None = None) -> np.ndarray:
        """Crop the margin and sum `factor x factor` fine blocks (default: to camera pixels)."""
        factor = factor or self.oversample
        crop = self.crop_fine(fine)
        *lead, h, w = crop.shape
        return crop.reshape(*lead, h // factor, factor, w // factor, factor).sum(axis=(-3, -1))


def _gaussian_1d(sigma_px: float, radius: int) -> np.ndarray:
    """A unit Gaussian integrated over pixels -radius..radius (erf differences)."""
    edges = (np.arange(-radius, radius + 2) - 0.5) / (sigma_px * math.sqrt(2))
    return np.diff(special.erf(edges)) / 2


@lru_cache(maxsize=16)
def psf_kernel(optics: Optics, fine_nm: float) -> np.ndarray:
    """The PSF (plus haze) integrated over fine pixels of `fine_nm`, odd square, summing to 1 (float64)."""
    radius = math.ceil(optics.kernel_radius_nm() / fine_nm)
    if optics.psf == "gaussian":
        g = _gaussian_1d(optics.sigma_nm / fine_nm, radius)
        kernel = np.outer(g, g)
    else:
        sub = 7  # sub-samples per fine pixel and axis; the Airy core spans >= 5 fine pixels here
        offs = (np.arange(sub) + 0.5) / sub - 0.5
        coords = (np.arange(-radius, radius + 1)[:, None] + offs[None, :]).ravel() * fine_nm
        r = np.hypot(coords[:, None], coords[None, :])
        v = 2 * math.pi * optics.na * r / optics.wavelength_nm
        with np.errstate(invalid="ignore", divide="ignore"):
            airy = np.where(v > 1e-9, (2 * special.j1(v) / v) ** 2, 1.0)
        n = 2 * radius + 1
        kernel = airy.reshape(n, sub, n, sub).sum(axis=(1, 3))
    kernel /= kernel.sum()
    if optics.haze > 0:
        g = _gaussian_1d(optics.haze_sigma_um * 1000 / fine_nm, radius)
        kernel = (1 - optics.haze) * kernel + optics.haze * np.outer(g, g) / np.outer(g, g).sum()
    kernel.setflags(write=False)
    return kernel


def blur(fine: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """FFT convolution of (..., H, W) with a centred odd kernel; float32 out.

    The FFT runs on the next fast length (zero padded), so odd grid sizes (e.g. 16 x 257) stay fast;
    what wraps around lands in the grid's margin, which is cropped later.
    """
    h, w = fine.shape[-2:]
    k = kernel.shape[0] // 2
    if 2 * k + 1 > min(h, w):
        raise ValueError(f"kernel {kernel.shape} larger than the grid {h}x{w}")
    shape = (fft.next_fast_len(h, real=True), fft.next_fast_len(w, real=True))
    padded = np.zeros(shape, dtype=np.float32)
    padded[: 2 * k + 1, : 2 * k + 1] = kernel
    padded = np.roll(padded, (-k, -k), axis=(0, 1))
    spectrum = fft.rfft2(fine.astype(np.float32, copy=False), s=shape) * fft.rfft2(padded)
    return fft.irfft2(spectrum, s=shape)[..., :h, :w].astype(np.float32)


def otf(optics: Optics, k_per_nm: float) -> float:
    """The in-focus OTF at spatial frequency |k| (cycles per nm), haze left out.

    Gaussian: exp(-2 pi^2 sigma^2 k^2). Airy (ideal incoherent, circular pupil): with rho = k / cut-off,
    (2 / pi) (acos rho - rho sqrt(1 - rho^2)), 0 beyond the cut-off.
    """
    if optics.psf == "gaussian":
        return math.exp(-2 * (math.pi * optics.sigma_nm * k_per_nm) ** 2)
    rho = min(abs(k_per_nm) / optics.cutoff_per_nm, 1.0)
    return 2 / math.pi * (math.acos(rho) - rho * math.sqrt(1 - rho**2))
