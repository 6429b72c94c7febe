"""The generated design with the peak finder behind the network (`RtlConfig(peaks=...)`): camera frames
in, localization words out, through `simulate_graph(..., peaks=)` (bench `bench/cosim/tb/locs_tb.py`) against
the integer reference + `quantize.peaks`, with input gaps and backpressure. Default: a small 2x graph
(random weights: dense peaks); slow: the shipped smlm network on simulated SMLM frames, with the
latency of each frame's list."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rtl_graphs import sr_like

from fluorogate.bench.cosim.cocotb_run import run_locs_test, simulate_graph
from fluorogate.errors import UserError
from fluorogate.firmware.generate import RtlConfig, generate
from fluorogate.quantize.peaks import PeakConfig, frame_words
from fluorogate.quantize.reference import codes_from_adu, run_graph


def _words(graph, adu: np.ndarray, peaks: PeakConfig) -> list[int]:
    """Words per frame of the reference's list."""
    return [len(frame_words(run_graph(graph, codes_from_adu(graph, a))[0], peaks)[0]) for a in adu]


@pytest.mark.integration
def test_generated_design_streams_localizations(tmp_path):
    graph = sr_like("half_even", seed=3)
    rng = np.random.default_rng(4)
    adu = rng.integers(100, 1200, size=(3, 8, 8))
    adu[1] = 100  # a frame without a peak: its end word alone
    maps = [run_graph(graph, codes_from_adu(graph, a))[0] for a in adu]
    peaks = PeakConfig(threshold=int(np.median(maps[0])), baseline=1)
    assert len(frame_words(maps[0], peaks)[0]) > 4 and len(frame_words(maps[1], peaks)[0]) == 1
    rep = generate(graph, RtlConfig(width=8, height=8, peaks=peaks)).report
    assert rep["m_axis_tdata_bits"] == 64 and rep["peaks"]["threshold"] == peaks.threshold
    res = simulate_graph(graph, list(adu), tmp_path, peaks=peaks, valid_prob=0.8, ready_prob=0.6)
    assert res.ok and not res.mismatches, res.mismatches
    assert res.out_beats == sum(_words(graph, adu, peaks)) and res.frames_out == 3
    wrong = np.stack(maps)
    wrong[2][wrong[2] == wrong[2].max()] += 1  # the reference of another design: the bench must see it
    files = [tmp_path / "rtl" / n for n in (tmp_path / "rtl" / "files.f").read_text().split()]
    bad = run_locs_test(files, "fluorogate_top", tmp_path / "bad", adu, wrong, peaks)
    assert not bad.ok and "frame 2" in bad.mismatches[0]["check"]
    with pytest.raises(UserError, match="one lane"):
        simulate_graph(graph, list(adu), tmp_path, peaks=peaks, lanes=2)


@pytest.mark.integration
@pytest.mark.slow
def test_shipped_smlm_design_localizes_simulated_frames(tmp_path):
    from fluorogate.models.export_run import export_run
    from fluorogate.models.run_folder import load_config
    from fluorogate.models.shipped import shipped_run
    from fluorogate.models.smlm import _frames, peak_config
    from fluorogate.quantize.ir import IntegerGraph

    run = shipped_run(tmp_path / "smlm", task="smlm")
    export_run(run, force=True)
    graph, cfg = IntegerGraph.load(run / "ir.json"), load_config(run)
    frames = _frames(4, 16, 1500.0, cfg.train.background, 2.0, cfg.train.preset, 11)
    assert len(frames.localizations) >= 8
    peaks = peak_config(cfg, 16.0)
    res = simulate_graph(
        graph, list(frames.adu), tmp_path / "sim", peaks=peaks, valid_prob=0.8, ready_prob=0.7
    )
    assert res.ok and not res.mismatches, res.mismatches
    words = _words(graph, frames.adu, peaks)
    assert res.out_beats == sum(words)
    ends = np.asarray(res.out_cycles)[np.cumsum(words) - 1]  # each frame's end word (the list is exact)
    latency = ends - np.asarray(res.in_cycles)[16 * 16 - 1 :: 16 * 16]
    print(f"end word after the frame's last input beat: {latency.tolist()} cycles")
    assert latency.max() < 4 * 16 + 200


def test_rtl_cli_peaks_option(tmp_path, capsys):
    """`fluorogate rtl RUN --peaks PHOTONS`: the run's camera turns photons into codes; a bare ir.json
    (no config next to it) is refused with one line."""
    from fluorogate.cli import main
    from fluorogate.models.run_folder import save_config
    from fluorogate.models.shipped import default_config
    from fluorogate.models.smlm import peak_config

    cfg = default_config(task="smlm")
    run = tmp_path / "run"
    run.mkdir()
    save_config(run, cfg)
    sr_like("half_even", seed=3).save(run / "ir.json")
    assert (
        main(
            [
                "rtl",
                str(run),
                "--out",
                str(tmp_path / "rtl"),
                "--width",
                "8",
                "--height",
                "8",
                "--peaks",
                "16",
            ]
        )
        == 0
    )
    rep = json.loads((tmp_path / "rtl" / "design.json").read_text())
    assert rep["peaks"]["threshold"] == peak_config(cfg, 16.0).threshold and rep["m_axis_tdata_bits"] == 64
    assert "output wire [31:0] loc_dropped" in (tmp_path / "rtl" / "fluorogate_top.v").read_text()
    bare = tmp_path / "bare"
    bare.mkdir()
    sr_like("half_even", seed=3).save(bare / "ir.json")
    assert main(["rtl", str(bare / "ir.json"), "--out", str(tmp_path / "x"), "--peaks", "16"]) == 2
    assert "--peaks" in capsys.readouterr().err
