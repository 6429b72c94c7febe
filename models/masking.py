"""Blind-spot inputs for Noise2Void training: N2V's random neighbour, N2V2's median, structN2V's line mask.

Which one a run uses is `TrainConfig.n2v_replace` / `struct_mask` (`fluorogate train --n2v-replace median
--struct-mask row`); the loss is always taken at the blind spots against the unmasked noisy input.

- "neighbour" (Noise2Void, Krull 2019): a random pixel of the 5x5 neighbourhood, never itself
  (`models.data.blind_spot`, unchanged, so runs recorded before these options retrain identically).
- "median" (N2V2, Hoeck 2022): the median of the 5x5 neighbourhood without the centre, the lower of the
  two middle values (24 values), so the input stays on the input quantizer's grid. A random neighbour lets
  the net learn from which pixel a replacement came, which shows as checkerboard artefacts; the median
  carries no such trace. But the median is itself an estimate of the pixel: a net that starts as the
  identity through its global skip (`tail_init="identity"`) keeps passing it through, and at inference
  passes the raw pixel (measured: 27.6 dB on a spot movie whose raw frames are 35.0), so `fluorogate
  train --n2v-replace median` starts the tail from PyTorch's init unless `--tail-init` says otherwise.
- struct "row" / "col" (structN2V, Broaddus 2020): camera noise correlated along rows (or columns) lets
  the net predict a pixel's noise from its row neighbours; the `struct_span` pixels each side of a blind
  spot along that axis are overwritten with random codes between the patch's min and max (as careamics
  does), so that correlated noise carries no information about the centre.
Every random choice comes from a generator seeded by (seed, step), as the data stream's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fluorogate.models.config import TrainConfig
from fluorogate.models.data import blind_spot

RADIUS = 2  # 5x5 neighbourhood


def _generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(hash((seed, step, 5)) % 2**63)


def neighbourhood_median(x: torch.Tensor, exclude: list[tuple[int, int]]) -> torch.Tensor:
    """Per pixel, the lower median of its 5x5 neighbourhood (reflect padded) without the offsets in
    `exclude`."""
    n, c, h, w = x.shape
    k = 2 * RADIUS + 1
    cols = F.unfold(F.pad(x, (RADIUS,) * 4, mode="reflect"), k).view(n, c, k * k, h, w)
    keep = [i for i in range(k * k) if (i // k - RADIUS, i % k - RADIUS) not in exclude]
    return cols[:, :, keep].median(dim=2).values


def struct_offsets(axis: str, span: int) -> list[tuple[int, int]]:
    """(dy, dx) of the structN2V line around a blind spot, the centre left out."""
    if axis == "row":
        return [(0, d) for d in range(-span, span + 1) if d]
    if axis == "col":
        return [(d, 0) for d in range(-span, span + 1) if d]
    return []


def _shifted(mask: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """`mask` moved by (dy, dx), nothing wrapping around the edges."""
    h, w = mask.shape[-2:]
    out = torch.zeros_like(mask)
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def apply_struct_mask(
    x: torch.Tensor, mask: torch.Tensor, offsets: list[tuple[int, int]], grid: float, gen: torch.Generator
) -> torch.Tensor:
    """`x` with the pixels at `offsets` from each blind spot (blind spots themselves excepted) replaced by
    random values on the input grid `grid`, uniform between each patch's min and max code."""
    line = torch.zeros_like(mask)
    for dy, dx in offsets:
        line |= _shifted(mask, dy, dx)
    line &= ~mask
    lo = torch.round(x.amin(dim=(-2, -1), keepdim=True) / grid)
    hi = torch.round(x.amax(dim=(-2, -1), keepdim=True) / grid)
    codes = torch.minimum(torch.floor(lo + torch.rand(x.shape, generator=gen) * (hi - lo + 1)), hi)
    return torch.where(line, codes * grid, x)


def n2v_input(x: torch.Tensor, tc: TrainConfig, step: int, grid: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked input, blind-spot mask) for one batch under `tc`'s N2V options; `grid` is the input's code
    step."""
    if tc.n2v_replace == "neighbour" and not tc.struct_mask:
        return blind_spot(x, tc.n2v_fraction, step, tc.seed)
    gen = _generator(tc.seed, step)
    offsets = struct_offsets(tc.struct_mask, tc.struct_span)
    if tc.n2v_replace == "median":
        mask = torch.rand(x.shape, generator=gen) < tc.n2v_fraction
        masked = torch.where(mask, neighbourhood_median(x, [(0, 0), *offsets]), x)
    else:
        masked, mask = blind_spot(x, tc.n2v_fraction, step, tc.seed)
    if offsets:
        masked = apply_struct_mask(masked, mask, offsets, grid, gen)
    return masked, mask
