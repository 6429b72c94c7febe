"""The streaming (line-buffer) reference == the whole-frame reference, beat for beat, and its timing model."""

from __future__ import annotations

import numpy as np
import pytest
import rtl_graphs

from fluorogate.errors import UserError
from fluorogate.quantize.reference import codes_from_adu, run_graph
from fluorogate.quantize.streaming import arrival_times, run_stream, stream_to_tensors
from fluorogate.sim.stream import StreamConfig, StreamError, beats_to_frames, frames_to_beats, ready_pattern

GRAPHS = {
    "residual": lambda r: rtl_graphs.residual_denoiser(r),
    "conv1": lambda r: rtl_graphs.layer_graph("conv1", r),
    "concat": lambda r: rtl_graphs.layer_graph("concat", r),
    "unet": lambda r: rtl_graphs.unet_like(r),
    "sr": lambda r: rtl_graphs.sr_like(r),
    "conv5": lambda r: rtl_graphs.layer_graph("conv5", r),
    "separable": lambda r: rtl_graphs.layer_graph("separable", r),
}
H, W = 6, 8


def _adu_frames(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 2**16, (H, W)) for _ in range(n)]
    frames[0][2, 3] = 2**16 - 1  # a hot pixel
    frames[0][0, :] = 0  # a dark edge line
    return frames


@pytest.mark.integration  # g++: the fast reference's kernels
@pytest.mark.parametrize("engine", ["spec", "fast"])
@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_stream_equals_whole_frame(name, rounding, engine):
    """The row pipeline ("spec": line buffers, row windows) and the fast whole frame's rows ("fast"),
    streamed, against the fast whole-frame reference."""
    graph = GRAPHS[name](rounding)
    factor = 2 if name == "sr" else 1
    frames = _adu_frames(2, seed=len(name))
    want = [run_graph(graph, codes_from_adu(graph, f), engine="fast") for f in frames]
    for lanes, gaps in ((1, (0, 0, 1.0)), (2, (3, 7, 0.6)), (4, (1, 0, 0.8))):
        cfg = StreamConfig(lanes=lanes, line_gap=gaps[0], frame_gap=gaps[1], valid_prob=gaps[2], seed=lanes)
        stream = frames_to_beats(frames, cfg)
        ready = ready_pattern(8 * len(stream) * factor**2 * want[0].shape[0], 0.7, seed=lanes)
        out = run_stream(graph, stream, W, H, adu=True, ready=ready, engine=engine)
        got = stream_to_tensors(out, W * factor, H * factor, want[0].shape[0], lanes)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w)
        assert len(out) < len(ready) and not np.any(
            out.valid & ~ready[: len(out)]
        )  # never sends into a stall


def test_latency_model_receptive_field_and_flush():
    """Three 3x3 convs: output pixel (r, c) waits for input pixel (r+3, c+3), clipped to the frame."""
    graph = rtl_graphs.residual_denoiser()
    stream = frames_to_beats(_adu_frames(1, seed=0), StreamConfig(lanes=1))  # pixel (r, c) arrives at rW + c
    yy, xx = np.mgrid[:H, :W]
    assert np.array_equal(
        arrival_times(graph, yy * W + xx), np.minimum(yy + 3, H - 1) * W + np.minimum(xx + 3, W - 1)
    )
    out = run_stream(graph, stream, W, H, adu=True)
    cycles = np.flatnonzero(out.valid)
    # first beat one cycle after input pixel (3, 3); then one per cycle, the flushed rows back to back
    assert np.array_equal(cycles, np.arange(3 * W + 4, 3 * W + 4 + H * W))
    assert out.user[cycles[0]] and out.last[cycles[W - 1]] and not out.user[cycles[1:]].any()

    stalled = run_stream(graph, stream, W, H, adu=True, ready=np.arange(200) % 2 == 0)
    assert np.all(np.flatnonzero(stalled.valid) % 2 == 0)  # the consumer takes every other cycle


def test_latency_model_of_a_5x5_window():
    """A 5x5 conv: output pixel (r, c) waits for input pixel (r+2, c+2), clipped to the frame; the last two
    rows come with the flush."""
    graph = rtl_graphs.layer_graph("conv5")
    yy, xx = np.mgrid[:H, :W]
    assert np.array_equal(
        arrival_times(graph, yy * W + xx), np.minimum(yy + 2, H - 1) * W + np.minimum(xx + 2, W - 1)
    )
    out = run_stream(graph, frames_to_beats(_adu_frames(1, seed=0), StreamConfig(lanes=1)), W, H, adu=True)
    assert np.array_equal(
        np.flatnonzero(out.valid), np.arange(2 * W + 3, 2 * W + 3 + H * W * 2)
    )  # 2 channels


def test_latency_through_pool_and_upsample():
    graph = rtl_graphs.unet_like()
    yy, xx = np.mgrid[:H, :W]
    t = arrival_times(graph, yy * W + xx)
    # conv3 -> pool -> conv3 -> upsample: output (0, 0) needs encoder rows 0..3 (pool rows 0..1 + halo)
    # and input rows up to 4 (the encoder conv's halo), columns likewise
    assert t[0, 0] == 4 * W + 4 and t[-1, -1] == H * W - 1


def test_codes_stream_and_errors():
    graph = rtl_graphs.layer_graph("conv1")
    codes = [np.random.default_rng(1).integers(0, 256, (H, W))]
    out = run_stream(graph, frames_to_beats(codes), W, H)
    want = run_graph(graph, codes[0])
    assert want.shape[0] == 3  # three output channels: each pixel's three values adjacent in the stream
    assert np.array_equal(beats_to_frames(out, 3 * W, H, 1)[0], want.transpose(1, 2, 0).reshape(H, 3 * W))
    assert np.array_equal(stream_to_tensors(out, W, H, 3, 1)[0], want)
    stream = frames_to_beats(codes)
    stream.last[np.flatnonzero(stream.valid)[3]] = True  # a short first line
    with pytest.raises(StreamError, match="frame 0, line 0"):
        run_stream(graph, stream, W, H)
    with pytest.raises(UserError, match="outside the input quantizer"):
        run_stream(graph, frames_to_beats([np.full((H, W), 300)]), W, H)


@pytest.mark.parametrize(
    ("task", "rounding", "ops"),
    [
        ("unet", "half_up", {}),
        ("sr2x", "half_even", {}),
        ("denoise", "half_even", {"kernel": 5, "separable": True}),
    ],
)
def test_stream_equals_whole_frame_on_exported_networks(task, rounding, ops, tmp_path):
    """The project's own networks (shared skip quantizers, pool/upsample, concat of the input path; 5x5 and
    depthwise-separable convs)."""
    from qonnx_models import exported

    from fluorogate.models import ModelConfig
    from fluorogate.quantize.from_qonnx import build_integer_graph

    graph = build_integer_graph(exported(ModelConfig(task=task, rounding=rounding, **ops), tmp_path)[1])
    factor = 2 if task == "sr2x" else 1
    frames = [np.random.default_rng(k).integers(0, 256, (H, W)) for k in range(2)]
    stream = frames_to_beats(frames, StreamConfig(lanes=2, line_gap=2, frame_gap=4, valid_prob=0.8))
    out_lanes = 2 * factor  # sr2x: 4 output lanes keep up with the 4x pixel rate
    got = beats_to_frames(
        run_stream(graph, stream, W, H, out_lanes=out_lanes), W * factor, H * factor, out_lanes
    )
    for g, f in zip(got, frames, strict=True):
        assert np.array_equal(g, run_graph(graph, f)[0])
