"""The IR's op classes (quantize/ops/): one class per op, its semantics checked on its own.

The 5x5 conv and the depthwise conv against a plain Python-integer convolution on every carrier the
reference picks (float32, float64, int64), their range analysis attained, their shape checks; an
`ir.json` written before the ops were classes loads and computes what it computed then.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rtl_graphs import camera_input, conv, dwconv, graph, quant, requant

from fluorogate.quantize.ir import IntegerGraph, OpNode
from fluorogate.quantize.ops import OPS
from fluorogate.quantize.ops.registry import Registry, UnsupportedOp
from fluorogate.quantize.ranges import analyze, conv_bounds
from fluorogate.quantize.reference import plan_for, run_graph, run_graph_tensors

DATA = Path(__file__).parent / "data"


def test_every_op_is_one_registered_class_with_its_semantics():
    assert set(OPS) == {
        "input",
        "conv",
        "dwconv",
        "relu",
        "requant",
        "add",
        "concat",
        "maxpool2",
        "upsample2",
    }
    for op, cls in OPS.items():
        assert issubclass(cls, OpNode) and cls.model_fields["op"].default == op
        assert cls.infer_range is not OpNode.infer_range, op  # no op without a range analysis
        if op != "input":
            assert cls.execute is not OpNode.execute, op  # nor without a reference execution


def test_an_ir_written_before_the_op_classes_loads_and_computes_the_same():
    path = DATA / "ir_v1_d1b1a52.json"
    g = IntegerGraph.load(path)
    assert g.ir_version == 1 and {n.op for n in g.nodes} >= {
        "conv",
        "relu",
        "requant",
        "maxpool2",
        "upsample2",
        "concat",
        "add",
    }
    codes = np.random.default_rng(1).integers(0, 256, (8, 12))
    assert np.array_equal(run_graph(g, codes), np.load(DATA / "ir_v1_d1b1a52_out.npy"))
    assert g.model_dump_json(indent=1) == path.read_text()  # and writes it back byte for byte
    assert analyze(g) == g.ranges


def _naive(node, x: list[list[list[int]]]) -> list[list[list[int]]]:
    """A conv or depthwise conv in Python integers, zero 'same' padding, by its definition."""
    w, k = node.weight, node.kernel
    c_in, h, wd, p = len(x), len(x[0]), len(x[0][0]), node.kernel // 2
    out = []
    for o in range(len(w)):
        chans = [o] if node.op == "dwconv" else range(c_in)
        plane = []
        for r in range(h):
            row = []
            for c in range(wd):
                acc = (node.bias or [0] * len(w))[o]
                for i, ci in enumerate(chans):
                    for dy in range(k):
                        for dx in range(k):
                            rr, cc = r + dy - p, c + dx - p
                            if 0 <= rr < h and 0 <= cc < wd:
                                acc += w[o][i][dy][dx] * x[ci][rr][cc]
                row.append(acc)
            plane.append(row)
        out.append(plane)
    return out


def _window_convs(wbits: int, seed: int = 0) -> IntegerGraph:
    """input -> 1x1 conv to 3 channels -> depthwise 3x3 -> depthwise 5x5 -> dense 5x5 (raw accumulators:
    the widths grow with the weights' until the reference needs float64, then int64)."""
    rng = np.random.default_rng(seed)
    nodes = [
        camera_input(),
        conv("e", "x", 1, 3, 1, rng, wbits),
        dwconv("d3", "e", 3, 3, rng, wbits),
        dwconv("d5", "d3", 3, 5, rng, wbits),
        conv("c5", "d5", 3, 2, 5, rng, wbits),
    ]
    return graph(nodes, "c5")


@pytest.mark.parametrize(("wbits", "carrier"), [(2, "float32"), (4, "float64"), (11, "int64")])
def test_window_convs_equal_the_definition_on_every_carrier(wbits, carrier):
    g = _window_convs(wbits)
    assert str(plan_for(g).carrier) == f"torch.{carrier}"
    codes = np.random.default_rng(2).integers(0, 256, (7, 9))
    got = run_graph_tensors(g, codes)
    x = [codes.tolist()]
    for node in g.nodes[1:]:
        x = _naive(node, x)
        assert np.array_equal(got[node.name], np.array(x, dtype=object).astype(np.int64)), node.name


@pytest.mark.parametrize("op", ["conv", "dwconv"])
def test_first_layer_range_is_attained(op):
    """For the layer reading the codes, the analysed hi of a channel is reached by the input that puts the
    code's max under every positive weight and its min under every negative one (a centre pixel)."""
    rng = np.random.default_rng(5)
    x = {"op": "input", "name": "x", "channels": 2, "quant": quant(8, True, 0)}
    layer = conv("c", "x", 2, 2, 5, rng) if op == "conv" else dwconv("c", "x", 2, 5, rng)
    g = graph([x, layer], "c")
    node, r = g.node("c"), g.ranges["c"]
    hi_ch = int(np.argmax([_naive_hi(node, o) for o in range(2)]))
    codes = np.zeros((2, 5, 5), np.int64)
    w = node.weight_array[hi_ch]
    for i in range(w.shape[0]):
        ci = hi_ch if op == "dwconv" else i
        codes[ci] = np.where(w[i] > 0, 127, np.where(w[i] < 0, -128, 0))
    assert run_graph(g, codes)[hi_ch, 2, 2] == r.hi
    assert conv_bounds(g)["c"] == max(
        int(np.abs(node.weight_array[o]).sum()) * 128 + abs(node.bias[o]) for o in range(2)
    )


def _naive_hi(node, o: int) -> int:
    w = node.weight_array[o]
    return int(np.where(w > 0, w * 127, w * -128).sum()) + node.bias[o]


def test_shapes_and_channels_are_checked():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not one filter per channel"):  # 2 channels in, 3 filters
        graph([camera_input(), conv("e", "x", 1, 2, 1, rng), dwconv("d", "e", 3, 3, rng)], "d")
    bad = dwconv("d", "x", 1, 3, rng)
    bad["weight"] = np.zeros((1, 2, 3, 3), int).tolist()
    with pytest.raises(ValueError, match="not one filter per channel"):
        graph([camera_input(), bad], "d")
    with pytest.raises(ValueError, match="weights for 2 input channels, input has 1"):
        graph([camera_input(), conv("c", "x", 2, 1, 3, rng)], "c")
    for layer in (conv("c", "x", 1, 1, 7, rng), dwconv("c", "x", 1, 1, rng)):  # 7x7, 1x1 depthwise: not ops
        with pytest.raises(ValueError, match="kernel"):
            graph([camera_input(), layer], "c")


def test_sizes_channels_and_exps_come_from_the_ops():
    rng = np.random.default_rng(0)
    g = graph(
        [
            camera_input(),
            conv("e", "x", 1, 3, 5, rng),
            requant("q", "e"),
            {"op": "maxpool2", "name": "p", "inputs": ["q"]},
            dwconv("d", "p", 3, 3, rng),
            {"op": "upsample2", "name": "u", "inputs": ["d"]},
            {"op": "concat", "name": "k", "inputs": ["q", "u"]},
        ],
        "k",
    )
    assert g.sizes(12, 16) == {
        "x": (12, 16),
        "e": (12, 16),
        "q": (12, 16),
        "p": (6, 8),
        "d": (6, 8),
        "u": (12, 16),
        "k": (12, 16),
    }
    assert g.channels() == {"x": 1, "e": 3, "q": 3, "p": 3, "d": 3, "u": 3, "k": 6}
    assert g.exps() == {"x": -4, "e": -7, "q": -4, "p": -4, "d": -7, "u": -7, "k": -7}
    with pytest.raises(Exception, match="must be even"):
        g.sizes(12, 15)


def test_a_registry_names_the_node_it_has_no_handler_for():
    reg: Registry[str] = Registry("a test back end")
    reg.register("conv", "relu")("handler")
    assert reg.lookup(OPS["conv"].model_construct(name="c", op="conv")) == "handler"
    with pytest.raises(UnsupportedOp, match="a test back end: node 'd' is an IR 'dwconv'"):
        reg.lookup(OPS["dwconv"].model_construct(name="d", op="dwconv"))
    assert "dwconv" in reg.missing() and "conv" not in reg.missing()
    with pytest.raises(TypeError, match="two handlers"):
        reg.register("conv")("another")
