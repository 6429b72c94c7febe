"""The generated design with the peak finder behind the network (`RtlConfig(peaks=...)`): camera frames
in, localization words out, under cocotb against the integer reference + `quantize.peaks`, with input
gaps and backpressure. Default: a small 2x graph (random weights: dense peaks); slow: the shipped smlm
network on simulated SMLM frames, with the latency of each frame's list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rtl_graphs import sr_like

from fluorogate.firmware.generate import RtlConfig, generate
from fluorogate.quantize.peaks import PeakConfig, frame_words
from fluorogate.quantize.reference import codes_from_adu, run_graph


def run_locs_bench(tmp_path: Path, graph, peaks: PeakConfig, adu: np.ndarray, p_valid: float,
                   p_ready: float) -> dict:
    """Generate, simulate (Icarus) and check with tests/cocotb_smlm_locs.py; returns its cycle record."""
    from cocotb_tools.runner import get_runner

    from fluorogate.sim.simulators import get_simulator, simulator_env

    h, w = adu.shape[1:]
    design = generate(graph, RtlConfig(width=w, height=h, peaks=peaks))
    assert design.report["m_axis_tdata_bits"] == 64 and design.report["peaks"]["threshold"] == peaks.threshold
    files = design.write(tmp_path / "rtl")
    maps = np.stack([run_graph(graph, codes_from_adu(graph, a))[0] for a in adu])
    npz, out = tmp_path / "locs.npz", tmp_path / "locs.json"
    np.savez(npz, adu=adu, maps=maps, config=peaks.model_dump_json(), p_valid=p_valid, p_ready=p_ready)
    sim, env = get_simulator("icarus")
    with simulator_env(env):
        runner = get_runner(sim)
        runner.build(sources=files, hdl_toplevel=design.top, build_dir=tmp_path / "build", timescale=("1ns", "1ps"))
        results = runner.test(test_module="cocotb_smlm_locs", hdl_toplevel=design.top, test_dir=Path(__file__).parent,
                              extra_env={"LOCS_NPZ": str(npz), "LOCS_OUT": str(out)},
                              results_xml=str(tmp_path / "results.xml"))
    xml = Path(results).read_text()
    assert "<testcase" in xml and "<failure" not in xml and "<error" not in xml, xml
    rec = json.loads(out.read_text())
    assert rec["words"] == sum(len(frame_words(m, peaks)[0]) for m in maps)
    return rec


def test_generated_design_streams_localizations(tmp_path):
    graph = sr_like("half_even", seed=3)
    rng = np.random.default_rng(4)
    adu = rng.integers(100, 1200, size=(3, 8, 8))
    adu[1] = 100  # a frame without a peak: its end word alone
    maps = [run_graph(graph, codes_from_adu(graph, a))[0] for a in adu]
    peaks = PeakConfig(threshold=int(np.median(maps[0])), baseline=1)
    assert len(frame_words(maps[0], peaks)[0]) > 4 and len(frame_words(maps[1], peaks)[0]) == 1
    run_locs_bench(tmp_path, graph, peaks, adu, 0.8, 0.6)


@pytest.mark.slow
def test_shipped_smlm_design_localizes_simulated_frames(tmp_path):
    from fluorogate.models.export_run import export_run
    from fluorogate.models.run import load_config
    from fluorogate.models.shipped import shipped_run
    from fluorogate.models.smlm import _frames, peak_config
    from fluorogate.quantize.ir import IntegerGraph

    run = shipped_run(tmp_path / "smlm", task="smlm")
    export_run(run, force=True)
    graph, cfg = IntegerGraph.load(run / "ir.json"), load_config(run)
    frames = _frames(4, 16, 1500.0, cfg.train.background, 2.0, cfg.train.preset, 11)
    assert len(frames.localizations) >= 8
    rec = run_locs_bench(tmp_path, graph, peak_config(cfg, 16.0), frames.adu, 0.8, 0.7)
    latency = np.subtract(rec["end_word"], rec["in_last"])
    print(f"end word after the frame's last input beat: {latency.tolist()} cycles")
    assert latency.max() < 4 * 16 + 200
