"""The IntegerGraph: the one IR of the hardware.

Every hardware back end (the integer reference, range analysis, hls4ml type checks, FINN checks, the
Verilog generator) reads this and nothing else: nobody re-derives scales from ONNX on their own. It is
built from the exported QONNX file (`fluorogate.quantize.from_qonnx`), stored as JSON in a run folder
(`ir.json`), and carries the range analysis so that accumulator widths travel with the graph.

Semantics (all tensors are integers; a tensor's real value is `int * 2**exp`):
- Tensors are NCHW-free: a node's output is one tensor named after the node, shape (C, H, W) per
  frame. Nodes are listed in topological order; `inputs` name earlier nodes.
- `input`: camera codes already on the input quantizer's grid (bits, signed, exp). `camera` says how
  raw ADU become those codes in hardware: `sat(round_shift(adu - offset, shift))`.
- `conv`: `acc = sum(w * x) + bias`, zero 'same' padding, stride 1, kernel 1 or 3. Exact: the output
  exp is `input.exp + weight_exp`; the bias is stored already on that exp (Int16Bias guarantees it).
- `relu`: `max(x, 0)`, exp unchanged.
- `requant`: the only place that rounds. `y = sat(round(x * 2**(x.exp - quant.exp)))`: a right
  shift by `quant.exp - x.exp` with the graph's rounding (or an exact left shift when negative),
  then saturation to the quantizer's integer range.
- `add`, `concat`: exact; inputs aligned to the smallest exp by left shifts.
- `maxpool2`: 2x2, stride 2. `upsample2`: nearest, factor 2. Both keep exp.
`IntegerGraph.exps()` derives every tensor's exp from these rules. Full description, JSON format and
the QONNX mapping: docs/ir.md.
Rounding is one per graph: `half_even` (QONNX ROUND, hls4ml AP_RND_CONV) or `half_up`
(`floor(x + 0.5)`, round half towards +inf; ap_fixed AP_RND; FINN's thresholds).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorogate.errors import UserError

Rounding = Literal["half_even", "half_up"]
IR_VERSION = 1


class TensorQuant(BaseModel):
    """A quantizer's integer grid: `bits` wide, `signed` or not, real value `int * 2**exp`."""

    model_config = ConfigDict(frozen=True)

    bits: int = Field(ge=1, le=32)
    signed: bool
    narrow: bool = False  # signed narrow range: -(2**(b-1)-1) .. 2**(b-1)-1 (Brevitas weights)
    exp: int

    @property
    def min_int(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def max_int(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1


class TensorRange(BaseModel):
    """Result of static range analysis for one tensor: exact integer bounds and the width they need."""

    model_config = ConfigDict(frozen=True)

    lo: int
    hi: int
    exp: int

    @property
    def signed(self) -> bool:
        return self.lo < 0

    @property
    def bits(self) -> int:
        """Smallest two's-complement (if signed) or unsigned width holding [lo, hi]."""
        if self.signed:
            return max(self.hi.bit_length(), (-self.lo - 1).bit_length()) + 1
        return max(self.hi.bit_length(), 1)


class CameraConversion(BaseModel):
    """Raw camera ADU to input codes, in integer hardware: `sat(round_shift(adu - offset, shift))`."""

    adu_bits: int = Field(ge=1, le=32)
    offset: int
    shift: int  # right shift (>0) with the graph's rounding; negative means an exact left shift


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    inputs: list[str] = Field(default_factory=list)


class InputNode(_Node):
    op: Literal["input"] = "input"
    channels: int = Field(ge=1)
    quant: TensorQuant
    camera: CameraConversion | None = None


class ConvNode(_Node):
    op: Literal["conv"] = "conv"
    kernel: Literal[1, 3]
    weight: list  # int, shape (out_channels, in_channels, kernel, kernel)
    weight_quant: TensorQuant
    bias: list[int] | None = None  # on exp `input exp + weight_quant.exp`

    @cached_property
    def weight_array(self) -> np.ndarray:
        return np.asarray(self.weight, dtype=np.int64)

    @property
    def out_channels(self) -> int:
        return len(self.weight)

    @property
    def in_channels(self) -> int:
        return len(self.weight[0])

    @model_validator(mode="after")
    def _check_shapes(self) -> ConvNode:
        w = np.asarray(self.weight)
        if w.ndim != 4 or w.shape[2:] != (self.kernel, self.kernel):
            raise ValueError(f"conv {self.name}: weight shape {w.shape} is not (O, I, {self.kernel}, {self.kernel})")
        if self.bias is not None and len(self.bias) != w.shape[0]:
            raise ValueError(f"conv {self.name}: {len(self.bias)} biases for {w.shape[0]} output channels")
        return self


class ReluNode(_Node):
    op: Literal["relu"] = "relu"


class RequantNode(_Node):
    op: Literal["requant"] = "requant"
    quant: TensorQuant


class AddNode(_Node):
    op: Literal["add"] = "add"


class ConcatNode(_Node):
    op: Literal["concat"] = "concat"


class MaxPoolNode(_Node):
    op: Literal["maxpool2"] = "maxpool2"


class UpsampleNode(_Node):
    op: Literal["upsample2"] = "upsample2"


Node = Annotated[
    InputNode | ConvNode | ReluNode | RequantNode | AddNode | ConcatNode | MaxPoolNode | UpsampleNode,
    Field(discriminator="op"),
]

_ARITY = {"input": 0, "conv": 1, "relu": 1, "requant": 1, "add": 2, "maxpool2": 1, "upsample2": 1}


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
            arity = _ARITY.get(node.op)
            if arity is not None and len(node.inputs) != arity:
                raise ValueError(f"{node.op} node {node.name!r} has {len(node.inputs)} inputs, wants {arity}")
            if node.op == "concat" and len(node.inputs) < 2:
                raise ValueError(f"concat node {node.name!r} needs at least 2 inputs")
            seen.add(node.name)
        if self.output not in seen:
            raise ValueError(f"output {self.output!r} is not a node")
        if sum(n.op == "input" for n in self.nodes) != 1:
            raise ValueError("an IntegerGraph has exactly one input node")
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
        """Each tensor's exponent, derived from the semantics above (no node stores it twice)."""
        exps: dict[str, int] = {}
        for n in self.nodes:
            if isinstance(n, InputNode | RequantNode):
                exps[n.name] = n.quant.exp
            elif isinstance(n, ConvNode):
                exps[n.name] = exps[n.inputs[0]] + n.weight_quant.exp
            else:  # relu/maxpool2/upsample2 keep exp; add/concat align to the smallest
                exps[n.name] = min(exps[i] for i in n.inputs)
        return exps

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
