"""QONNX (as Brevitas exports it) -> IntegerGraph: the only place that reads scales from ONNX.

Two steps. First small qonnx Transformations normalise the file (`cleanup_model`, then cancelling
Transpose pairs left by a channels-last conversion, then a topological sort). Then one pass over the
nodes: each ONNX node goes to the reader registered for its op type (`onnx_read.READERS`: `Quant` and
`Identity` here, every other op type beside its IR op in `quantize/ops/`), which tracks each ONNX
tensor as the float graph input, a constant (integer codes + exp) or an IR tensor (`onnx_read`).

| ONNX                                  | IR                                                      |
|---------------------------------------|---------------------------------------------------------|
| `Quant(graph input)`                  | `input` (bits, signed, narrow, exp)                     |
| `Quant(initializer)`                  | constant codes (weights, biases)                        |
| `Quant(tensor)`                       | `requant` to the quantizer's grid                       |
| `Conv(x, Quant(W), Quant(b))`         | `conv` (k 1, 3 or 5, stride 1, 'same', group 1)         |
| `Conv(..., group = channels)`         | `dwconv` (depthwise, k 3 or 5)                          |
| `Relu`, `Add`, `Concat(axis 1)`       | `relu`, `add`, `concat`                                 |
| `MaxPool(2x2, stride 2)`              | `maxpool2`                                              |
| `Resize/Upsample(nearest, x2)`        | `upsample2`                                             |
| `Identity`                            | (nothing)                                               |

Anything else (a scale that is not a power of two, per-channel scales that differ, a zero point, an
unknown op, a stride/dilation/group/padding other than 'same' stride 1 dense or depthwise, a float
tensor reaching a compute node) raises `UserError` naming the ONNX node and the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fluorogate.errors import UserError
from fluorogate.quantize.exact import FLOAT32_EXACT
from fluorogate.quantize.export import read_metadata
from fluorogate.quantize.ir import (
    CameraConversion,
    InputNode,
    IntegerGraph,
    RequantNode,
    Rounding,
    TensorQuant,
)
from fluorogate.quantize.onnx_read import (
    READERS,
    Builder,
    Const,
    FloatInput,
    Tensor,
    attrs,
    onnx_reader,
    reader_for,
)
from fluorogate.quantize.ranges import analyze
from fluorogate.quantize.reference import widest_integer

# QONNX rounding_mode of activation quantizers -> the IR's rounding. qonnx's HALF_UP is sign-symmetric
# (half away from zero); the IR's half_up is floor(x + 1/2): they differ on negative ties only (docs/ir.md).
_ROUNDING = {"ROUND": "half_even", "HALF_EVEN": "half_even", "HALF_UP": "half_up"}


def _pow2_exp(scale: np.ndarray, node, what: str) -> int:
    """The integer `e` with `scale == 2**e` everywhere, or a UserError saying why not."""
    s = np.unique(np.asarray(scale, dtype=np.float64).ravel())
    if s.size != 1:
        raise UserError(
            f"node {node.name} (Quant): {what} has {s.size} different per-channel scales "
            f"({s.min():g}..{s.max():g}); the hardware needs one power-of-two scale per tensor"
        )
    mant, e = np.frexp(s[0])
    if 0 < s[0] < 2.0**-32:
        raise UserError(
            f"node {node.name} (Quant): {what} scale {s[0]:g} is a collapsed scale (Brevitas's "
            "scaling_min_val, 1e-10, or a product with it): a quantizer here or upstream saw only "
            "zeros in calibration/training, a dead layer; retrain or recalibrate"
        )
    if not np.isfinite(s[0]) or s[0] <= 0 or mant != 0.5:
        raise UserError(
            f"node {node.name} (Quant): {what} scale {s[0]:.9g} is not a power of two "
            "(use a *FixedPoint quantizer: Int8WeightPerTensorFixedPoint, Int8ActPerTensorFixedPoint, ...)"
        )
    return int(e) - 1


@onnx_reader("Quant")
def _quant(b: Builder, node) -> None:
    from qonnx.custom_op.general.intquant import int_quant

    if len(node.input) != 4:
        raise UserError(f"node {node.name} (Quant): expected 4 inputs (x, scale, zero point, bit width)")
    params = []
    for i in (1, 2, 3):
        p = b.get(node, i)
        if not isinstance(p, Const) or p.exp is not None:
            raise UserError(f"node {node.name} (Quant): input {i} must be a constant initializer")
        params.append(p.value)
    scale, zeropt, bits_arr = params
    a = attrs(node)
    signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
    mode = a.get("rounding_mode", b"ROUND")
    mode = (mode.decode() if isinstance(mode, bytes) else mode).upper()
    if np.any(np.asarray(zeropt) != 0):
        raise UserError(
            f"node {node.name} (Quant): non-zero zero point; the hardware needs symmetric quantizers"
        )
    bits = float(np.asarray(bits_arr).ravel()[0])
    if np.asarray(bits_arr).size != 1 or bits != int(bits) or not 2 <= bits <= 32:
        raise UserError(f"node {node.name} (Quant): bit width {bits_arr!r} is not one integer in 2..32")
    x = b.get(node, 0)
    exp = _pow2_exp(scale, node, "the tensor's")
    quant = TensorQuant(bits=int(bits), signed=signed, narrow=narrow and signed, exp=exp)
    if isinstance(x, Const):
        if x.exp is not None:
            raise UserError(f"node {node.name} (Quant): quantizes an already quantized constant")
        y = int_quant(x.value, scale, zeropt, np.asarray(bits_arr), signed, narrow, mode)
        b.values[node.output[0]] = Const(np.rint(y / 2.0**exp).astype(np.int64), exp, quant)
        return
    if mode not in _ROUNDING:
        raise UserError(
            f"node {node.name} (Quant): rounding_mode {mode} has no hardware form; "
            f"use one of {sorted(_ROUNDING)}"
        )
    b.roundings[node.name] = _ROUNDING[mode]
    if isinstance(x, FloatInput):
        if any(isinstance(n, InputNode) for n in b.nodes):
            raise UserError(f"node {node.name} (Quant): a second quantizer on the graph input")
        shape = b.model.get_tensor_shape(node.input[0])
        if shape is None or len(shape) != 4 or shape[0] != 1:
            raise UserError(f"node {node.name} (Quant): graph input shape {shape} is not (1, C, H, W)")
        b.emit(node, InputNode(name="input", channels=int(shape[1]), quant=quant, camera=b.camera))
        return
    b.emit(node, RequantNode(name=node.name, inputs=[b.tensor(node).node], quant=quant))


@onnx_reader("Identity")
def _identity(b: Builder, node) -> None:
    b.values[node.output[0]] = b.get(node, 0)


_HINTS = {
    "BatchNormalization": "fold BatchNorm into the conv before export",
    "Transpose": "only cancelling Transpose pairs are removed",
    "ConvTranspose": "use nearest upsampling + conv",
    "DepthToSpace": "use nearest upsampling + conv",
}


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
                p, q = attrs(first).get("perm"), attrs(second).get("perm")
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
    """The model's rounding: `fluorogate.rounding` metadata (written by export_qonnx), else the Quant
    nodes'."""
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


def build_integer_graph(
    source, name: str | None = None, rounding: Rounding | None = None, camera: CameraConversion | None = None
) -> IntegerGraph:
    """Read a QONNX file (path or qonnx ModelWrapper) into an IntegerGraph with `ranges` filled.

    `rounding` defaults to what the activation quantizers record; pass it to override (e.g. when the
    model's Brevitas rounding is floor(x+1/2) and the file says HALF_UP: see docs/ir.md). `camera`
    defaults to the file's `fluorogate.camera` metadata (JSON of a CameraConversion), if any.
    """
    model = _load(source)
    g = model.graph
    if len(g.input) != 1 or len(g.output) != 1:
        raise UserError(
            f"QONNX graph has {len(g.input)} inputs and {len(g.output)} outputs; one of each is supported"
        )
    recorded = read_metadata(model.model)
    if camera is None and "camera" in recorded:
        try:
            camera = CameraConversion.model_validate_json(recorded["camera"])
        except ValueError as exc:
            raise UserError(f"QONNX metadata fluorogate.camera is not a CameraConversion: {exc}") from exc
    b = Builder(model, camera)
    b.values[g.input[0].name] = FloatInput()
    for node in g.node:
        reader = reader_for(node)
        if reader is None:
            hint = _HINTS.get(node.op_type, "not one of " + ", ".join(sorted(READERS)))
            raise UserError(f"node {node.name}: op {node.op_type} is not supported by the hardware ({hint})")
        reader(b, node)
    out = b.values.get(g.output[0].name)
    if not isinstance(out, Tensor):
        raise UserError(f"graph output {g.output[0].name!r} is not a quantized tensor of the network")
    rounding = rounding or _recorded_rounding(recorded, b.roundings)
    meta = {
        "source": str(source) if isinstance(source, str | Path) else "ModelWrapper",
        "qonnx_rounding_modes": ",".join(sorted(set(b.roundings.values()))),
    }
    graph = IntegerGraph(
        name=name or (Path(source).stem if isinstance(source, str | Path) else "model"),
        rounding=rounding,
        nodes=b.nodes,
        output=out.node,
        meta=meta,
    )
    graph.ranges = analyze(graph)
    # Past 2**24, float32 frameworks (Brevitas's forward, qonnx/onnxruntime execution) stop being exact
    # themselves; the reference (float64/int64) stays exact and is the one to believe.
    widest = widest_integer(graph, graph.ranges)
    graph.meta["widest_integer"] = str(widest)
    graph.meta["float32_exact"] = "yes" if widest <= FLOAT32_EXACT else "no"
    return graph
