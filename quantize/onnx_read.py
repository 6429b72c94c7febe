"""The state of one QONNX -> IR pass and the per-op readers that fill it (`from_qonnx` drives it).

Each ONNX tensor is tracked as

- `FloatInput`: the graph input before its quantizer (only a `Quant` may read it);
- `Const`: an initializer, or a `Quant` of one: integer codes and a power-of-two exp (weights, biases);
- `Tensor`: a tensor of the IntegerGraph: the IR node that makes it and its exp.

An op module registers the reader of each ONNX op type it imports (`@onnx_reader("Conv", accepts=...)`,
hls4ml's `@onnx_handler` in spirit), next to the IR op it emits; several readers may share a type (a
dense and a depthwise `Conv`), each `accepts` the nodes that are its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fluorogate.errors import UserError
from fluorogate.quantize.tensors import CameraConversion, TensorQuant


@dataclass(frozen=True)
class FloatInput:
    """The float graph input, before its quantizer."""


@dataclass(frozen=True)
class Const:
    value: np.ndarray  # integer codes if `exp` is set, else raw float initializer
    exp: int | None = None
    quant: TensorQuant | None = None


@dataclass(frozen=True)
class Tensor:
    node: str
    exp: int


class Builder:
    """State of the single pass: ONNX tensor name -> tracked value, IR nodes emitted so far."""

    def __init__(self, model, camera: CameraConversion | None):
        self.model = model
        self.camera = camera
        self.values: dict[str, FloatInput | Const | Tensor] = {}
        self.nodes: list = []
        self.exps: dict[str, int] = {}
        self.roundings: dict[str, str] = {}  # Quant node name -> IR rounding

    def emit(self, onnx_node, ir_node) -> Tensor:
        """Append `ir_node` to the graph; the ONNX node's output is its tensor from now on."""
        self.nodes.append(ir_node)
        self.exps[ir_node.name] = ir_node.infer_exp([self.exps[i] for i in ir_node.inputs])
        out = Tensor(ir_node.name, self.exps[ir_node.name])
        self.values[onnx_node.output[0]] = out
        return out

    def get(self, onnx_node, i: int):
        name = onnx_node.input[i]
        if name in self.values:
            return self.values[name]
        init = self.model.get_initializer(name)
        if init is None:
            raise UserError(f"node {onnx_node.name} ({onnx_node.op_type}): input {name!r} has no producer")
        return Const(np.asarray(init))

    def tensor(self, onnx_node, i: int = 0) -> Tensor:
        v = self.get(onnx_node, i)
        if isinstance(v, Tensor):
            return v
        what = "the unquantized graph input" if isinstance(v, FloatInput) else "a constant"
        raise UserError(
            f"node {onnx_node.name} ({onnx_node.op_type}): input {i} is {what}; "
            "the hardware needs a quantized tensor there (add a Quant/QuantIdentity before it)"
        )


def attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


Reader = Callable[[Builder, object], None]
Accepts = Callable[[object], bool]
READERS: dict[str, list[tuple[Accepts | None, Reader]]] = {}  # ONNX op type -> its readers


def onnx_reader(*op_types: str, accepts: Accepts | None = None):
    """Register the decorated `reader(builder, onnx_node)` for `op_types` (for the nodes `accepts` takes)."""

    def register(reader: Reader) -> Reader:
        for t in op_types:
            READERS.setdefault(t, []).append((accepts, reader))
        return reader

    return register


def reader_for(node) -> Reader | None:
    """The registered reader that takes `node`, or None."""
    return next((r for accepts, r in READERS.get(node.op_type, []) if accepts is None or accepts(node)), None)
