"""QONNX (as Brevitas exports it) -> IntegerGraph: the only place that reads scales from ONNX.

Two steps. First small qonnx Transformations normalise the file (`cleanup_model`, then cancelling
Transpose pairs left by a channels-last conversion, then a topological sort). Then one pass over the
nodes with a pattern table, `_HANDLERS`, one function per ONNX op type. Each ONNX tensor is tracked as

- `_Float`: the graph input before its quantizer (only a `Quant` may read it);
- `_Const`: an initializer, or a `Quant` of one: integer codes and a power-of-two exp (weights, biases);
- `_Int`: a tensor of the IntegerGraph: the IR node that makes it and its exp.

| ONNX                                  | IR                                                      |
|---------------------------------------|---------------------------------------------------------|
| `Quant(graph input)`                  | `input` (bits, signed, narrow, exp)                     |
| `Quant(initializer)`                  | constant codes (weights, biases)                        |
| `Quant(tensor)`                       | `requant` to the quantizer's grid                       |
| `Conv(x, Quant(W), Quant(b))`         | `conv` (k 1 or 3, stride 1, 'same', no groups)          |
| `Relu`, `Add`, `Concat(axis 1)`       | `relu`, `add`, `concat`                                 |
| `MaxPool(2x2, stride 2)`              | `maxpool2`                                              |
| `Resize/Upsample(nearest, x2)`        | `upsample2`                                             |
| `Identity`                            | (nothing)                                               |

Anything else (a scale that is not a power of two, per-channel scales that differ, a zero point, an
unknown op, a stride/dilation/group/padding other than 'same' stride 1, a float tensor reaching a
compute node) raises `UserError` naming the ONNX node and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluorogate.errors import UserError
from fluorogate.quantize.export import read_metadata
from fluorogate.quantize.ir import (
    AddNode,
    CameraConversion,
    ConcatNode,
    ConvNode,
    InputNode,
    IntegerGraph,
    MaxPoolNode,
    ReluNode,
    RequantNode,
    Rounding,
    TensorQuant,
    UpsampleNode,
)
from fluorogate.quantize.ranges import analyze
from fluorogate.quantize.reference import FLOAT32_EXACT, widest_integer

# QONNX rounding_mode of activation quantizers -> the IR's rounding. qonnx's HALF_UP is sign-symmetric
# (half away from zero); the IR's half_up is floor(x + 1/2): they differ on negative ties only (docs/ir.md).
_ROUNDING = {"ROUND": "half_even", "HALF_EVEN": "half_even", "HALF_UP": "half_up"}


@dataclass(frozen=True)
class _Float:
    """The float graph input, before its quantizer."""


@dataclass(frozen=True)
class _Const:
    value: np.ndarray  # integer codes if `exp` is set, else raw float initializer
    exp: int | None = None
    quant: TensorQuant | None = None


@dataclass(frozen=True)
class _Int:
    node: str
    exp: int


class _Builder:
    """State of the single pass: ONNX tensor name -> tracked value, IR nodes emitted so far."""

    def __init__(self, model, camera: CameraConversion | None):
        self.model = model
        self.camera = camera
        self.values: dict[str, _Float | _Const | _Int] = {}
        self.nodes: list = []
        self.roundings: dict[str, str] = {}  # Quant node name -> IR rounding

    def emit(self, node) -> _Int:
        self.nodes.append(node)
        exps = IntegerGraph.model_construct(nodes=self.nodes).exps()
        return _Int(node.name, exps[node.name])

    def get(self, onnx_node, i: int):
        name = onnx_node.input[i]
        if name in self.values:
            return self.values[name]
        init = self.model.get_initializer(name)
        if init is None:
            raise UserError(f"node {onnx_node.name} ({onnx_node.op_type}): input {name!r} has no producer")
        return _Const(np.asarray(init))

    def tensor(self, onnx_node, i: int = 0) -> _Int:
        v = self.get(onnx_node, i)
        if isinstance(v, _Int):
            return v
        what = "the unquantized graph input" if isinstance(v, _Float) else "a constant"
        raise UserError(f"node {onnx_node.name} ({onnx_node.op_type}): input {i} is {what}; "
                        "the hardware needs a quantized tensor there (add a Quant/QuantIdentity before it)")


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pow2_exp(scale: np.ndarray, node, what: str) -> int:
    """The integer `e` with `scale == 2**e` everywhere, or a UserError saying why not."""
    s = np.unique(np.asarray(scale, dtype=np.float64).ravel())
    if s.size != 1:
        raise UserError(f"node {node.name} (Quant): {what} has {s.size} different per-channel scales "
                        f"({s.min():g}..{s.max():g}); the hardware needs one power-of-two scale per tensor")
    mant, e = np.frexp(s[0])
    if 0 < s[0] < 2.0**-32:
        raise UserError(f"node {node.name} (Quant): {what} scale {s[0]:g} is a collapsed scale (Brevitas's "
                        "scaling_min_val, 1e-10, or a product with it): a quantizer here or upstream saw only "
                        "zeros in calibration/training, a dead layer; retrain or recalibrate")
    if not np.isfinite(s[0]) or s[0] <= 0 or mant != 0.5:
        raise UserError(f"node {node.name} (Quant): {what} scale {s[0]:.9g} is not a power of two "
                        "(use a *FixedPoint quantizer: Int8WeightPerTensorFixedPoint, Int8ActPerTensorFixedPoint, ...)")
    return int(e) - 1


def _quant(b: _Builder, node) -> None:
    from qonnx.custom_op.general.intquant import int_quant

    if len(node.input) != 4:
        raise UserError(f"node {node.name} (Quant): expected 4 inputs (x, scale, zero point, bit width)")
    params = []
    for i in (1, 2, 3):
        p = b.get(node, i)
        if not isinstance(p, _Const) or p.exp is not None:
            raise UserError(f"node {node.name} (Quant): input {i} must be a constant initializer")
        params.append(p.value)
    scale, zeropt, bits_arr = params
    attrs = _attrs(node)
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    mode = attrs.get("rounding_mode", b"ROUND")
    mode = (mode.decode() if isinstance(mode, bytes) else mode).upper()
    if np.any(np.asarray(zeropt) != 0):
        raise UserError(f"node {node.name} (Quant): non-zero zero point; the hardware needs symmetric quantizers")
    bits = float(np.asarray(bits_arr).ravel()[0])
    if np.asarray(bits_arr).size != 1 or bits != int(bits) or not 2 <= bits <= 32:
        raise UserError(f"node {node.name} (Quant): bit width {bits_arr!r} is not one integer in 2..32")
    x = b.get(node, 0)
    exp = _pow2_exp(scale, node, "the tensor's")
    quant = TensorQuant(bits=int(bits), signed=signed, narrow=narrow and signed, exp=exp)
    if isinstance(x, _Const):
        if x.exp is not None:
            raise UserError(f"node {node.name} (Quant): quantizes an already quantized constant")
        y = int_quant(x.value, scale, zeropt, np.asarray(bits_arr), signed, narrow, mode)
        b.values[node.output[0]] = _Const(np.rint(y / 2.0**exp).astype(np.int64), exp, quant)
        return
    if mode not in _ROUNDING:
        raise UserError(f"node {node.name} (Quant): rounding_mode {mode} has no hardware form; "
                        f"use one of {sorted(_ROUNDING)}")
    b.roundings[node.name] = _ROUNDING[mode]
    if isinstance(x, _Float):
        if any(isinstance(n, InputNode) for n in b.nodes):
            raise UserError(f"node {node.name} (Quant): a second quantizer on the graph input")
        shape = b.model.get_tensor_shape(node.input[0])
        if shape is None or len(shape) != 4 or shape[0] != 1:
            raise UserError(f"node {node.name} (Quant): graph input shape {shape} is not (1, C, H, W)")
        b.values[node.output[0]] = b.emit(InputNode(name="input", channels=int(shape[1]), quant=quant,
                                                           camera=b.camera))
        return
    src = b.tensor(node)
    b.values[node.output[0]] = b.emit(RequantNode(name=node.name, inputs=[src.node], quant=quant))


def _conv_weights(b: _Builder, node) -> tuple[np.ndarray, TensorQuant]:
    w = b.get(node, 1)
    if not isinstance(w, _Const) or w.exp is None:
        raise UserError(f"node {node.name} (Conv): weights are not quantized (Quant on the weight initializer "
                        "with a power-of-two scale, e.g. Int8WeightPerTensorFixedPoint)")
    if not w.quant.signed:
        raise UserError(f"node {node.name} (Conv): unsigned weight quantizer; the hardware takes signed weights")
    return w.value, w.quant


def _conv_bias(b: _Builder, node, out_exp: int, out_channels: int) -> list[int] | None:
    if len(node.input) < 3 or not node.input[2]:
        return None
    bias = b.get(node, 2)
    if not isinstance(bias, _Const):
        raise UserError(f"node {node.name} (Conv): bias is not a constant")
    if bias.exp is None:  # a float initializer: accept it only if it lies exactly on the accumulator grid
        ints = bias.value.astype(np.float64) / 2.0**out_exp
        if np.any(ints != np.rint(ints)):
            raise UserError(f"node {node.name} (Conv): float bias is not on the accumulator grid 2**{out_exp}; "
                            "quantize it (Int16Bias)")
        codes, exp = np.rint(ints).astype(np.int64), out_exp
    else:
        codes, exp = bias.value, bias.exp
    if exp < out_exp:
        raise UserError(f"node {node.name} (Conv): bias scale 2**{exp} is finer than the accumulator's "
                        f"2**{out_exp}; it would need rounding (use Int16Bias: scale = input scale * weight scale)")
    codes = codes.ravel() << (exp - out_exp)  # exact alignment onto the accumulator grid
    if codes.size != out_channels:
        raise UserError(f"node {node.name} (Conv): {codes.size} biases for {out_channels} output channels")
    return [int(v) for v in codes]


def _conv(b: _Builder, node) -> None:
    x = b.tensor(node)
    w, wq = _conv_weights(b, node)
    a = _attrs(node)
    if w.ndim != 4 or w.shape[2] != w.shape[3] or w.shape[2] not in (1, 3):
        raise UserError(f"node {node.name} (Conv): kernel {w.shape[2:]} is not 1x1 or 3x3")
    k = w.shape[2]
    pad = k // 2
    problems = []
    if a.get("group", 1) != 1:
        problems.append(f"group={a['group']} (grouped/depthwise conv)")
    if list(a.get("strides", [1, 1])) != [1, 1]:
        problems.append(f"strides={list(a['strides'])}")
    if list(a.get("dilations", [1, 1])) != [1, 1]:
        problems.append(f"dilations={list(a['dilations'])}")
    auto_pad = a.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER") or (
            auto_pad == "NOTSET" and list(a.get("pads", [0] * 4)) != [pad] * 4):
        problems.append(f"padding {list(a.get('pads', []))} auto_pad={auto_pad} (needs 'same': pads={[pad] * 4})")
    if problems:
        raise UserError(f"node {node.name} (Conv): unsupported {', '.join(problems)}; "
                        "the hardware does 'same' zero padding, stride 1, no dilation, no groups")
    out_exp = x.exp + wq.exp
    bias = _conv_bias(b, node, out_exp, w.shape[0])
    b.values[node.output[0]] = b.emit(ConvNode(name=node.name, inputs=[x.node], kernel=k,
                                               weight=w.astype(np.int64).tolist(), weight_quant=wq, bias=bias))


def _relu(b: _Builder, node) -> None:
    b.values[node.output[0]] = b.emit(ReluNode(name=node.name, inputs=[b.tensor(node).node]))


def _add(b: _Builder, node) -> None:
    ins = [b.tensor(node, i).node for i in range(len(node.input))]
    b.values[node.output[0]] = b.emit(AddNode(name=node.name, inputs=ins))


def _concat(b: _Builder, node) -> None:
    axis = _attrs(node).get("axis")
    if axis not in (1, -3):
        raise UserError(f"node {node.name} (Concat): axis {axis}; only channel concat (axis 1) is supported")
    ins = [b.tensor(node, i).node for i in range(len(node.input))]
    b.values[node.output[0]] = b.emit(ConcatNode(name=node.name, inputs=ins))


def _maxpool(b: _Builder, node) -> None:
    a = _attrs(node)
    ok = (list(a.get("kernel_shape", [])) == [2, 2] and list(a.get("strides", [1, 1])) == [2, 2]
          and not any(a.get("pads", [0] * 4)) and not a.get("ceil_mode", 0)
          and list(a.get("dilations", [1, 1])) == [1, 1])
    if not ok:
        raise UserError(f"node {node.name} (MaxPool): {a}; only 2x2 stride 2 without padding is supported")
    b.values[node.output[0]] = b.emit(MaxPoolNode(name=node.name, inputs=[b.tensor(node).node]))


# (coordinate_transformation_mode, nearest_mode) pairs that make nearest x2 a plain pixel repeat.
_REPEAT_MODES = {("asymmetric", "floor"), ("asymmetric", "round_prefer_floor"),
                 ("half_pixel", "round_prefer_floor"), ("half_pixel", "round_prefer_ceil"),
                 ("pytorch_half_pixel", "round_prefer_floor"), ("pytorch_half_pixel", "round_prefer_ceil")}


def _resize(b: _Builder, node) -> None:
    a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in _attrs(node).items()}
    x = b.tensor(node)
    mode = a.get("mode", "nearest")
    ctm, nm = a.get("coordinate_transformation_mode", "half_pixel"), a.get("nearest_mode", "round_prefer_floor")
    if node.op_type == "Upsample":
        ctm, nm = "asymmetric", "floor"
    in_shape, out_shape = b.model.get_tensor_shape(node.input[0]), b.model.get_tensor_shape(node.output[0])
    factor_ok = (in_shape is not None and out_shape is not None and len(in_shape) == 4
                 and list(out_shape) == [in_shape[0], in_shape[1], 2 * in_shape[2], 2 * in_shape[3]])
    if mode != "nearest" or (ctm, nm) not in _REPEAT_MODES or not factor_ok:
        raise UserError(f"node {node.name} ({node.op_type}): mode={mode} {ctm}/{nm} shape {in_shape}->{out_shape}; "
                        "only nearest x2 upsampling (pixel repeat) is supported")
    b.values[node.output[0]] = b.emit(UpsampleNode(name=node.name, inputs=[x.node]))


def _identity(b: _Builder, node) -> None:
    b.values[node.output[0]] = b.get(node, 0)


_HANDLERS: dict[str, Callable[[_Builder, object], None]] = {
    "Quant": _quant, "Conv": _conv, "Relu": _relu, "Add": _add, "Concat": _concat, "MaxPool": _maxpool,
    "Resize": _resize, "Upsample": _resize, "Identity": _identity,
}
_HINTS = {"BatchNormalization": "fold BatchNorm into the conv before export",
          "Transpose": "only cancelling Transpose pairs are removed",
          "ConvTranspose": "use nearest upsampling + conv", "DepthToSpace": "use nearest upsampling + conv"}


def _cancel_transpose_pairs():
    """A qonnx Transformation removing Transpose(p) -> Transpose(inverse p) (channels-last round trips)."""
    from qonnx.transformation.base import Transformation

    class CancelTransposePairs(Transformation):
        def apply(self, model):
            for first in model.graph.node:
                if first.op_type != "Transpose":
                    continue
                consumers = model.find_consumers(first.output[0]) or []
                if len(consumers) != 1 or consumers[0].op_type != "Transpose":
                    continue
                second = consumers[0]
                p, q = _attrs(first).get("perm"), _attrs(second).get("perm")
                if p is None or q is None or [p[i] for i in q] != list(range(len(p))):
                    continue
                if any(out.name == second.output[0] for out in model.graph.output):
                    continue  # feeds the graph output: left alone (then reported as an unsupported op)
                for n in model.find_consumers(second.output[0]) or []:
                    for i, name in enumerate(n.input):
                        if name == second.output[0]:
                            n.input[i] = first.input[0]
                model.graph.node.remove(first)
                model.graph.node.remove(second)
                return model, True
            return model, False

    return CancelTransposePairs()


def _load(source):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import SortGraph
    from qonnx.util.cleanup import cleanup_model

    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise UserError(f"{path}: no such QONNX file")
        try:
            model = ModelWrapper(str(path))
        except Exception as exc:  # onnx raises DecodeError and friends
            raise UserError(f"{path}: not a readable ONNX model: {exc}") from exc
    else:
        model = source
    model = cleanup_model(model)
    return model.transform(_cancel_transpose_pairs()).transform(SortGraph())


def _recorded_rounding(recorded_meta: dict[str, str], roundings: dict[str, str]) -> str:
    """The model's rounding: `fluorogate.rounding` metadata (written by export_qonnx), else the Quant nodes'."""
    found = set(roundings.values())
    recorded = recorded_meta.get("rounding")
    if recorded is not None:
        if recorded not in ("half_even", "half_up"):
            raise UserError(f"QONNX metadata fluorogate.rounding={recorded!r} is not half_even or half_up")
        if found - {recorded}:
            raise UserError(f"QONNX metadata says rounding {recorded} but quantizers say {sorted(found)}")
        return recorded
    if len(found) != 1:
        raise UserError(f"activation quantizers disagree on rounding ({roundings}); the hardware has one")
    return found.pop()


def build_integer_graph(source, name: str | None = None, rounding: Rounding | None = None,
                        camera: CameraConversion | None = None) -> IntegerGraph:
    """Read a QONNX file (path or qonnx ModelWrapper) into an IntegerGraph with `ranges` filled.

    `rounding` defaults to what the activation quantizers record; pass it to override (e.g. when the
    model's Brevitas rounding is floor(x+1/2) and the file says HALF_UP: see docs/ir.md). `camera`
    defaults to the file's `fluorogate.camera` metadata (JSON of a CameraConversion), if any.
    """
    model = _load(source)
    g = model.graph
    if len(g.input) != 1 or len(g.output) != 1:
        raise UserError(f"QONNX graph has {len(g.input)} inputs and {len(g.output)} outputs; one of each is supported")
    recorded = read_metadata(model.model)
    if camera is None and "camera" in recorded:
        try:
            camera = CameraConversion.model_validate_json(recorded["camera"])
        except ValueError as exc:
            raise UserError(f"QONNX metadata fluorogate.camera is not a CameraConversion: {exc}") from exc
    b = _Builder(model, camera)
    b.values[g.input[0].name] = _Float()
    for node in g.node:
        handler = _HANDLERS.get(node.op_type)
        if handler is None:
            hint = _HINTS.get(node.op_type, "not one of " + ", ".join(sorted(_HANDLERS)))
            raise UserError(f"node {node.name}: op {node.op_type} is not supported by the hardware ({hint})")
        handler(b, node)
    out = b.values.get(g.output[0].name)
    if not isinstance(out, _Int):
        raise UserError(f"graph output {g.output[0].name!r} is not a quantized tensor of the network")
    rounding = rounding or _recorded_rounding(recorded, b.roundings)
    meta = {"source": str(source) if isinstance(source, str | Path) else "ModelWrapper",
            "qonnx_rounding_modes": ",".join(sorted(set(b.roundings.values())))}
    graph = IntegerGraph(name=name or (Path(source).stem if isinstance(source, str | Path) else "model"),
                         rounding=rounding, nodes=b.nodes, output=out.node, meta=meta)
    graph.ranges = analyze(graph)
    # Past 2**24, float32 frameworks (Brevitas's forward, qonnx/onnxruntime execution) stop being exact
    # themselves; the reference (float64/int64) stays exact and is the one to believe.
    widest = widest_integer(graph, graph.ranges)
    graph.meta["widest_integer"] = str(widest)
    graph.meta["float32_exact"] = "yes" if widest <= FLOAT32_EXACT else "no"
    return graph
