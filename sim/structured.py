"""Structured illumination (SIM) raw stacks: `angles x phases` frames under sinusoidal illumination.

Illumination at the sample, on the fine grid: I(r) = 1 + m cos(2 pi k.r + phase), with |k| a fraction
`frequency` of the incoherent OTF cut-off 2 NA / lambda, orientation angle0 + a * pi / angles and
phase 2 pi p / phases. The fluorescence (object x illumination) is then imaged like any frame. The
mean illumination is 1, so the photon budget means what it means for a widefield frame. In the
camera image the pattern's contrast is m times the system MTF at k (OTF x pixel sinc), which the
physics test checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorogate.sim.camera import CameraPreset
from fluorogate.sim.optics import Grid, Optics, blur, otf, psf_kernel
from fluorogate.sim.pairs import setup_grid
from fluorogate.sim.render import render
from fluorogate.sim.sensor import expected_adu, expose, hot_pixel_map
from fluorogate.sim.specimen import SpecimenMaker, make_specimen


class SIMConfig(BaseModel):
    """The illumination pattern set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    angles: int = Field(default=3, ge=1)
    phases: int = Field(default=3, ge=3)
    modulation: float = Field(default=0.9, ge=0, le=1, description="modulation depth m")
    frequency: float = Field(
        default=0.8, gt=0, lt=1, description="|k| as a fraction of the cut-off 2 NA / lambda"
    )
    angle0_deg: float = 10.0


@dataclass
class SIMStack:
    """A raw SIM stack with its truth; arrays are (angles, phases, ...)."""

    adu: np.ndarray  # (A, P, H, W) uint16
    expected_adu: np.ndarray  # (A, P, H, W) float32
    object_fine: np.ndarray  # (H*os, W*os) photons per fine pixel: the high-res truth
    k_cycles_per_px: np.ndarray  # (A, 2) pattern wave vector (ky, kx) in cycles per camera pixel
    phases_rad: np.ndarray  # (P,)
    config: SIMConfig
    pixel_nm: float
    optics: Optics

    def expected_contrast(self, angle: int) -> float:
        """Pattern contrast the camera should see at `angle`: m x OTF(k) x pixel-integration sinc."""
        ky, kx = self.k_cycles_per_px[angle]
        k_nm = math.hypot(ky, kx) / self.pixel_nm
        return self.config.modulation * otf(self.optics, k_nm) * abs(np.sinc(ky) * np.sinc(kx))


def pattern_vectors(config: SIMConfig, optics: Optics) -> tuple[np.ndarray, np.ndarray]:
    """The pattern's wave vectors (A, 2) as (ky, kx) in cycles per nm, and its phases (P,) in radians."""
    k_nm = config.frequency * optics.cutoff_per_nm
    angles = np.deg2rad(config.angle0_deg) + np.arange(config.angles) * math.pi / config.angles
    phases = 2 * math.pi * np.arange(config.phases) / config.phases
    return np.stack([np.sin(angles), np.cos(angles)], axis=1) * k_nm, phases


def illumination(config: SIMConfig, grid: Grid, k_nm: np.ndarray, phase: float) -> np.ndarray:
    """1 + m cos(2 pi k.r + phase) on the fine grid (margin included), float32; r = 0 at the centre of
    camera pixel (0, 0), so a phase means the same for every frame size."""
    fy, fx = grid.fine_shape
    y = (np.arange(fy) - grid.camera_to_fine(0.0)) * grid.fine_nm
    x = (np.arange(fx) - grid.camera_to_fine(0.0)) * grid.fine_nm
    arg = 2 * math.pi * (k_nm[0] * y[:, None] + k_nm[1] * x[None, :])
    return (1 + config.modulation * np.cos(arg + phase)).astype(np.float32)


def sim_stack(
    size: int | tuple[int, int],
    photons: float,
    background: float = 2.0,
    preset: str | CameraPreset = "scmos",
    specimen: str | SpecimenMaker = "filaments",
    seed: int = 0,
    config: SIMConfig | None = None,
    optics: Optics | None = None,
    oversample: int = 2,
) -> SIMStack:
    """One specimen under `angles x phases` illumination patterns, each exposed once."""
    config = config or SIMConfig()
    preset, optics, grid = setup_grid(size, photons, background, preset, optics, oversample)
    rng = np.random.default_rng(seed)
    rendered = render(make_specimen(specimen, rng, 1, grid), grid, optics, photons)
    k_vec, phases = pattern_vectors(config, optics)
    kernel = psf_kernel(optics, grid.fine_nm)
    hot = hot_pixel_map((grid.height, grid.width), preset, rng)
    shape = (config.angles, config.phases, grid.height, grid.width)
    adu, exp_adu = np.empty(shape, np.uint16), np.empty(shape, np.float32)
    for a, k in enumerate(k_vec):
        for p, phase in enumerate(phases):
            illum = illumination(config, grid, k, phase)
            cam = grid.bin(blur(rendered.object_fine * illum, kernel))[0] + np.float32(background)
            exp_adu[a, p] = expected_adu(cam, preset)
            adu[a, p] = expose(cam, preset, rng, hot)
    return SIMStack(
        adu,
        exp_adu,
        grid.crop_fine(rendered.object_fine)[0],
        k_vec * grid.pixel_nm,
        phases,
        config,
        grid.pixel_nm,
        optics,
    )
