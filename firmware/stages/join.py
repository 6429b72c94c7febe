"""add and concat: a register front over every input (each fed through a delay FIFO where the other input
comes later, `generate`), the inputs aligned to the smallest exp, then summed or placed side by side."""

from __future__ import annotations

from fluorogate.firmware.stages.base import STAGES, StageBuilder
from fluorogate.firmware.verilog import Emitter, Sig


@STAGES.register("concat")
class ConcatStage(StageBuilder):
    kind = "join"


@STAGES.register("add")
class AddStage(StageBuilder):
    kind = "join"

    def combine(self, e: Emitter, aligned: list[list[Sig]]) -> tuple[list[Sig], int]:
        width = max(v.width for col in aligned for v in col) + 1
        return [
            e.wire(width, " + ".join(col[c].name for col in aligned), "sum")
            for c in range(self.in_fmts[0].channels)
        ], min(f.exp for f in self.in_fmts)
