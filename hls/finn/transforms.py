"""Small qonnx Transformations that prepare a fluorogate QONNX export for FINN and check FINN graphs.

Each one has one job, in the qonnx style (`model.transform(T())`):
- `FixScalarQuantZeroPoint`: qonnx 1.0.0 bug work-around (0-d zero points break ConvertQONNXtoFINN).
- `SetFrameSize`: the nets are fully convolutional and exported at a small size; FINN's graph is
  shape-specific, so it is rebuilt at the frame size the hardware streams.
- `InputQuantToCodes` / `OutputToCodes`: the accelerator's boundary is the IR's integer codes (what
  the camera front end produces and what `run_graph` returns), not float tensors. Without them FINN
  keeps a float Thresholding layer at the input and a float ElementwiseMul at the output.
- `HoistTransposeAboveFork`: lets FINN's own transpose/concat moves reach a global-skip concat.
- `MoveScalarMulPastMaxPoolNHWC`: the NHWC twin of FINN's MoveMulPastMaxPool (U-Net pooling branch).
- `SplitConcatIntoConvs`: a conv over a concat as a sum of convs (FINN's concat serializes channels).
- `Despecialize`: FINN's python execution of specialized (`_hls`/`_rtl`) layers needs C++ or RTL
  simulation; their generic parents compute the same integers in numpy.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import SortGraph
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import get_by_name

from fluorogate.errors import UserError

_HW_DOMAIN = "finn.custom_op.fpgadataflow"
_TO_NHWC, _TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


class FixScalarQuantZeroPoint(Transformation):
    """Reshape 0-d `Quant` zero-point initializers to shape (1,).

    Brevitas exports the bias quantizer's zero point as a 0-d tensor; qonnx 1.0.0's
    ConvertQONNXtoFINN then fails with "cannot reshape array of size 1 into shape (1,C,1,1)".
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for node in model.graph.node:
            if node.op_type != "Quant":
                continue
            zp = model.get_initializer(node.input[2])
            if zp is not None and zp.ndim == 0:
                model.set_initializer(node.input[2], zp.reshape(1))
        return model, False


class SetFrameSize(Transformation):
    """Set the (N, C, H, W) graph input to frame size `height` x `width` and re-infer every shape."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        inp = model.graph.input[0]
        shape = model.get_tensor_shape(inp.name)
        if len(shape) != 4:
            raise UserError(f"graph input {inp.name} has shape {shape}; an (N, C, H, W) frame is wanted")
        model.set_tensor_shape(inp.name, [shape[0], shape[1], self.height, self.width])
        for out in model.graph.output:  # output shapes follow from inference
            out.type.tensor_type.ClearField("shape")
        del model.graph.value_info[:]
        return model.transform(InferShapes()), False


class InputQuantToCodes(Transformation):
    """Replace the input `Quant` by a multiply with its scale; the graph input becomes integer codes.

    The IR's input node says codes are already on the quantizer's grid (the camera front end
    saturates them), so the input Quant is the identity on them and only its scale is kept. The
    graph input is annotated with the codes' integer type, which FINN carries into the hardware.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        name = model.graph.input[0].name
        node = model.find_consumer(name)
        if node is None or node.op_type != "Quant":
            raise UserError(f"graph input {name} does not feed a single input quantizer (Quant node)")
        bits = int(model.get_initializer(node.input[3]))
        signed = bool(get_by_name(node.attribute, "signed").i)
        narrow = bool(get_by_name(node.attribute, "narrow").i)
        if narrow:
            raise UserError(f"input quantizer {node.name} is narrow-range; camera codes use the full range")
        node.op_type, node.domain = "Mul", ""
        del node.attribute[:]
        del node.input[2:]
        model.set_tensor_datatype(name, DataType[f"{'INT' if signed else 'UINT'}{bits}"])
        return model, False


class OutputToCodes(Transformation):
    """Divide the graph output by its quantizer's scale (a power of two), so the output is the codes.

    FINN's streamlining folds this multiply into the last thresholds; the accelerator then emits the
    integers the IR's `run_graph` returns.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        out = model.graph.output[0].name
        node = model.find_producer(out)
        if node is None or node.op_type != "Quant":
            what = f"node {node.name} ({node.op_type})" if node is not None else "no node"
            raise UserError(
                f"graph output {out} is made by {what}, not by a quantizer: FINN's accelerator emits "
                "integer codes, so the network must end in one (a QuantReLU or QuantIdentity)"
            )
        scale = np.asarray(model.get_initializer(node.input[1]), dtype=np.float32)
        inner = model.make_new_valueinfo_name()
        node.output[0] = inner
        inv = model.make_new_valueinfo_name()
        model.set_initializer(inv, (1.0 / scale).astype(np.float32))
        model.graph.node.append(helper.make_node("Mul", [inner, inv], [out]))
        return model, False


class HoistTransposeAboveFork(Transformation):
    """Where a tensor feeds a Transpose and other nodes, make the others read it through that Transpose.

    Lowering convs to MatMul puts an NCHW->NHWC Transpose on the conv branch only; a sibling branch
    (the global skip's quantizer of the input) stays NCHW and its Concat cannot become a streaming
    layer. With an inverse Transpose in front of the sibling, FINN's AbsorbTransposeIntoMultiThreshold,
    MoveTransposePastJoinConcat and AbsorbConsecutiveTransposes bring the whole graph to NHWC.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for t in list(model.graph.node):
            if t.op_type != "Transpose" or model.get_initializer(t.input[0]) is not None:
                continue
            perm = list(get_by_name(t.attribute, "perm").ints)
            if perm != _TO_NHWC:
                continue  # only the conv lowering's NCHW->NHWC (never the inverses inserted here)
            others = [c for c in model.find_consumers(t.input[0]) if c is not t and c.op_type != "Transpose"]
            if not others:
                continue
            for consumer in others:
                back = model.make_new_valueinfo_name()
                model.set_tensor_shape(back, model.get_tensor_shape(t.input[0]))
                model.graph.node.insert(
                    list(model.graph.node).index(consumer),
                    helper.make_node("Transpose", [t.output[0]], [back], perm=_TO_NCHW),
                )
                for i, name in enumerate(consumer.input):
                    if name == t.input[0]:
                        consumer.input[i] = back
            return model, True
        return model, False


class MoveScalarMulPastMaxPoolNHWC(Transformation):
    """`MaxPoolNHWC(x * c) -> MaxPoolNHWC(x) * c` for a scalar c > 0 (max commutes with it).

    FINN's MoveMulPastMaxPool matches NCHW `MaxPool` only; a scale copied into the pooling branch
    by MoveLinearPastFork after the pools became NHWC would stay between a threshold and the pool.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for mul in model.graph.node:
            if mul.op_type != "Mul" or model.is_fork_node(mul):
                continue
            c = model.get_initializer(mul.input[1])
            pool = model.find_consumer(mul.output[0])
            if (
                c is None
                or c.size != 1
                or float(c.ravel()[0]) <= 0
                or pool is None
                or pool.op_type != "MaxPoolNHWC"
            ):
                continue
            x, pooled = mul.input[0], pool.output[0]
            inner = model.make_new_valueinfo_name()
            model.set_tensor_shape(inner, model.get_tensor_shape(pooled))
            pool.input[0], pool.output[0] = x, inner
            mul.input[0], mul.output[0] = inner, pooled
            nodes = model.graph.node
            nodes.remove(mul)
            nodes.insert(list(nodes).index(pool) + 1, mul)
            return model, True
        return model, False


class SplitConcatIntoConvs(Transformation):
    """`MatMul(Im2Col(Concat(a, b)), W) -> MatMul(Im2Col(a), W_a) + MatMul(Im2Col(b), W_b)`.

    Exact on integers (the conv's sum split by input channel). FINN's StreamingConcat has one SIMD
    that must divide every input's channel count: concatenating the 1-channel input with C features
    takes C+1 cycles per pixel whatever the folding. After the split the join is an integer
    ElementwiseAdd of two accumulators, which FINN folds like any layer. Needs the channels-last
    graph after streamlining: Concat on the last axis, FINN's Im2Col patches ordered (ky, kx, c). A
    depthwise conv over a concat is left alone: FINN's StreamingConcat then feeds one VVAU.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for concat in model.graph.node:
            im2col = model.find_consumer(concat.output[0]) if concat.op_type == "Concat" else None
            matmul = (
                model.find_consumer(im2col.output[0])
                if im2col is not None and im2col.op_type == "Im2Col"
                else None
            )
            if (
                matmul is None
                or matmul.op_type != "MatMul"
                or model.is_fork_node(concat)
                or model.is_fork_node(im2col)
            ):
                continue
            if (
                get_by_name(im2col.attribute, "depthwise") is not None
                and get_by_name(im2col.attribute, "depthwise").i
            ):
                continue  # a depthwise conv stays one VVAU (split, each part would be a dense MVAU of zeros)
            weight = model.get_initializer(matmul.input[1])
            shapes = [model.get_tensor_shape(i) for i in concat.input]
            if (
                weight is None
                or get_by_name(concat.attribute, "axis").i not in (3, -1)
                or any(len(x) != 4 for x in shapes)
            ):
                continue
            channels = [x[3] for x in shapes]
            taps = weight.reshape(-1, sum(channels), weight.shape[1])  # (ky*kx, C, out)
            partials, start = [], 0
            for src, shape, c in zip(concat.input, shapes, channels, strict=True):
                cols, acc = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
                w = model.make_new_valueinfo_name()
                node = helper.make_node("Im2Col", [src], [cols], domain=im2col.domain)
                node.attribute.extend(a for a in im2col.attribute if a.name != "input_shape")
                node.attribute.append(
                    helper.make_attribute("input_shape", "(" + ",".join(map(str, shape)) + ")")
                )
                model.set_initializer(w, taps[:, start : start + c, :].reshape(-1, weight.shape[1]))
                model.set_tensor_datatype(w, model.get_tensor_datatype(matmul.input[1]))
                model.graph.node.extend([node, helper.make_node("MatMul", [cols, w], [acc])])
                partials.append(acc)
                start += c
            total = partials[0]
            for i, part in enumerate(partials[1:], start=2):
                out = matmul.output[0] if i == len(partials) else model.make_new_valueinfo_name()
                model.graph.node.append(helper.make_node("Add", [total, part], [out]))
                total = out
            for node in (concat, im2col, matmul):
                model.graph.node.remove(node)
            return model.transform(SortGraph()).transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


class Despecialize(Transformation):
    """Map `X_hls` / `X_rtl` layers back to their generic FINN layer `X` (python `execute_node`)."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for node in model.graph.node:
            if node.domain in (f"{_HW_DOMAIN}.hls", f"{_HW_DOMAIN}.rtl"):
                node.domain = _HW_DOMAIN
                node.op_type = node.op_type.rsplit("_", 1)[0]
        return model, False
