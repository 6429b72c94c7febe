"""`run_cosim` and `fluorogate cosim`: whole frames through the RTL, every pixel compared, and a broken
design found at the right frame, line, column and stage.

The broken design is the generated Verilog with one requant's shift edited by hand (one channel of one
stage, as a slip in a hand edit would be); what that edit computes is modelled here independently, on
the reference's own tensors, so the report's first mismatch and first deviating stage are checked
against an expectation the simulator did not produce.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import tifffile
from rtl_graphs import residual_denoiser

from fluorogate.bench.cosim.config import CosimConfig
from fluorogate.bench.cosim.movie import parse_span, read_frames
from fluorogate.bench.cosim.run import group_inputs, run_cosim
from fluorogate.errors import UserError
from fluorogate.imageio import write_tiff
from fluorogate.quantize.reference import codes_from_adu, run_graph, run_graph_tensors

needs_icarus = pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed"
)


def _frames(n: int, h: int, w: int, seed: int = 0, hi: int = 2200) -> np.ndarray:
    return np.random.default_rng(seed).integers(90, hi, size=(n, h, w)).astype(np.uint16)


def test_parse_span_and_group_inputs():
    assert parse_span(None, 5) == range(5) and parse_span("1:3", 5) == range(1, 3)
    assert (
        parse_span(":2", 5) == range(2)
        and parse_span("3:", 5) == range(3, 5)
        and parse_span("4", 5) == range(4, 5)
    )
    for bad in ("3:9", "x", "2:2", "-1:2"):
        with pytest.raises(UserError, match="--frames"):
            parse_span(bad, 5)
    frames = _frames(6, 4, 5)
    assert [g.shape for g in group_inputs(frames, 3)] == [(3, 4, 5), (3, 4, 5)]
    with pytest.raises(UserError, match="multiple of 3"):
        group_inputs(frames[:4], 3)
    with pytest.raises(UserError, match="integer"):
        group_inputs(frames.astype(np.float32), 1)


def test_read_frames(tmp_path):
    movie = _frames(4, 8, 6)
    path = write_tiff(tmp_path / "m.ome.tif", movie)
    frames, numbers = read_frames(path, "1:3")
    assert frames.movie.page_reads == 0  # checked and opened, nothing read yet: a long movie stays on disk
    assert np.array_equal(np.stack(list(frames)), movie[1:3]) and numbers == [1, 2]
    assert frames.movie.page_reads == 2
    one, numbers = read_frames(write_tiff(tmp_path / "one.tif", movie[0]))
    assert one.shape == (1, 8, 6) and numbers == [0]
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((2, 8, 6, 3), np.uint8), photometric="rgb")
    with pytest.raises(UserError, match="RGB colour image"):
        read_frames(rgb)


@pytest.mark.integration
@needs_icarus
def test_whole_frames_bit_exact_and_timed(tmp_path):
    """Non-square frames through the RTL (Icarus): bit-exact with gaps and backpressure; without stalls
    one pixel per clock, a frame every W*H cycles and the generator's latency estimate, measured."""
    g = residual_denoiser(seed=3, ch=2)
    frames = _frames(3, 12, 16, seed=1)
    stalls = run_cosim(
        g,
        frames,
        CosimConfig(simulator="icarus", gaps=0.3, backpressure=0.3, seed=2),
        tmp_path / "stalls",
        frame_numbers=[5, 6, 7],
    )
    assert stalls.ok, stalls.errors
    assert (
        stalls.pixels_compared == 3 * 12 * 16 and stalls.frames_out == 3 and stalls.out_beats == 3 * 12 * 16
    )
    assert [f.frame for f in stalls.per_frame] == [5, 6, 7] and stalls.pixels_per_clock < 0.9
    free = run_cosim(g, frames, CosimConfig(simulator="icarus"), tmp_path / "free")
    assert free.ok and free.build_reused  # the same design: the build came from the cache
    assert free.cycles_per_frame == 12 * 16 and free.pixels_per_clock == 1.0
    assert free.latency_cycles == free.latency_cycles_model
    want = [run_graph(g, codes_from_adu(g, f)) for f in frames]
    assert free.per_frame[2].end_cycle > free.per_frame[1].end_cycle and want[0].shape == (1, 12, 16)


def _break_requant(stage_file):
    """Lower the first requant shift in `stage_file` by one (its rounding term left as it was): returns
    (the shifted value's name, the original shift, the wrapped width of the shifted value)."""
    text = stage_file.read_text()
    m = re.search(r"wire signed \[(\d+):0\] (\w+) = (\w+) >>> (\d+);", text)
    assert m, f"no requant shift in {stage_file.name}"
    msb, shift = int(m.group(1)), int(m.group(4))
    stage_file.write_text(text[: m.start(4)] + str(shift - 1) + text[m.end(4) :])
    return shift, msb + 1


def _edited_outputs(g, codes, relu, requant, shift, width, channel=0):
    """What the edited Verilog computes, on the reference's tensors: channel `channel` of `requant` is
    sat(wrap_width(v >> (s-1)) + round), round = v[s-1] & (|v[s-2:0] | q[0]) as the unedited term reads
    (half_even), then the rest of the graph as the reference computes it. Returns (requant out, output)."""
    import torch

    from fluorogate.quantize.reference import apply_node, plan_for

    t = run_graph_tensors(g, codes)
    v = t[relu][channel]
    q = v >> (shift - 1)
    q = (q + (1 << (width - 1))) % (1 << width) - (1 << (width - 1))  # the declared width wraps
    rnd = ((v >> (shift - 1)) & 1) & (((v & ((1 << (shift - 1)) - 1)) != 0) | (q & 1))
    quant = g.node(requant).quant
    edited = t[requant].copy()
    edited[channel] = np.clip(q + rnd, quant.min_int, quant.max_int)
    plan = plan_for(g)
    vals = {k: torch.from_numpy(v).to(plan.carrier) for k, v in t.items()}
    vals[requant] = torch.from_numpy(edited).to(plan.carrier)
    names = [n.name for n in g.nodes]
    for n in g.nodes[names.index(requant) + 1 :]:
        vals[n.name] = apply_node(plan, n, [vals[i] for i in n.inputs], fuse=False)
    return edited, vals[g.output].numpy().astype(np.int64)


def _first(a, b):
    """First differing (line, column, channel) of two (C, H, W) arrays, raster order; None if equal."""
    bad = np.argwhere(a.transpose(1, 2, 0) != b.transpose(1, 2, 0))
    return tuple(int(v) for v in bad[0]) if len(bad) else None


@pytest.mark.integration
@needs_icarus
def test_broken_stage_found_at_its_frame_line_column(tmp_path):
    """One requant shift edited in stage n_c2's Verilog: the report's first mismatch is the modelled
    one (frame, line, column, channel, both values), and the node-wise re-run names n_c2 as the first
    deviating stage at its own first differing pixel, with every stage before it matching."""
    from fluorogate.firmware.generate import RtlConfig, generate

    g = residual_denoiser(seed=1, ch=3)
    h, w = 10, 12
    frames = _frames(3, h, w, seed=7)
    frames[:2] = 100  # dark frames (the camera offset: codes 0), the second with a bright patch
    frames[1, 5:8, 6:10] = 2000
    rtl = tmp_path / "rtl"
    generate(g, RtlConfig(width=w, height=h)).write(rtl)
    shift, width = _break_requant(rtl / "n_c2.v")
    expected = []
    for k, f in enumerate(frames):
        codes = codes_from_adu(g, f)
        q2, out = _edited_outputs(g, codes, "r2", "q2", shift, width)
        ref = run_graph(g, codes)
        expected.append((k + 10, _first(out, ref), out, ref, _first(q2, run_graph_tensors(g, codes)["q2"])))
    bad = [e for e in expected if e[1] is not None]
    frame, (y, x, c), out, ref, q2_first = bad[0]
    assert frame == 11 and y > 0 and x > 0, (
        "the scenario: the edit shows first inside frame 11, near the patch"
    )
    rep = run_cosim(
        g,
        frames,
        CosimConfig(simulator="icarus", rtl_dir=rtl, gaps=0.1, backpressure=0.2),
        tmp_path / "sim",
        frame_numbers=[10, 11, 12],
    )
    assert not rep.ok and rep.mismatching_frames == [e[0] for e in bad]
    m = rep.first_mismatch
    assert (m.frame, m.line, m.column, m.channel, m.got, m.want) == (
        frame,
        y,
        x,
        c,
        out[c, y, x],
        ref[c, y, x],
    )
    assert rep.mismatches == sum(int(np.count_nonzero(e[2] != e[3])) for e in expected)
    loc = rep.localization
    assert loc.frame == frame and loc.first_stage == "n_c2"
    names = [s.stage for s in loc.stages]
    assert all(s.mismatches == 0 for s in loc.stages[: names.index("n_c2")])
    stage = loc.stages[names.index("n_c2")]
    assert (
        stage.first.line,
        stage.first.column,
        stage.first.channel,
    ) == q2_first and stage.first.channel == 0


@pytest.mark.integration
@needs_icarus
def test_cli_writes_report_and_fails_on_mismatch(tmp_path, capsys):
    """`fluorogate cosim` on a run folder and a movie: exit 0 and the report when bit-exact; exit 1, the
    report and the mismatch map when the design is broken; no overwrite without --force."""
    from fluorogate.cli import main
    from fluorogate.firmware.generate import RtlConfig, generate
    from fluorogate.models.runs import open_run

    run = open_run("default")
    movie = write_tiff(tmp_path / "movie.ome.tif", _frames(3, 8, 8, seed=9))
    args = ["cosim", "default", "--input", str(movie), "--frames", "1:2", "--simulator", "icarus"]
    assert main([*args, "--out", str(tmp_path / "ok")]) == 0
    assert "bit-exact" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "ok").iterdir()} >= {"cosim.json", "cosim.md"}
    assert main([*args, "--out", str(tmp_path / "ok")]) == 2  # exists, no --force
    rtl = tmp_path / "rtl"
    generate(run.graph, RtlConfig(width=8, height=8)).write(rtl)
    conv = next(
        s["name"] for s in json.loads((rtl / "design.json").read_text())["stages"] if s["kind"] == "conv3"
    )
    _break_requant(rtl / f"{conv}.v")
    assert main([*args, "--rtl", str(rtl), "--out", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "verification failed" in err and "frame 1" in err
    assert (tmp_path / "bad" / "mismatch.png").is_file() and "first deviating stage" in (
        tmp_path / "bad" / "cosim.md"
    ).read_text()


@pytest.mark.integration
def test_hls4ml_backend_whole_frame(tmp_path):
    """The hls4ml C-sim back end on a whole (small) frame of the shipped default: bit-exact, per frame."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    from fluorogate.models.runs import open_run

    seen = []
    rep = run_cosim(
        open_run("default"),
        _frames(2, 12, 12, seed=4),
        CosimConfig(backend="hls4ml"),
        tmp_path,
        on_frame=seen.append,
    )
    assert rep.ok, rep.errors
    assert rep.pixels_compared == 2 * 144 and [f.frame for f in seen] == [0, 1]
    with pytest.raises(UserError, match="RTL back end"):
        run_cosim(open_run("default"), _frames(1, 12, 12), CosimConfig(backend="hls4ml", gaps=0.1), tmp_path)


@pytest.mark.integration
@needs_icarus
def test_lanes_and_an_upsampling_output(tmp_path):
    """Four camera pixels per beat into a 2x upsampler (16 output pixels per beat): whole frames bit-exact,
    the output's shape and lanes taken from the design, a quarter of the cycles per frame."""
    from rtl_graphs import sr_like

    g = sr_like()
    frames = _frames(2, 8, 16, seed=11)
    rep = run_cosim(g, frames, CosimConfig(simulator="icarus", lanes=4, backpressure=0.2), tmp_path / "bp")
    assert rep.ok, rep.errors
    assert rep.out_shape[1:] == [16, 32] and rep.pixels_compared == 2 * rep.out_shape[0] * 16 * 32
    free = run_cosim(g, frames, CosimConfig(simulator="icarus", lanes=4), tmp_path / "free")
    assert free.ok and free.cycles_per_frame == 8 * 16 / 4 and free.pixels_per_clock == 4.0


@pytest.mark.integration
@needs_icarus
def test_deadlock_is_reported(tmp_path):
    """A design whose output never moves (the top's m_axis handshake tied off by hand: nothing leaves, so
    the pipeline fills and stops taking input): the player stops on its no-progress watchdog and the
    report says deadlock, with no output beats, instead of running forever."""
    from fluorogate.firmware.generate import RtlConfig, generate

    g = residual_denoiser(seed=2, ch=2)
    rtl = tmp_path / "rtl"
    generate(g, RtlConfig(width=8, height=8)).write(rtl)
    top = rtl / "fluorogate_top.v"
    text = top.read_text()
    for wire in ("m_axis_ready = m_axis_tready", "m_axis_tvalid = m_axis_valid"):
        assert f"assign {wire};" in text
        text = text.replace(f"assign {wire};", f"assign {wire.split(' = ')[0]} = 1'b0;")
    top.write_text(text)
    rep = run_cosim(g, _frames(2, 8, 8), CosimConfig(simulator="icarus", rtl_dir=rtl), tmp_path / "sim")
    assert rep.stalled and not rep.ok and rep.out_beats == 0 and rep.frames_out == 0
    assert "deadlock: no beat moved in or out" in rep.errors and rep.pixels_compared == 0
