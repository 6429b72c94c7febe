"""Element-wise ops: `relu` and `requant`, the only op that rounds."""

from __future__ import annotations

from typing import Literal

import numpy as np

from fluorogate.quantize.onnx_read import Builder, onnx_reader
from fluorogate.quantize.ops.base import Exec, OpNode, aligned_operand_bound
from fluorogate.quantize.rounding import requant, requant_int
from fluorogate.quantize.tensors import Rounding, TensorQuant, TensorRange


class ReluNode(OpNode):
    """`max(x, 0)`, exp unchanged."""

    op: Literal["relu"] = "relu"

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        return max(ins[0].lo, 0), max(ins[0].hi, 0)

    def execute(self, ins: list, run: Exec):
        # A relu whose readers are all requants is applied by them (`reference.Plan.fused_relu`).
        return ins[0] if run.fuse and self.name in run.plan.fused_relu else ins[0].clamp_min(0)


class RequantNode(OpNode):
    """`y = sat(round(x * 2**(x.exp - quant.exp)))`: a right shift by `quant.exp - x.exp` with the graph's
    rounding (an exact left shift when negative), then saturation to the quantizer's integer range."""

    op: Literal["requant"] = "requant"
    quant: TensorQuant

    def infer_exp(self, ins: list[int]) -> int:
        return self.quant.exp

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        # Monotone: the interval's ends through the requant (never wider than the quantizer).
        x = ins[0]
        ends = np.array([x.lo, x.hi], dtype=object)  # Python ints: exact at any width
        lo, hi = requant_int(ends, self.quant.exp - x.exp, self.quant, rounding)
        return int(lo), int(hi)

    def widest_operand(self, ins: list[TensorRange], out: TensorRange) -> int:
        return aligned_operand_bound(ins, out)

    def execute(self, ins: list, run: Exec):
        src = self.inputs[0]
        return requant(
            ins[0],
            self.quant.exp - run.exps[src],
            self.quant,
            run.rounding,
            relu=run.fuse and src in run.plan.fused_relu,
            inplace=run.inplace and self.name in run.plan.inplace,
        )


@onnx_reader("Relu")
def _read_relu(b: Builder, node) -> None:
    b.emit(node, ReluNode(name=node.name, inputs=[b.tensor(node).node]))
