"""Unit tests of the IR's own validation (the contract every back end reads)."""

import pytest

from fluorogate.errors import UserError
from fluorogate.quantize.ir import IntegerGraph, TensorQuant, TensorRange


def _graph(**overrides):
    nodes = [
        {"op": "input", "name": "x", "channels": 1, "quant": {"bits": 8, "signed": True, "exp": -4}},
        {
            "op": "conv",
            "name": "c",
            "inputs": ["x"],
            "kernel": 3,
            "weight": [[[[1, 0, -1], [2, 0, -2], [1, 0, -1]]]],
            "weight_quant": {"bits": 4, "signed": True, "narrow": True, "exp": -2},
            "bias": [3],
        },
        {"op": "requant", "name": "y", "inputs": ["c"], "quant": {"bits": 8, "signed": True, "exp": -4}},
    ]
    data = {"name": "t", "rounding": "half_even", "nodes": nodes, "output": "y"} | overrides
    return IntegerGraph.model_validate(data)


def test_quant_ranges():
    assert (
        TensorQuant(bits=8, signed=True, exp=0).min_int,
        TensorQuant(bits=8, signed=True, exp=0).max_int,
    ) == (-128, 127)
    assert TensorQuant(bits=4, signed=True, narrow=True, exp=0).min_int == -7
    assert TensorQuant(bits=8, signed=False, exp=0).max_int == 255


@pytest.mark.parametrize(
    ("lo", "hi", "bits"), [(0, 255, 8), (-128, 127, 8), (-129, 127, 9), (0, 256, 9), (-1, 0, 1)]
)
def test_range_bits(lo, hi, bits):
    assert TensorRange(lo=lo, hi=hi, exp=0).bits == bits


def test_round_trip(tmp_path):
    g = _graph()
    g.save(tmp_path / "ir.json")
    h = IntegerGraph.load(tmp_path / "ir.json")
    assert h == g
    assert h.node("c").weight_array.shape == (1, 1, 3, 3)
    assert [n.name for n in h.consumers("x")] == ["c"]


def test_rejects_forward_reference():
    with pytest.raises(ValueError, match="not an earlier node"):
        _graph(
            output="y",
            nodes=[
                {"op": "relu", "name": "r", "inputs": ["x"]},
                {"op": "input", "name": "x", "channels": 1, "quant": {"bits": 8, "signed": True, "exp": 0}},
            ],
        )


def test_load_reports_bad_file(tmp_path):
    bad = tmp_path / "ir.json"
    bad.write_text('{"name": "t"}')
    with pytest.raises(UserError, match="not a valid fluorogate IR"):
        IntegerGraph.load(bad)
