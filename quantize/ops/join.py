"""Joins: `add` and `concat` (channels), exact; inputs aligned to the smallest exp by left shifts."""

from __future__ import annotations

from typing import ClassVar, Literal

from fluorogate.errors import UserError
from fluorogate.quantize.onnx_read import Builder, attrs, onnx_reader
from fluorogate.quantize.ops.base import Exec, OpNode, align, aligned_operand_bound
from fluorogate.quantize.tensors import Rounding, TensorRange


class _Join(OpNode):
    arity: ClassVar[int | None] = None

    def widest_operand(self, ins: list[TensorRange], out: TensorRange) -> int:
        return aligned_operand_bound(ins, out)

    def _aligned(self, ins: list, run: Exec) -> list:
        return align(ins, [run.exps[i] for i in self.inputs], run.exps[self.name])

    def _aligned_ends(self, ins: list[TensorRange], exp: int) -> tuple[list[int], list[int]]:
        return [r.lo << (r.exp - exp) for r in ins], [r.hi << (r.exp - exp) for r in ins]


class AddNode(_Join):
    """Element-wise sum of the aligned inputs."""

    op: Literal["add"] = "add"
    arity: ClassVar[int | None] = 2

    def infer_channels(self, ins: list[int]) -> int:
        if len(set(ins)) != 1:
            raise ValueError(f"add node {self.name!r} adds tensors of {ins} channels")
        return ins[0]

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        los, his = self._aligned_ends(ins, exp)
        return sum(los), sum(his)

    def execute(self, ins: list, run: Exec):
        a, b = self._aligned(ins, run)
        return a + b


class ConcatNode(_Join):
    """Channel concat of the aligned inputs, in input order."""

    op: Literal["concat"] = "concat"

    def infer_channels(self, ins: list[int]) -> int:
        return sum(ins)

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        los, his = self._aligned_ends(ins, exp)
        return min(los), max(his)

    def execute(self, ins: list, run: Exec):
        import torch

        return torch.cat(self._aligned(ins, run), 0)


@onnx_reader("Add")
def _read_add(b: Builder, node) -> None:
    b.emit(node, AddNode(name=node.name, inputs=[b.tensor(node, i).node for i in range(len(node.input))]))


@onnx_reader("Concat")
def _read_concat(b: Builder, node) -> None:
    axis = attrs(node).get("axis")
    if axis not in (1, -3):
        raise UserError(f"node {node.name} (Concat): axis {axis}; only channel concat (axis 1) is supported")
    b.emit(node, ConcatNode(name=node.name, inputs=[b.tensor(node, i).node for i in range(len(node.input))]))
