"""The IntegerGraph: the one IR of the hardware.

Every hardware back end (the integer reference, range analysis, hls4ml type checks, FINN checks, the
Verilog generator) reads this and nothing else: nobody re-derives scales from ONNX on their own. It is
built from the exported QONNX file (`fluorogate.quantize.from_qonnx`), stored as JSON in a run folder
(`ir.json`), and carries the range analysis so that accumulator widths travel with the graph.

Semantics (all tensors are integers; a tensor's real value is `int * 2**exp`):
- Tensors are NCHW-free: a node's output is one tensor named after the node, shape (C, H, W) per
  frame. Nodes are listed in topological order; `inputs` name earlier nodes.
- Each op is one class in `quantize/ops/` (`OpNode`): its fields, its shape, channels, exponent, range,
  accumulator bound, reference execution and streaming window. The ops today: `input` (camera codes on
  the input quantizer's grid, `camera` saying how raw ADU become them), `conv` (dense k x k, k = 1, 3,
  5), `dwconv` (depthwise k x k), `relu`, `requant` (the only place that rounds), `add`, `concat`,
  `maxpool2`, `upsample2`.
`IntegerGraph.exps()`, `channels()` and `sizes()` derive every tensor's exp, channel count and frame
size from the ops (no node stores them twice). Full description, JSON format and the QONNX mapping:
docs/ir.md.
Rounding is one per graph: `half_even` (QONNX ROUND, hls4ml AP_RND_CONV) or `half_up`
(`floor(x + 0.5)`, round half towards +inf; ap_fixed AP_RND; FINN's thresholds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorogate.errors import UserError
from fluorogate.quantize.ops import OPS, OpNode

# The value types and the classes of the original ops, re-exported for the code that imports them from
# here; a new op's class is imported from its own module (quantize/ops/<module>.py).
from fluorogate.quantize.ops.conv import ConvNode
from fluorogate.quantize.ops.input import InputNode
from fluorogate.quantize.ops.join import AddNode, ConcatNode
from fluorogate.quantize.ops.pointwise import ReluNode, RequantNode
from fluorogate.quantize.ops.resample import MaxPoolNode, UpsampleNode
from fluorogate.quantize.tensors import CameraConversion, Rounding, TensorQuant, TensorRange

__all__ = [
    "AddNode",
    "CameraConversion",
    "ConcatNode",
    "ConvNode",
    "InputNode",
    "IntegerGraph",
    "MaxPoolNode",
    "Node",
    "OpNode",
    "ReluNode",
    "RequantNode",
    "Rounding",
    "TensorQuant",
    "TensorRange",
    "UpsampleNode",
]

IR_VERSION = 1

# Every registered op class (quantize/ops/), told apart by its `op` field.
Node = Annotated[Union[tuple(OPS.values())], Field(discriminator="op")]  # noqa: UP007 - a runtime tuple


class IntegerGraph(BaseModel):
    """A quantized network as integer operations; see the module docstring for the semantics."""

    model_config = ConfigDict(extra="forbid")

    ir_version: int = IR_VERSION
    name: str
    rounding: Rounding
    nodes: list[Node]
    output: str
    ranges: dict[str, TensorRange] = Field(default_factory=dict)  # filled by range analysis
    meta: dict[str, str] = Field(default_factory=dict)  # provenance: source file, versions, task

    @model_validator(mode="after")
    def _check_structure(self) -> IntegerGraph:
        seen: set[str] = set()
        for node in self.nodes:
            if node.name in seen:
                raise ValueError(f"node name {node.name!r} is used twice")
            for src in node.inputs:
                if src not in seen:
                    raise ValueError(f"node {node.name!r} reads {src!r}, which is not an earlier node")
            node.check_inputs()
            seen.add(node.name)
        if self.output not in seen:
            raise ValueError(f"output {self.output!r} is not a node")
        if sum(isinstance(n, InputNode) for n in self.nodes) != 1:
            raise ValueError("an IntegerGraph has exactly one input node")
        self.channels()  # every node's weights fit its input's channels
        return self

    @property
    def input(self) -> InputNode:
        return next(n for n in self.nodes if isinstance(n, InputNode))

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def exps(self) -> dict[str, int]:
        """Each tensor's exponent, from its op (`OpNode.infer_exp`)."""
        exps: dict[str, int] = {}
        for n in self.nodes:
            exps[n.name] = n.infer_exp([exps[i] for i in n.inputs])
        return exps

    def channels(self) -> dict[str, int]:
        """Each tensor's channel count, from its op (`OpNode.infer_channels`; ValueError where a node's
        weights do not fit its input)."""
        ch: dict[str, int] = {}
        for n in self.nodes:
            ch[n.name] = n.infer_channels([ch[i] for i in n.inputs])
        return ch

    def sizes(self, height: int, width: int) -> dict[str, tuple[int, int]]:
        """Each tensor's (height, width) for a `height` x `width` input frame, from its op
        (`OpNode.infer_size`; UserError for a frame size an op cannot take, e.g. odd at a pool)."""
        sizes: dict[str, tuple[int, int]] = {}
        for n in self.nodes:
            sizes[n.name] = n.infer_size([sizes[i] for i in n.inputs] or [(height, width)])
        return sizes

    def digest(self) -> str:
        """SHA-256 of what the graph computes (nodes, weights, rounding, ranges; not `meta`'s provenance):
        the identity a generated design and a build record, so the bench verifies them without
        regenerating."""
        import hashlib

        return hashlib.sha256(self.model_dump_json(exclude={"meta"}).encode()).hexdigest()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=1))

    @classmethod
    def load(cls, path: str | Path) -> IntegerGraph:
        path = Path(path)
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise UserError(f"{path}: no such IR file") from exc
        except (json.JSONDecodeError, ValueError) as exc:
            raise UserError(f"{path}: not a valid fluorogate IR: {exc}") from exc
