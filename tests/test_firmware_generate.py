"""The Verilog generator without a simulator: stage planning, sizing, refusals, and `fluorogate rtl`."""

from __future__ import annotations

import pytest
from rtl_graphs import camera_input, graph, layer_graph, residual_denoiser, unet_like

from fluorogate.cli import main
from fluorogate.errors import UserError
from fluorogate.firmware.generate import RtlConfig, generate
from fluorogate.firmware.plan import plan_stages


def test_plan_fuses_elementwise_chains():
    stages = plan_stages(residual_denoiser())
    assert [(s.kind, s.head.name, [n.name for n in s.post]) for s in stages] == [
        ("conv3", "c1", ["q1"]),
        ("conv3", "c2", ["r2", "q2"]),
        ("conv3", "c3", ["q3"]),
        ("join", "a", ["y"]),
    ]


def test_skip_fifo_covers_the_bypassed_buffering():
    """The global skip bypasses three 3x3 stages: its FIFO must hold their look-ahead (3 lines) and more."""
    w = 32
    rep = generate(residual_denoiser(), RtlConfig(width=w, height=8)).report
    assert list(rep["skip_fifos"]) == ["n_a.in1"]
    assert rep["skip_fifos"]["n_a.in1"] > 3 * (w + 1)
    assert rep["latency_cycles_estimate"] < 4 * w + 100


def test_kernel_choice_per_layer():
    g = layer_graph("concat")
    rep = generate(g, RtlConfig(width=8, height=8, kernel_overrides={"m": "mac"})).report
    assert {s["nodes"][0]: s["kernel"] for s in rep["stages"] if s["kernel"] != "-"} == {
        "c": "da4ml",
        "m": "mac",
    }


def test_refuses_graph_without_ranges():
    g = residual_denoiser()
    g.ranges = {}
    with pytest.raises(UserError, match="has no range"):
        generate(g, RtlConfig(width=8, height=8))


def test_refuses_odd_frame_at_a_pool():
    g = graph([camera_input(), {"op": "maxpool2", "name": "p", "inputs": ["x"]}], "p")
    assert generate(g, RtlConfig(width=8, height=6)).report["out_width"] == 4
    with pytest.raises(UserError, match="must be even"):
        generate(g, RtlConfig(width=8, height=7))


def test_rate_changes_size_the_skip_fifo_in_output_pixels():
    """The U-Net skip bypasses pool -> conv at half resolution -> upsample: at least the conv's line of
    look-ahead (W/2 + 1 pixels at half resolution = 2 full-resolution lines) plus the pool's line."""
    w = 32
    rep = generate(unet_like(), RtlConfig(width=w, height=8)).report
    assert rep["skip_fifos"]["n_k.in0"] > 3 * w
    assert (rep["out_width"], rep["out_height"], rep["latency_cycles_estimate"]) == (w, 8, None)


def test_cli_writes_sources_and_respects_force(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    residual_denoiser().save(run / "ir.json")
    out = tmp_path / "rtl"
    assert main(["rtl", str(run), "--out", str(out), "--width", "16", "--height", "12"]) == 0
    listed = (out / "files.f").read_text().split()
    assert "fluorogate_top.v" in listed and "fg_window3.v" in listed
    assert all((out / name).is_file() for name in listed)
    assert "module fluorogate_top" in (out / "fluorogate_top.v").read_text()
    assert main(["rtl", str(run), "--out", str(out)]) == 2  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert main(["rtl", str(run), "--out", str(out), "--force", "--width", "2"]) == 2  # bad width: one line
    assert main(["rtl", str(run), "--out", str(out), "--force", "--width", "18", "--lanes", "4"]) == 2
    assert "multiple of 4 lanes" in capsys.readouterr().err
    assert main(["rtl", str(run), "--out", str(out), "--force", "--width", "16", "--lanes", "4"]) == 0
    assert '"lanes": 4' in (out / "design.json").read_text()
    assert main(["rtl", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2")]) == 2
