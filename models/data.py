"""Training batches simulated on the fly, normalised exactly as the hardware front end does.

A pool of `chunk` patches (one photon level, drawn log-uniform from the training range) is simulated
every `refresh` steps; each step takes a random batch from it with a random flip/transpose. Every
random choice is seeded by (seed, step), so a resumed run sees the very batches an uninterrupted one
would, without storing generator state.
"""

from __future__ import annotations

import numpy as np
import torch

from fluorogate.models.config import ModelConfig, RunConfig, TrainConfig
from fluorogate.quantize.camera import adu_to_codes, adu_to_real, codes_to_real
from fluorogate.quantize.ir import CameraConversion


def simulate_pairs(task: str, n: int, size: int, photons: float, tc: TrainConfig, seed: int):
    """(noisy ADU, truth ADU) from the simulator for `task`: its registry entry's `pairs` hook."""
    from fluorogate.models.tasks import get_task

    return get_task(task).hook("pairs")(n, size, photons, tc, seed)


def denoise_pairs(n: int, size: int, photons: float, tc: TrainConfig, seed: int):
    """Denoising pairs (noisy ADU, noise-free ADU), both (n, size, size), the run's camera and specimen."""
    from fluorogate.sim.pairs import denoise_batch

    return denoise_batch(n, size, photons, seed=seed, **sim_options(tc))


def sr2x_pairs(n: int, size: int, photons: float, tc: TrainConfig, seed: int):
    """2x super-resolution pairs: noisy ADU (n, size, size), noise-free ADU at twice the sampling."""
    from fluorogate.sim.pairs import sr2x_batch

    return sr2x_batch(n, size, photons, seed=seed, **sim_options(tc))


def sim_options(tc: TrainConfig) -> dict:
    """The simulator options a run records (camera preset, specimen, background photons)."""
    return {"background": tc.background, "preset": tc.preset, "specimen": tc.specimen}


def chunk_options(tc: TrainConfig, sim_seed: int) -> TrainConfig:
    """The options one training chunk is simulated with: `extra_fraction` of the chunks (chosen from the
    chunk's seed, so resuming needs no state) use `extra_specimen` instead of `specimen`."""
    if tc.extra_fraction > 0 and np.random.default_rng([sim_seed, 7]).random() < tc.extra_fraction:
        return tc.model_copy(update={"specimen": tc.extra_specimen})
    return tc


def as_channels(a: np.ndarray) -> np.ndarray:
    """(n, H, W) frames -> (n, 1, H, W); (n, C, H, W) stacks (several camera frames per image) as they are."""
    return a[:, None] if a.ndim == 3 else a


def to_network(adu: np.ndarray, truth: np.ndarray, camera: CameraConversion, model: ModelConfig):
    """Noisy ADU and truth ADU -> (input, target) float tensors (N, 1, H, W) on the network's scale."""
    codes = adu_to_codes(adu, camera, model.rounding, model.act_bits)
    x = torch.from_numpy(codes_to_real(as_channels(codes), model.act_bits))
    t = torch.from_numpy(adu_to_real(as_channels(truth), camera, model.act_bits))
    return x, t


class PatchStream:
    """`batch(step)` -> (input, target) for any step, reproducibly."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self._chunk_id: int | None = None
        self._pool: tuple[torch.Tensor, torch.Tensor] | None = None

    def _chunk(self, chunk_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        if chunk_id != self._chunk_id:
            tc = self.cfg.train
            rng = np.random.default_rng([tc.seed, chunk_id, 1])
            lo, hi = np.log(tc.photons[0]), np.log(tc.photons[1])
            photons = float(np.exp(rng.uniform(lo, hi)))
            sim_seed = int(rng.integers(2**31))
            adu, truth = simulate_pairs(
                self.cfg.model.task, tc.chunk, tc.patch, photons, chunk_options(tc, sim_seed), sim_seed
            )
            self._pool = to_network(adu, truth, self.cfg.camera, self.cfg.model)
            self._chunk_id = chunk_id
        return self._pool

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        tc = self.cfg.train
        x, t = self._chunk(step // tc.refresh)
        rng = np.random.default_rng([tc.seed, step, 2])
        idx = torch.from_numpy(rng.choice(len(x), size=min(tc.batch, len(x)), replace=False))
        x, t = x[idx], t[idx]
        k = int(rng.integers(8))  # one of the 8 flips/transposes of the square
        if k & 1:
            x, t = x.flip(-1), t.flip(-1)
        if k & 2:
            x, t = x.flip(-2), t.flip(-2)
        if k & 4:
            x, t = x.transpose(-1, -2), t.transpose(-1, -2)
        return x.contiguous(), t.contiguous()


def blind_spot(x: torch.Tensor, fraction: float, step: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise2Void masking: replace `fraction` of pixels by a random neighbour (5x5, not itself).

    Returns the masked input and the boolean mask; the loss is taken at the mask against the
    unmasked noisy input, so the network cannot learn the identity. Replacements are other pixels'
    codes, so the masked input stays on the input quantizer's grid.
    """
    gen = torch.Generator().manual_seed(hash((seed, step, 3)) % 2**63)
    n, c, h, w = x.shape
    mask = torch.rand(x.shape, generator=gen) < fraction
    dy = torch.randint(-2, 3, x.shape, generator=gen)
    dx = torch.randint(-2, 3, x.shape, generator=gen)
    dx = torch.where((dy == 0) & (dx == 0), torch.ones_like(dx), dx)
    yy = (torch.arange(h).view(1, 1, h, 1) + dy).clamp(0, h - 1)
    xx = (torch.arange(w).view(1, 1, 1, w) + dx).clamp(0, w - 1)
    flat = x.reshape(n, c, h * w)
    neighbour = torch.gather(flat, 2, (yy * w + xx).reshape(n, c, h * w)).reshape(x.shape)
    return torch.where(mask, neighbour, x), mask
