"""relu and requant: fused after the stage head before them, or a stage of their own ("pointwise")."""

from __future__ import annotations

from fluorogate.firmware.stages.base import STAGES, StageBuilder
from fluorogate.firmware.verilog import Emitter, Sig
from fluorogate.quantize.ir import IntegerGraph, OpNode


class _Pointwise(StageBuilder):
    """An element-wise op: its own stage's head behind a register front, or fused after another head."""

    kind = "pointwise"
    head_fuses = True
    fusable = True


@STAGES.register("relu")
class ReluStage(_Pointwise):
    @classmethod
    def fuse(cls, e: Emitter, node: OpNode, lanes: list[list[Sig]], exp: int, graph: IntegerGraph):
        return [[e.relu(v) for v in vals] for vals in lanes], exp


@STAGES.register("requant")
class RequantStage(_Pointwise):
    @classmethod
    def fuse(cls, e: Emitter, node: OpNode, lanes: list[list[Sig]], exp: int, graph: IntegerGraph):
        q = node.quant
        return [
            [e.requant(v, q.exp - exp, graph.rounding, q.min_int, q.max_int) for v in vals] for vals in lanes
        ], q.exp
