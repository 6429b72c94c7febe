"""SMLM movies (STORM/PALM-like): sparse blinking emitters with every emitter's position and photons.

Emitters sit on a structure (filaments) or at random, at fixed sub-pixel positions. Each follows a
two-state Markov chain per frame (off -> on with `p_on`, on -> off with `p_off`, started from its
stationary distribution); an on emitter sends a lognormal number of photons (mean `photons_mean`) in
that frame. Frames are imaged like any other: point masses on the fine grid, PSF, pixel
integration, background, sensor. The ground truth (`localizations`) is what a Deep-STORM net is
trained to recover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorogate.sim.camera import CameraPreset
from fluorogate.sim.optics import Grid, Optics, blur, psf_kernel
from fluorogate.sim.sensor import expected_adu, expose, hot_pixel_map
from fluorogate.sim.specimen import filaments, splat
from fluorogate.sim.tasks import chunks, setup_grid

LOCALIZATION_DTYPE = np.dtype(
    [
        ("frame", np.int32),
        ("emitter", np.int32),
        ("y_px", np.float64),
        ("x_px", np.float64),
        ("photons", np.float32),
    ]
)


class SMLMConfig(BaseModel):
    """Labelling density, blinking kinetics and brightness."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    emitters_per_um2: float = Field(default=3.0, gt=0, description="labels per um^2 (random) or on filaments")
    photons_mean: float = Field(default=1500.0, gt=0, description="mean photons of an on emitter per frame")
    photons_sigma_log: float = Field(default=0.5, ge=0)
    p_on: float = Field(default=0.005, gt=0, le=1, description="off -> on probability per frame")
    p_off: float = Field(default=0.5, gt=0, le=1, description="on -> off probability per frame")
    structure: Literal["filaments", "random"] = "filaments"


@dataclass
class SMLMMovie:
    """Frames and their truth. Positions are camera pixel coordinates (pixel centres at integers)."""

    adu: np.ndarray  # (T, H, W) uint16
    expected_adu: np.ndarray  # (T, H, W) float32
    emitters_px: np.ndarray  # (E, 2) (y, x) of every emitter, on or not
    localizations: np.ndarray  # LOCALIZATION_DTYPE, one row per emitter per frame it is on
    pixel_nm: float


def _place(rng: np.random.Generator, grid: Grid, cfg: SMLMConfig) -> np.ndarray:
    """Emitter positions on the fine grid (E, 2), margin included."""
    fy, fx = grid.fine_shape
    area_um2 = fy * fx * (grid.fine_nm / 1000) ** 2
    count = rng.poisson(cfg.emitters_per_um2 * area_um2)
    if cfg.structure == "random":
        return np.stack([rng.uniform(0, fy - 1, count), rng.uniform(0, fx - 1, count)], axis=1)
    density = filaments(rng, 1, grid)["line"][0].ravel().astype(np.float64)
    if density.sum() == 0:
        return np.zeros((0, 2))
    pick = rng.choice(density.size, size=count, p=density / density.sum())
    jitter = rng.uniform(-0.5, 0.5, size=(count, 2))
    return np.stack(np.unravel_index(pick, (fy, fx)), axis=1) + jitter


def smlm_movie(
    frames: int,
    size: int | tuple[int, int],
    background: float = 20.0,
    preset: str | CameraPreset = "scmos",
    seed: int = 0,
    config: SMLMConfig | None = None,
    optics: Optics | None = None,
    oversample: int = 4,
) -> SMLMMovie:
    """`frames` frames of blinking emitters; `background` in photons per pixel."""
    cfg = config or SMLMConfig()
    preset, optics, grid = setup_grid(size, 0.0, background, preset, optics, oversample)
    rng = np.random.default_rng(seed)
    pos = _place(rng, grid, cfg)
    n_em = len(pos)
    on = rng.random(n_em) < cfg.p_on / (cfg.p_on + cfg.p_off)
    states = np.empty((frames, n_em), dtype=bool)
    for t in range(frames):
        states[t] = on
        flip = rng.random(n_em)
        on = np.where(on, flip >= cfg.p_off, flip < cfg.p_on)
    t_idx, e_idx = np.nonzero(states)
    mu = np.log(cfg.photons_mean) - cfg.photons_sigma_log**2 / 2
    photons = rng.lognormal(mu, cfg.photons_sigma_log, t_idx.size)
    kernel = psf_kernel(optics, grid.fine_nm)
    cam = np.empty((frames, grid.height, grid.width), dtype=np.float32)
    for start, m in chunks(frames, grid):
        sel = (t_idx >= start) & (t_idx < start + m)
        fine = splat(
            t_idx[sel] - start, pos[e_idx[sel], 0], pos[e_idx[sel], 1], photons[sel], m, grid.fine_shape
        )
        cam[start : start + m] = grid.bin(blur(fine, kernel)) + np.float32(background)
    hot = hot_pixel_map(cam.shape[1:], preset, rng)
    em_cam = grid.fine_to_camera(pos)
    inside = ((em_cam > -0.5) & (em_cam < np.array([grid.height, grid.width]) - 0.5)).all(axis=1)
    keep = inside[e_idx]
    locs = np.zeros(int(keep.sum()), dtype=LOCALIZATION_DTYPE)
    locs["frame"], locs["emitter"] = t_idx[keep], e_idx[keep]
    locs["y_px"], locs["x_px"] = em_cam[e_idx[keep], 0], em_cam[e_idx[keep], 1]
    locs["photons"] = photons[keep]
    return SMLMMovie(expose(cam, preset, rng, hot), expected_adu(cam, preset), em_cam, locs, grid.pixel_nm)
