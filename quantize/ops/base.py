"""What an IR op is: one class per op, holding everything the IR knows about it.

An op class is the node's JSON schema (a pydantic model, `op` its discriminator) and its semantics,
in the style of qonnx's `CustomOp`: the shape it makes (`infer_channels`, `infer_size`), its output
grid (`infer_exp`), its proven output range (`infer_range`) and accumulator bound, its exact reference
execution (`execute`, on whole frames and on row windows), and how it streams (`row_window`: the rows
it looks at per output, `arrival`: its receptive field in time). The IR's graph-level code
(`ir.IntegerGraph`, `ranges`, `reference`, `streaming`) loops over nodes and asks each one; nothing
there branches on the op. Back ends register their own handler per op name (`registry.Registry`).

Defining a subclass with `op: Literal["name"] = "name"` registers it (`OPS`); `ir.Node` is the
discriminated union of every registered class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorogate.quantize.tensors import Rounding, TensorRange

OPS: dict[str, type[OpNode]] = {}  # op name -> its class, filled as op modules are imported


class RowWindow(NamedTuple):
    """How the streaming reference feeds an op, row by row: it collects `rows` input rows (after `pad`
    zero rows above the frame, and `pad` below it at the end of the frame), runs on them, then drops the
    oldest `stride`. A k x k conv: (k, 1, k // 2); maxpool 2x2: (2, 2, 0); element-wise: (1, 1, 0)."""

    rows: int = 1
    stride: int = 1
    pad: int = 0


@dataclass(frozen=True)
class Exec:
    """One call of `OpNode.execute`: the graph's prepared constants (`reference.Plan`: `exps`, `consts`,
    `carrier`, the fusions) and the call's form.

    `pad_rows=False`: the streaming form, a windowed op gets its rows with the borders already zero.
    `fuse=False`: every node computes its own output (a relu fused into the requant after it too).
    `inplace=True`: a requant in `plan.inplace` may overwrite its input tensor.
    """

    plan: Any
    pad_rows: bool = True
    fuse: bool = True
    inplace: bool = False

    @property
    def exps(self) -> dict[str, int]:
        return self.plan.exps

    @property
    def rounding(self) -> Rounding:
        return self.plan.graph.rounding


class OpNode(BaseModel):
    """One node of the IntegerGraph. Its output is one tensor named after it, shape (C, H, W) per frame."""

    model_config = ConfigDict(extra="forbid")

    name: str
    inputs: list[str] = Field(default_factory=list)
    op: str

    arity: ClassVar[int | None] = 1  # how many inputs; None: two or more

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        op = cls.model_fields["op"].default
        if isinstance(op, str):  # a concrete op (a base class of several ops leaves `op` open)
            if op in OPS and OPS[op].__qualname__ != cls.__qualname__:
                raise TypeError(
                    f"IR op {op!r} is defined twice: {OPS[op].__qualname__} and {cls.__qualname__}"
                )
            OPS[op] = cls

    # --- structure -----------------------------------------------------------------------------------

    def check_inputs(self) -> None:
        """ValueError when the node has the wrong number of inputs."""
        n = len(self.inputs)
        if self.arity is None and n < 2:
            raise ValueError(f"{self.op} node {self.name!r} needs at least 2 inputs, has {n}")
        if self.arity is not None and n != self.arity:
            raise ValueError(f"{self.op} node {self.name!r} has {n} inputs, wants {self.arity}")

    def infer_channels(self, ins: list[int]) -> int:
        """Output channels from the inputs' (ValueError when they do not fit the node)."""
        return ins[0]

    def infer_size(self, ins: list[tuple[int, int]]) -> tuple[int, int]:
        """Output (height, width) from the inputs' (UserError for a frame size the op cannot take)."""
        return ins[0]

    def infer_exp(self, ins: list[int]) -> int:
        """The output's exponent (real value = int * 2**exp) from the inputs'."""
        return min(ins)

    # --- range analysis ------------------------------------------------------------------------------

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        """Proven [lo, hi] of the output integers, from the inputs' proven ranges (interval arithmetic)."""
        raise NotImplementedError(f"IR op {self.op!r} has no range analysis")

    def accumulator_bound(self, ins: list[TensorRange]) -> int | None:
        """For an op that sums products: the largest |partial sum| in any order of summation; else None."""
        return None

    def widest_operand(self, ins: list[TensorRange], out: TensorRange) -> int:
        """The largest magnitude the op computes beyond its input and output tensors and its accumulator
        (weights, operands aligned by a left shift, rounding offsets): `reference.widest_integer`."""
        return 0

    # --- reference execution -------------------------------------------------------------------------

    def constants(self, carrier) -> Any:
        """The op's constants (weights, biases) as torch tensors in the reference's carrier dtype."""
        return None

    def execute(self, ins: list, run: Exec):
        """The output on int-valued torch tensors (C, H, W): a whole frame, or rows (`Exec.pad_rows`)."""
        raise NotImplementedError(f"IR op {self.op!r} has no reference execution")

    # --- streaming -----------------------------------------------------------------------------------

    def row_window(self) -> RowWindow:
        return RowWindow()

    def arrival(self, ins: list[np.ndarray]) -> np.ndarray:
        """Earliest time each output pixel is known, from its inputs' (H, W) times: the latest input it
        depends on (its receptive field; zero padding needs no data)."""
        return np.maximum.reduce(ins)


def aligned_operand_bound(ins: list[TensorRange], out: TensorRange) -> int:
    """Largest magnitude of an input brought onto the output's exponent (left shift to a finer grid) plus
    the rounding offset added before a right shift: what add, concat and requant compute on the way."""
    widest = 0
    for r in ins:
        shift = out.exp - r.exp
        widest = max(widest, (r.magnitude << max(-shift, 0)) + (1 << max(shift - 1, 0)))
    return widest


def align(values: list, in_exps: list[int], exp: int) -> list:
    """Integer tensors on exponents `in_exps` brought exactly onto the finer-or-equal `exp` (left shifts)."""
    return [v * (1 << (e - exp)) if e > exp else v for v, e in zip(values, in_exps, strict=True)]
