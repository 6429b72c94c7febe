"""SIM from 3 raw frames (`sim3`): batched SIM exposures with a ground truth at the SIM resolution limit.

Input frames: by default one frame per pattern angle, all at phase index 0 (`SIM3_PHASES`), as in
DL-SIM's U-Net-SIM3 (Jin et al., Nat. Commun. 11:1934, 2020). Three phases of ONE angle would let a
classical band separation run on the input, but would add resolution along one direction only; one
frame per angle covers the Fourier plane isotropically, which a network can exploit and a linear
reconstruction cannot (that is the point of learning it). `phases="all"` gives the full
`angles x phases` stack for the classical Wiener SIM; its `inputs()` are the network's 3 frames of it.

Truth: the specimen imaged through the PSF scaled down by 1 + f (f = pattern frequency / cut-off),
i.e. an Optics with wavelength / (1 + f), sampled at 2x, noise-free, in the camera's ADU with the
same background. Linear SIM moves object frequencies up to (1 + f) x the cut-off into the passband, so
this is the resolution an ideal SIM reconstruction reaches; a finer truth would ask the network to
hallucinate, a coarser one would throw SIM's gain away. At f = 0.8 the support, 1.8 x 2 NA / lambda,
is 1.04 cycles per camera pixel for the sCMOS preset (108 nm pixels): just above the 2x grid's Nyquist
(1.0), where the Gaussian's transfer is already 1e-3, so 2x sampling holds it.
Intensity units as in `sr2x_batch`: photons per camera-pixel area, so a flat region reads the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from fluorogate.sim.camera import CameraPreset
from fluorogate.sim.optics import Optics, blur, psf_kernel
from fluorogate.sim.pairs import CHUNK_FINE_PIXELS, setup_grid
from fluorogate.sim.render import render
from fluorogate.sim.sensor import expected_adu, expose, hot_pixel_map
from fluorogate.sim.specimen import SpecimenMaker, make_specimen
from fluorogate.sim.structured import SIMConfig, illumination, pattern_vectors

SIM3_PHASES = (0, 0, 0)  # phase index used at angle 0, 1, 2 for the 3-frame input
SCALE = 2  # output sampling per camera pixel along each axis


def sim_optics(optics: Optics, config: SIMConfig) -> Optics:
    """The widefield optics with its PSF scaled down by 1 + f: the ideal linear-SIM PSF."""
    return optics.model_copy(update={"wavelength_nm": optics.wavelength_nm / (1 + config.frequency)})


@dataclass
class Sim3Frames:
    """SIM exposures of `n` specimens with their truth; `adu[i, a, j]` is angle a, the j-th chosen phase."""

    adu: np.ndarray  # (n, A, P', H, W) uint16
    truth: np.ndarray  # (n, 2H, 2W) float32 expected ADU at the SIM resolution limit
    k_cycles_per_px: np.ndarray  # (A, 2) (ky, kx) per camera pixel
    phase_index: np.ndarray  # (A, P') int: exposure j at angle a has phase 2 pi phase_index[a, j] / P
    config: SIMConfig
    optics: Optics
    preset: CameraPreset
    pixel_nm: float

    def inputs(self) -> np.ndarray:
        """The 3-frame network input (n, 3, H, W): `SIM3_PHASES[a]` at angle a (needs that phase here)."""
        idx = [list(row).index(q) for row, q in zip(self.phase_index, SIM3_PHASES, strict=True)]
        return np.stack([self.adu[:, a, j] for a, j in enumerate(idx)], axis=1)

    @property
    def phases_rad(self) -> np.ndarray:
        return 2 * np.pi * self.phase_index / self.config.phases


def sim3_frames(
    n: int,
    size: int | tuple[int, int],
    photons: float,
    background: float = 2.0,
    preset: str | CameraPreset = "scmos",
    specimen: str | SpecimenMaker = "mix",
    seed: int = 0,
    phases: Literal["input", "all"] = "input",
    noise: int = 0,
    config: SIMConfig | None = None,
    optics: Optics | None = None,
) -> Sim3Frames:
    """`n` specimens, each exposed under the input patterns (`"input"`: `SIM3_PHASES`) or all of them.

    Specimens and hot-pixel maps (one per specimen: one sensor, consecutive exposures) come from
    `seed` alone, the shot and read noise from (`seed`, `noise`): the same seed with another `noise`
    gives the same specimens under independent noise (for Fourier ring correlation), whichever `phases`.
    """
    config = config or SIMConfig(angles=len(SIM3_PHASES))
    if config.angles != len(SIM3_PHASES):
        raise ValueError(f"sim3 takes one frame per angle: {len(SIM3_PHASES)} angles, got {config.angles}")
    preset, optics, grid = setup_grid(size, photons, background, preset, optics, SCALE)
    k_vec, all_phases = pattern_vectors(config, optics)  # k in cycles per nm
    chosen = [[q] for q in SIM3_PHASES] if phases == "input" else [list(range(config.phases))] * config.angles
    patterns = [
        [illumination(config, grid, k, all_phases[p]) for p in ps]
        for k, ps in zip(k_vec, chosen, strict=True)
    ]
    kernel, sim_kernel = (
        psf_kernel(optics, grid.fine_nm),
        psf_kernel(sim_optics(optics, config), grid.fine_nm),
    )
    rng, noise_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1 + noise])
    adu, truth = [], []
    bg = np.float32(background)
    exposures = config.angles * config.phases  # the same chunks for both `phases`: the same specimens
    per = max(1, CHUNK_FINE_PIXELS // (grid.fine_shape[0] * grid.fine_shape[1] * exposures))
    for start in range(0, n, per):
        m = min(per, n - start)
        rendered = render(make_specimen(specimen, rng, m, grid), grid, optics, photons)
        hot = hot_pixel_map((m, grid.height, grid.width), preset, rng)
        frames = [
            [
                expose(grid.bin(blur(rendered.object_fine * ill, kernel)) + bg, preset, noise_rng, hot)
                for ill in row
            ]
            for row in patterns
        ]
        adu.append(np.stack([np.stack(row, axis=1) for row in frames], axis=1))
        hires = grid.bin(blur(rendered.object_fine, sim_kernel), grid.oversample // SCALE) * np.float32(
            SCALE**2
        )
        truth.append(expected_adu(hires + bg, preset))
    return Sim3Frames(
        np.concatenate(adu),
        np.concatenate(truth),
        k_vec * grid.pixel_nm,
        np.array(chosen),
        config,
        optics,
        preset,
        grid.pixel_nm,
    )


def sim3_batch(
    n: int,
    size: int,
    photons: float,
    background: float = 2.0,
    preset: str = "scmos",
    specimen: str = "mix",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs: 3 raw SIM frames (n, 3, size, size) uint16 -> truth (n, 2size, 2size) float32 ADU."""
    frames = sim3_frames(n, size, photons, background, preset, specimen, seed)
    return frames.inputs(), frames.truth
