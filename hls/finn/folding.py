"""Folding from the camera's pixel rate: how many clock cycles a frame may take, and FINN's SetFolding.

The accelerator must accept pixels as fast as the camera sends them. For a graph built at H x W and
a clock of f Hz, the budget is `H * W * f / pixel_rate` cycles per frame (`pixel_rate` = camera
width * height * fps; a smaller --size keeps the camera's cycles per pixel). FINN's SetFolding
raises PE/SIMD until every layer fits the budget, but stops at `mvau_wwidth_max` (the MVAU weight
stream width, PE * SIMD * weight bits): when the budget is missed we double the cap and fold again.
A FINN dataflow layer streams at most one pixel per cycle, so no folding beats `H * W` cycles per
frame: a camera faster than the clock (in pixels per second) is out of reach and we say so.
"""

from __future__ import annotations

import copy
import math

from pydantic import BaseModel, ConfigDict, Field
from qonnx.core.modelwrapper import ModelWrapper

DEFAULT_WWIDTH_MAX = 36  # FINN's default mvau_wwidth_max
MAX_WWIDTH = 36 * 2**8  # stop doubling here (9,216 bits: far above what a ZU7 holds at 1 px/cycle)


class FoldingTarget(BaseModel):
    """The cycles-per-frame budget of one graph size at one clock for one camera pixel rate."""

    model_config = ConfigDict(frozen=True)

    height: int = Field(gt=0)
    width: int = Field(gt=0)
    clock_ns: float = Field(gt=0)
    pixel_rate_hz: float = Field(gt=0)

    @property
    def clock_hz(self) -> float:
        return 1e9 / self.clock_ns

    @property
    def cycles_per_frame(self) -> int:
        return max(1, math.floor(self.height * self.width * self.clock_hz / self.pixel_rate_hz))

    @property
    def target_fps(self) -> float:
        return self.pixel_rate_hz / (self.height * self.width)

    @property
    def reachable(self) -> bool:
        """A dataflow layer takes at least one cycle per pixel."""
        return self.cycles_per_frame >= self.height * self.width

    def scaled(self, height: int, width: int) -> FoldingTarget:
        """The same cycles per pixel at another frame size (the check build uses a small frame)."""
        return self.model_copy(update={"height": height, "width": width})


class FoldingResult(BaseModel):
    """What folding achieved: the cap used, the slowest layer and whether the budget was met."""

    target_cycles: int
    mvau_wwidth_max: int
    max_cycles: int
    slowest_layer: str
    met: bool
    tries: list[tuple[int, int]]  # (mvau_wwidth_max, max_cycles) per attempt


def max_layer_cycles(model: ModelWrapper) -> tuple[str, int]:
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer

    cycles = model.analysis(exp_cycles_per_layer)
    name = max(cycles, key=cycles.get)
    return name, int(cycles[name])


def fold_to_budget(
    model: ModelWrapper, target_cycles: int, wwidth_max: int = DEFAULT_WWIDTH_MAX
) -> tuple[ModelWrapper, FoldingResult]:
    """SetFolding at `target_cycles`, doubling `mvau_wwidth_max` until met or `MAX_WWIDTH`."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive

    tries: list[tuple[int, int]] = []
    best: tuple[ModelWrapper, int, str, int] | None = None  # (model, cap, slowest layer, cycles)
    cap = wwidth_max
    while cap <= MAX_WWIDTH:
        folded = copy.deepcopy(model).transform(SetFolding(target_cycles, mvau_wwidth_max=cap))
        folded = folded.transform(GiveUniqueNodeNamesRecursive())
        slowest, cycles = max_layer_cycles(folded)
        tries.append((cap, cycles))
        if best is not None and cycles >= best[3]:
            break  # a wider cap no longer helps: the one-pixel-per-cycle floor or a non-MVAU layer
        best = (folded, cap, slowest, cycles)
        if cycles <= target_cycles:
            break
        cap *= 2
    folded, cap, slowest, cycles = best
    result = FoldingResult(
        target_cycles=target_cycles,
        mvau_wwidth_max=cap,
        max_cycles=cycles,
        slowest_layer=slowest,
        met=cycles <= target_cycles,
        tries=tries,
    )
    return folded, result
