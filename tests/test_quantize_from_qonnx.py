"""QONNX -> IntegerGraph: the pattern table, metadata, and a clear error for every unsupported thing."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from qonnx_models import exported

from fluorogate.errors import UserError
from fluorogate.models import ModelConfig
from fluorogate.quantize.from_qonnx import build_integer_graph
from fluorogate.quantize.ir import IntegerGraph
from fluorogate.quantize.reference import run_graph


@pytest.fixture(scope="module")
def qonnx_path(tmp_path_factory):
    return exported(ModelConfig(task="denoise", rounding="half_up"), tmp_path_factory.mktemp("q"))[1]


def _wrapper(path):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(path))


def _first(model, op_type: str, k: int = 0):
    return [n for n in model.graph.node if n.op_type == op_type][k]


def _set_attr(node, name, value):
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def _weight_quant(model, conv):
    return model.find_producer(conv.input[1])


def test_structure_metadata_and_json_round_trip(qonnx_path, tmp_path):
    g = build_integer_graph(qonnx_path)
    assert g.rounding == "half_up"  # from the file's fluorogate.rounding metadata
    assert [n.op for n in g.nodes].count("conv") == 4
    assert g.input.quant.bits == 8 and not g.input.quant.signed and g.input.quant.exp == -8
    assert set(g.ranges) == {n.name for n in g.nodes}
    assert g.meta["float32_exact"] == "yes" and 0 < int(g.meta["widest_integer"]) <= 2**24
    conv = next(n for n in g.nodes if n.op == "conv")
    assert g.exps()[conv.name] == g.input.quant.exp + conv.weight_quant.exp
    g.save(tmp_path / "ir.json")
    assert IntegerGraph.load(tmp_path / "ir.json") == g


def test_5x5_and_depthwise_convs_are_read(tmp_path):
    """A Brevitas `QuantConv2d(groups=C)` is a `dwconv`, its pointwise partner a 1x1 `conv`, a 5x5 a `conv`
    of kernel 5; read from the ONNX `Conv`'s group and weight shape, each by its op's reader."""
    _, path = exported(ModelConfig(kernel=5, separable=True, layers=4), tmp_path)
    g = build_integer_graph(path)
    kinds = [(n.op, n.kernel) for n in g.nodes if n.op in ("conv", "dwconv")]
    assert kinds == [("conv", 5), ("dwconv", 5), ("conv", 1), ("dwconv", 5), ("conv", 1), ("conv", 5)]
    dw = next(n for n in g.nodes if n.op == "dwconv")
    assert dw.weight_array.shape == (8, 1, 5, 5) and g.channels()[dw.name] == 8


def test_rounding_override_and_conflict(qonnx_path):
    assert build_integer_graph(qonnx_path, rounding="half_even").rounding == "half_even"
    m = _wrapper(qonnx_path)
    _set_attr(_first(m, "Quant", 0), "rounding_mode", "ROUND")
    with pytest.raises(UserError, match="metadata says rounding half_up"):
        build_integer_graph(m)


def test_cancelling_transpose_pair_is_removed(qonnx_path):
    m = _wrapper(qonnx_path)
    relu = _first(m, "Relu")
    src = relu.input[0]
    m.graph.node.extend(
        [
            helper.make_node("Transpose", [src], ["t1"], perm=[0, 2, 3, 1], name="T1"),
            helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 3, 1, 2], name="T2"),
        ]
    )
    relu.input[0] = "t2"
    codes = np.random.default_rng(0).integers(0, 256, (12, 12))
    assert np.array_equal(
        run_graph(build_integer_graph(m), codes), run_graph(build_integer_graph(qonnx_path), codes)
    )


def _mutations():
    def act_scale(m):
        q = _first(m, "Quant", 0)
        m.set_initializer(q.input[1], np.array(0.3, np.float32))

    def per_channel(m):
        q = _weight_quant(m, _first(m, "Conv", 1))
        w = m.get_initializer(q.input[0])
        m.set_initializer(q.input[1], (2.0 ** -np.arange(w.shape[0], dtype=np.float32)).reshape(-1, 1, 1, 1))

    def zero_point(m):
        q = _first(m, "Quant", 0)
        m.set_initializer(q.input[2], np.array(3.0, np.float32))

    def float_weights(m):
        conv = _first(m, "Conv", 1)
        conv.input[1] = _weight_quant(m, conv).input[0]

    def unquantized_input(m):
        conv = _first(m, "Conv", 0)
        conv.input[0] = m.graph.input[0].name

    def unknown_op(m):
        _first(m, "Relu").op_type = "Sigmoid"

    def batchnorm(m):
        _first(m, "Relu").op_type = "BatchNormalization"

    def stride(m):
        _set_attr(_first(m, "Conv", 2), "strides", [2, 2])

    def groups(m):
        _set_attr(_first(m, "Conv", 1), "group", 2)

    def dilation(m):
        _set_attr(_first(m, "Conv", 2), "dilations", [2, 2])

    def padding(m):
        _set_attr(_first(m, "Conv", 2), "pads", [0, 0, 0, 0])

    def lone_transpose(m):
        relu = _first(m, "Relu")
        m.graph.node.append(
            helper.make_node("Transpose", [relu.input[0]], ["t1"], perm=[0, 1, 3, 2], name="T1")
        )
        relu.input[0] = "t1"

    return {
        "act_scale": (act_scale, r"node Quant_0 \(Quant\).*scale 0.300000012 is not a power of two"),
        "per_channel": (per_channel, "different per-channel scales"),
        "zero_point": (zero_point, "non-zero zero point"),
        "float_weights": (float_weights, "weights are not quantized"),
        "unquantized_input": (unquantized_input, "unquantized graph input"),
        "unknown_op": (unknown_op, "op Sigmoid is not supported"),
        "batchnorm": (batchnorm, "fold BatchNorm"),
        "stride": (stride, r"Conv\): unsupported strides=\[2, 2\]"),
        "groups": (groups, r"group=2 \(a grouped conv"),
        "dilation": (dilation, r"dilations=\[2, 2\]"),
        "padding": (padding, "needs 'same'"),
        "lone_transpose": (lone_transpose, "op Transpose is not supported"),
    }


@pytest.mark.parametrize("what", list(_mutations()))
def test_unsupported_content_names_node_and_reason(qonnx_path, what):
    mutate, message = _mutations()[what]
    m = _wrapper(qonnx_path)
    mutate(m)
    with pytest.raises(UserError, match=message) as info:
        build_integer_graph(m)
    assert "node " in str(info.value) or "Quant" in str(info.value)


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(UserError, match="no such QONNX file"):
        build_integer_graph(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(UserError, match="not a readable ONNX model"):
        build_integer_graph(bad)
