"""The 2x upsample as a rate change by lanes (fg_upsample2_lanes): N lanes in, 4N out, one input beat per
clock kept, bit for bit under cocotb + Icarus, with the cycle model (schedule.py) checked against the
simulation. The graph is shaped like SR2xNet: convs at the input resolution, both the features and the
input upsampled, a conv at the output resolution, the global skip as a concat into the last conv.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from rtl_graphs import camera_input, conv, graph, requant, unet_like

from fluorogate.bench.cosim.cocotb_run import run_stream_test, simulate_graph
from fluorogate.errors import UserError
from fluorogate.firmware.generate import RtlConfig, generate
from fluorogate.quantize.reference import codes_from_adu, run_graph
from fluorogate.sim.stream import StreamConfig, frames_to_beats, ready_pattern

pytestmark = pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed"
)


def sr2x_like(rounding: str = "half_even", seed: int = 0):
    rng = np.random.default_rng(seed)
    nodes = [
        camera_input(),
        conv("c", "x", 1, 2, 3, rng),
        requant("q", "c"),
        {"op": "upsample2", "name": "uf", "inputs": ["q"]},
        conv("o", "uf", 2, 2, 3, rng),
        requant("h", "o"),
        {"op": "upsample2", "name": "ux", "inputs": ["x"]},
        {"op": "concat", "name": "cat", "inputs": ["ux", "h"]},
        conv("t", "cat", 3, 1, 3, rng),
        requant("y", "t"),
    ]
    return graph(nodes, "y", rounding)


def _frames(n, h, w, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 3000, size=(h, w)) for _ in range(n)]


def test_lanes_per_tensor_in_the_report():
    rep = generate(sr2x_like(), RtlConfig(width=8, height=6, lanes=2)).report
    assert (rep["lanes"], rep["out_lanes"], rep["out_width"], rep["out_height"]) == (2, 8, 16, 12)
    assert {s["name"]: s["lanes"] for s in rep["stages"]}["n_uf"] == 8
    assert rep["m_axis_tdata_bits"] == 8 * rep["out_bits"]


def test_refusals():
    with pytest.raises(UserError, match=r"maxpool2 'p'.*2 lane"):
        generate(unet_like(), RtlConfig(width=16, height=16, lanes=2))
    with pytest.raises(UserError, match=r"upsample2 .*multiple of 4N"):  # 6 px, 2 lanes: 3 beats, no pairs
        generate(sr2x_like(), RtlConfig(width=6, height=6, lanes=2))


@pytest.mark.integration
@pytest.mark.parametrize(("lanes", "rounding"), [(1, "half_even"), (2, "half_up")])
def test_gaps_and_backpressure(lanes, rounding, tmp_path):
    """Random valid gaps, line blanking and stalls in bursts (mean 12 cycles: the writer gets two lines
    ahead of the reader and must wait for pass 1): every pixel, tuser and tlast exact."""
    g = sr2x_like(rounding, seed=lanes)
    frames = _frames(3, 6, 16, seed=lanes)
    design = generate(g, RtlConfig(width=16, height=6, lanes=lanes))
    rep = design.report
    stream = frames_to_beats(frames, StreamConfig(lanes=lanes, valid_prob=0.7, line_gap=3, seed=5))
    expected = np.stack([run_graph(g, codes_from_adu(g, f)) for f in frames])
    res = run_stream_test(
        design.write(tmp_path / "rtl"),
        design.top,
        tmp_path / "sim",
        stream,
        expected,
        rep["in_pixel_bits"],
        rep["out_bits"],
        rep["out_signed"],
        out_lanes=rep["out_lanes"],
        ready=ready_pattern(8192, 0.5, seed=lanes, mean_stall=12),
    )
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 3


@pytest.mark.integration
def test_rate_and_latency(tmp_path):
    """No gaps, no stalls: one input pixel (four output pixels) per clock, latency as the model says."""
    w, h = 12, 8
    g = sr2x_like(seed=3)
    model = generate(g, RtlConfig(width=w, height=h)).report["latency_cycles_estimate"]
    res = simulate_graph(g, _frames(3, h, w, seed=4), tmp_path)
    assert res.ok and not res.mismatches
    assert res.frame_period(w * h) == w * h  # output beats of 4 pixels: as many as input pixels
    assert res.latency == model


@pytest.mark.integration
def test_unet_four_lanes_pool_and_upsample(tmp_path):
    """The U-Net's rate down and back up with 4 camera lanes: pool 4 -> 1 lane (fg_maxpool2_lanes), a 3x3
    conv at half resolution on 1 lane, upsample 1 -> 4, concat with the skip: one beat per clock, and
    bit-exact with gaps and bursty stalls."""
    g = unet_like(seed=2)
    w, h = 16, 8
    frames = _frames(3, h, w, seed=6)
    design = generate(g, RtlConfig(width=w, height=h, lanes=4))
    rep = design.report
    assert {s["name"]: s["lanes"] for s in rep["stages"]} == {
        "n_e": 4,
        "n_p": 1,
        "n_m": 1,
        "n_u": 4,
        "n_k": 4,
        "n_o": 4,
    }
    files = design.write(tmp_path / "rtl")
    expected = np.stack([run_graph(g, codes_from_adu(g, f)) for f in frames])
    args = (rep["in_pixel_bits"], rep["out_bits"], rep["out_signed"])
    res = run_stream_test(
        files,
        design.top,
        tmp_path / "full",
        frames_to_beats(frames, StreamConfig(lanes=4)),
        expected,
        *args,
        out_lanes=4,
    )
    assert res.ok and not res.mismatches and res.frame_period(w * h // 4) == w * h // 4
    stream = frames_to_beats(frames, StreamConfig(lanes=4, valid_prob=0.7, line_gap=2, seed=4))
    res = run_stream_test(
        files,
        design.top,
        tmp_path / "stalls",
        stream,
        expected,
        *args,
        out_lanes=4,
        ready=ready_pattern(8192, 0.5, seed=5, mean_stall=10),
    )
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 3
