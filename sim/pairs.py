"""Training and test pairs from the simulated microscope: every noisy frame comes with its truth.

`simulate_frames` is the general entry (all ground truth in one `SimFrames`); `denoise_batch` and
`sr2x_batch` are the pairs the model stages train on (the agreed shared interface). Work is done in
chunks of a few million fine-grid pixels so that thousands of 64x64 patches stay in memory and take
seconds. Same arguments and seed, same frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from fluorogate.errors import UserError
from fluorogate.sim.camera import CameraPreset, get_preset
from fluorogate.sim.optics import Grid, Optics
from fluorogate.sim.render import render
from fluorogate.sim.sensor import expected_adu, expected_electrons, expose, hot_pixel_map
from fluorogate.sim.specimen import SpecimenMaker, make_specimen

CHUNK_FINE_PIXELS = 4_000_000


@dataclass
class SimFrames:
    """Noisy frames with their ground truth. Intensities are per camera pixel unless named `_fine`."""

    adu: np.ndarray  # (n, H, W) uint16, what the camera outputs
    expected_adu: np.ndarray  # (n, H, W) float32, noise-free mean ADU (offset included, no hot pixels)
    expected_e: np.ndarray  # (n, H, W) float32, noise-free mean electrons (signal + background + dark)
    object_fine: np.ndarray  # (n, H*os, W*os) float32, the specimen in photons per fine pixel, unblurred
    hires_expected_adu: np.ndarray | None  # (n, f*H, f*W) float32 when `hires_factor` was asked for
    pixel_nm: float
    oversample: int
    preset: CameraPreset


def check_budget(photons: float, background: float) -> None:
    """Refuse a photon budget no camera can see: negative photons or background."""
    if photons < 0:
        raise UserError(f"photons must be >= 0 signal photons per pixel, got {photons}")
    if background < 0:
        raise UserError(f"background must be >= 0 photons per pixel, got {background}")


def chunks(n: int, grid: Grid) -> Iterator[tuple[int, int]]:
    """(start, count) over `n` frames, a few million fine-grid pixels at a time (bounded memory)."""
    per = max(1, CHUNK_FINE_PIXELS // (grid.fine_shape[0] * grid.fine_shape[1]))
    for start in range(0, n, per):
        yield start, min(per, n - start)


def setup_grid(
    size: int | tuple[int, int],
    photons: float,
    background: float,
    preset: str | CameraPreset,
    optics: Optics | None,
    oversample: int,
) -> tuple[CameraPreset, Optics, Grid]:
    """Validate the common arguments and build the simulation grid (shared by every task generator)."""
    preset = get_preset(preset)
    optics = optics or Optics()
    check_budget(photons, background)
    h, w = (size, size) if isinstance(size, int) else size
    if h < 1 or w < 1:
        raise UserError(f"frame size must be at least 1x1 pixels, got {h}x{w}")
    if oversample not in (2, 3, 4):
        raise UserError(f"oversample must be 2, 3 or 4 (fine grid per camera pixel), got {oversample}")
    return preset, optics, Grid.for_optics(h, w, optics.pixel_nm(preset.pixel_size_um), oversample, optics)


def simulate_frames(
    n: int,
    size: int | tuple[int, int],
    photons: float,
    background: float = 2.0,
    preset: str | CameraPreset = "scmos",
    specimen: str | SpecimenMaker = "mix",
    seed: int = 0,
    optics: Optics | None = None,
    oversample: int = 2,
    hires_factor: int | None = None,
) -> SimFrames:
    """`n` independent frames of `size` camera pixels (int or (H, W)), each of a fresh specimen."""
    preset, optics, grid = setup_grid(size, photons, background, preset, optics, oversample)
    if n < 1:
        raise UserError(f"need at least one frame, got n={n}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("adu", "exp_adu", "exp_e", "obj", "hires")}
    for _, m in chunks(n, grid):
        rendered = render(make_specimen(specimen, rng, m, grid), grid, optics, photons)
        photons_cam = rendered.camera() + np.float32(background)
        parts["adu"].append(expose(photons_cam, preset, rng, hot_pixel_map(photons_cam.shape, preset, rng)))
        parts["exp_adu"].append(expected_adu(photons_cam, preset))
        parts["exp_e"].append(expected_electrons(photons_cam, preset))
        parts["obj"].append(grid.crop_fine(rendered.object_fine))
        if hires_factor:
            parts["hires"].append(
                expected_adu(rendered.resampled(hires_factor) + np.float32(background), preset)
            )
    return SimFrames(
        adu=np.concatenate(parts["adu"]),
        expected_adu=np.concatenate(parts["exp_adu"]),
        expected_e=np.concatenate(parts["exp_e"]),
        object_fine=np.concatenate(parts["obj"]),
        hires_expected_adu=np.concatenate(parts["hires"]) if hires_factor else None,
        pixel_nm=grid.pixel_nm,
        oversample=oversample,
        preset=preset,
    )


def simulate_movie(
    frames: int,
    size: int | tuple[int, int],
    photons: float,
    background: float = 2.0,
    preset: str | CameraPreset = "scmos",
    specimen: str | SpecimenMaker = "mix",
    seed: int = 0,
    optics: Optics | None = None,
    oversample: int = 2,
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> SimFrames:
    """A camera movie: one static specimen, `frames` independent exposures, hot pixels fixed in place.

    `progress` wraps the frame loop (pass `tqdm` for a bar). Ground-truth arrays are read-only views
    broadcast over the frames.
    """
    preset, optics, grid = setup_grid(size, photons, background, preset, optics, oversample)
    if frames < 1:
        raise UserError(f"need at least one frame, got frames={frames}")
    rng = np.random.default_rng(seed)
    rendered = render(make_specimen(specimen, rng, 1, grid), grid, optics, photons)
    photons_cam = rendered.camera()[0] + np.float32(background)
    hot = hot_pixel_map(photons_cam.shape, preset, rng)
    adu = np.empty((frames, *photons_cam.shape), dtype=np.uint16)
    for i in progress(range(frames)):
        adu[i] = expose(photons_cam, preset, rng, hot)
    obj = grid.crop_fine(rendered.object_fine)
    return SimFrames(
        adu=adu,
        expected_adu=np.broadcast_to(expected_adu(photons_cam, preset), adu.shape),
        expected_e=np.broadcast_to(expected_electrons(photons_cam, preset), adu.shape),
        object_fine=np.broadcast_to(obj, (frames, *obj.shape[1:])),
        hires_expected_adu=None,
        pixel_nm=grid.pixel_nm,
        oversample=oversample,
        preset=preset,
    )


def denoise_batch(
    n: int,
    size: int,
    photons: float,
    background: float = 2.0,
    preset: str = "scmos",
    specimen: str = "mix",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Denoising pairs: noisy ADU (n, size, size) uint16 and noise-free expected ADU, float32, same offset."""
    frames = simulate_frames(n, size, photons, background, preset, specimen, seed)
    return frames.adu, frames.expected_adu


def sr2x_batch(
    n: int,
    size: int,
    photons: float,
    background: float = 2.0,
    preset: str = "scmos",
    specimen: str = "mix",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """2x super-resolution pairs: noisy camera ADU (n, size, size) and the noise-free expected ADU on a
    2x finer grid (n, 2size, 2size), float32, in the same intensity units (a flat region reads the same)."""
    frames = simulate_frames(n, size, photons, background, preset, specimen, seed, hires_factor=2)
    return frames.adu, frames.hires_expected_adu
