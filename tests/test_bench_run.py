"""`fluorogate bench` on the shipped default: a tiny run (16x16 cocotb frame, small quality set), the
build-report reader and the per-size arithmetic on captured nextpnr output, the CLI's refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fluorogate.bench.fpga import per_size, read_build
from fluorogate.bench.run import BenchConfig, run_bench
from fluorogate.cli import main
from fluorogate.errors import UserError
from fluorogate.firmware.boards import ECP5
from fluorogate.firmware.build import write_report
from fluorogate.firmware.reports import BuildReport, combine_resources, parse_nextpnr_report, parse_yosys_stat

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory) -> Path:
    """A build folder holding the build report of the captured smoke build (122.8 MHz on ULX3S 85F)."""
    pnr = parse_nextpnr_report(DATA / "nextpnr_report_smoke_100mhz.json")
    cells = parse_yosys_stat(DATA / "yosys_stat_smoke.json")
    rep = BuildReport(
        board="ulx3s-85f",
        part="LFE5U-85F-6BG381C",
        core="smoke_box3x3",
        top="fg_board_top",
        requested_mhz=100,
        pll_mhz=100,
        resources=combine_resources(pnr, cells["design"], ECP5.headline, ECP5.from_yosys),
        core_cells=cells["smoke_box3x3"],
        headline=list(ECP5.headline),
        clocks=pnr.clocks,
        critical_paths=pnr.critical_paths,
        step_seconds={"synth": 1.0},
    )
    folder = tmp_path_factory.mktemp("build")
    write_report(folder, rep)
    return folder


@pytest.fixture(scope="module")
def default_graph():
    from fluorogate.models.runs import open_run

    return open_run("default").graph  # as the bench opens it (the design's digest includes the IR's name)


def identity(graph, size, lanes=1, peaks=None) -> dict:
    """What `fluorogate build` records of a generated core: its design.json's identity."""
    from fluorogate.firmware.build import design_identity
    from fluorogate.firmware.generate import RtlConfig, generate

    return design_identity(
        generate(graph, RtlConfig(width=size, height=size, lanes=lanes, peaks=peaks)).report
    )


@pytest.fixture(scope="module")
def default_build(tmp_path_factory, smoke_build, default_graph) -> Path:
    """The smoke build's numbers, recorded as if built from the default's design at 64 px wide: the bench
    reads its Fmax for the default only when the recorded design is the default's."""
    rep = json.loads((smoke_build / "build_report.json").read_text())
    rep["design"] = identity(default_graph, 64)
    folder = tmp_path_factory.mktemp("default_build")
    (folder / "build_report.json").write_text(json.dumps(rep))
    return folder


def test_read_build_refuses_a_build_of_another_design(smoke_build, default_build, default_graph):
    with pytest.raises(UserError, match="records no design identity"):
        read_build(smoke_build, default_graph, [64])  # a hand-written core
    with pytest.raises(UserError, match="frame 64x64 is not one of 16, 32"):
        read_build(default_build, default_graph, [16, 32])  # built at 64 wide: line buffers differ
    from rtl_graphs import residual_denoiser

    with pytest.raises(UserError, match="another model's"):
        read_build(default_build, residual_denoiser(), [64])
    built = read_build(default_build, default_graph, [16, 64])
    assert built["fmax_mhz"] > 122 and (built["size"], built["lanes"]) == (64, 1)


@pytest.fixture(scope="module")
def smlm_run(tmp_path_factory):
    from fluorogate.models.export_run import export_run
    from fluorogate.models.run_folder import load_config
    from fluorogate.models.shipped import shipped_run
    from fluorogate.quantize.ir import IntegerGraph

    run = shipped_run(tmp_path_factory.mktemp("smlm") / "run", force=True, task="smlm")
    export_run(run, force=True)
    return load_config(run), IntegerGraph.model_validate_json((run / "ir.json").read_text())


def test_smlm_build_is_judged_with_its_peak_finder(smoke_build, smlm_run, tmp_path):
    """smlm's hardware is camera in -> localizations out: a build of network + peak finder is read as such,
    and the network alone is another design (and the other way round)."""
    from fluorogate.models.tasks import get_task

    cfg, graph = smlm_run
    peaks = get_task("smlm").hook("peaks")(cfg)
    assert peaks.threshold > peaks.baseline >= 0
    assert get_task("denoise").peaks is None
    rep = json.loads((smoke_build / "build_report.json").read_text())
    for name, built_with in (("with_peaks", peaks), ("network_only", None)):
        rep["design"] = identity(graph, 32, peaks=built_with)
        (tmp_path / name).mkdir()
        (tmp_path / name / "build_report.json").write_text(json.dumps(rep))
    assert read_build(tmp_path / "with_peaks", graph, [16, 32], peaks=peaks)["size"] == 32
    with pytest.raises(UserError, match=r"it is the network \+ peak finder .*, not the network;"):
        read_build(tmp_path / "with_peaks", graph, [32])
    with pytest.raises(UserError, match=r"it is the network, not the network \+ peak finder"):
        read_build(tmp_path / "network_only", graph, [32], peaks=peaks)


def test_read_build_and_per_size_arithmetic(smoke_build):
    build = read_build(smoke_build)
    fmax = build["fmax_mhz"]
    assert 122 < fmax < 123 and build["timing_met"]
    assert build["core_cells"]["DP16KD"] == 2
    # per_size needs a graph for the cycle model: the residual test net of the RTL tests
    from rtl_graphs import residual_denoiser

    rows = per_size([32, 2048], residual_denoiser("half_up", seed=5), lanes=1, fmax_mhz=fmax, rate=1.0)
    big = rows[1]
    assert big["frame_cycles"] == 2048 * 2048
    assert big["us_per_frame"] == pytest.approx(2048 * 2048 / fmax, rel=1e-4)
    assert big["max_fps"] == pytest.approx(fmax * 1e6 / 2048**2, abs=0.006)
    assert big["mpx_per_s"] == pytest.approx(fmax, abs=0.1)
    assert big["latency_cycles"] > rows[0]["latency_cycles"]  # look-ahead grows with the line length


def test_read_build_refuses_a_folder_without_a_report(tmp_path):
    with pytest.raises(UserError, match=r"no build_report\.json"):
        read_build(tmp_path)


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed")
def test_tiny_bench_on_the_default(tmp_path, default_build):
    """16x16 cocotb frame, the smoke build's Fmax, a 32x32 software frame, a small quality set."""
    cfg = BenchConfig(
        sizes=[16, 64],
        build_dir=default_build,
        software_sizes=[32],
        software_repeats=1,
        hls_sizes=[],
        quality_frames=1,
        quality_size=32,
    )
    report = run_bench("default", None, tmp_path, sections=["fpga", "software", "quality"], cfg=cfg)
    fpga = report.sections["fpga"]
    sim = fpga["simulation"]
    assert sim["bit_exact"] and sim["pixels_compared"] == 2 * 16 * 16
    assert sim["latency_cycles_measured"] == sim["latency_cycles_model"]
    assert sim["frame_cycles_measured"] == 256 and fpga["cycle_model_confirmed"]
    assert [r["size"] for r in fpga["sizes"]] == [16, 64] and fpga["sizes"][0]["latency_cycles"] == sim[
        "latency_cycles_model"
    ]
    assert fpga["build"].get("fmax_mhz"), fpga["build"]
    assert [c["lanes_needed"] for c in fpga["cameras"]] == [4, 4, 8]  # 122.8 MHz per lane
    # the build is of the 64x64 design, one lane: no full-frame camera is carried by it, only by arithmetic
    assert fpga["task"] == "denoise" and (fpga["build"]["size"], fpga["build"]["lanes"]) == (64, 1)
    assert not any(c["keeps_up"] for c in fpga["cameras"]) and fpga["cameras"][0]["within_max_lanes"]
    assert fpga["cameras"][0]["verdict"].startswith("not built for 2048x2048")
    typed = report.fpga  # what the demo and the CLI read: typed, not keys
    assert typed.fmax_mhz == fpga["build"]["fmax_mhz"] and typed.size(64).frame_cycles == 64 * 64
    assert typed.cameras[0].keeps_up is False and typed.simulation.bit_exact
    chk = report.sections["quality"]["reference_equals_qat"]
    assert chk["bit_exact"] and chk["pixels_checked"] > 0
    for cond in report.sections["quality"]["conditions"].values():
        assert cond["reference"]["psnr"] == cond["qat"]["psnr"]
    sw = report.sections["software"]["sizes"][32]
    assert set(sw["ms_per_frame"]) == {"reference", "reference_spec", "torch_float", "onnxruntime_float"}
    assert (
        all(v > 0 for v in sw["ms_per_frame"].values())
        and sw["reference_path"] == "fast"
        and not sw["skipped"]
    )
    assert set(sw["reference_speedup"]) == {"reference_spec", "torch_float", "onnxruntime_float"}
    md = (tmp_path / "bench.md").read_text()
    assert "Integer reference == QAT, bit for bit: **True**" in md and "Cycle model confirmed: **True**" in md
    assert (
        json.loads((tmp_path / "bench.json").read_text())["sections"]["fpga"]["cycle_model_confirmed"] is True
    )
    assert (tmp_path / "latency.png").stat().st_size > 1000
    assert report.machine_start["load_avg_1_5_15"] and report.machine_end["load_avg_1_5_15"]
    with pytest.raises(UserError, match="exists"):  # no overwrite without force
        run_bench("default", None, tmp_path, sections=["quality"], cfg=cfg)


def test_cli_refusals(tmp_path, capsys):
    assert main(["bench", "default", "--out", str(tmp_path), "--sections", "fpga,nope"]) == 2
    assert "unknown nope" in capsys.readouterr().err
    assert main(["bench", "default", "--out", str(tmp_path), "--build-dir", str(tmp_path / "none")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["bench", "default", "--out", str(tmp_path), "--sizes", "4"]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert main(["sweep", "--out", str(tmp_path), "--bits", "w9a8"]) == 2
    assert "outside" in capsys.readouterr().err
