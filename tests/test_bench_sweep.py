"""`fluorogate sweep`: grid points' configs, the Pareto marking, failed points, resuming from the cache,
Ctrl-C, the CLI's refusals, and (slow) real sweeps with synthesis and with place and route.

The Ray executor's own tests are in test_bench_sweep_ray.py."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from sweep_helpers import (
    TIMES_OUT,
    TINY,
    TWO_POINTS,
    descendants,
    needs_ray,
    running,
    start_during_synthesis,
    sweep_cli,
)

from fluorogate.bench.sweep import mark_pareto, run_sweep
from fluorogate.bench.sweep_point import SweepConfig, point_config
from fluorogate.cli import main
from fluorogate.errors import UserError


def test_point_config_is_the_default_recipe_with_the_point_changed():
    from fluorogate.models.shipped import default_config

    rc = point_config("w2a6", 12, SweepConfig(steps=100, seed=3))
    base = default_config()
    assert (rc.model.weight_bits, rc.model.act_bits, rc.model.channels) == (2, 6, 12)
    assert rc.model.layers == base.model.layers and rc.model.rounding == base.model.rounding
    assert (rc.train.float_steps, rc.train.qat_steps, rc.train.seed) == (75, 25, 3)
    assert rc.train.preset == base.train.preset and rc.camera != base.camera  # 6-bit codes: another shift
    with pytest.raises(UserError, match="w9a8"):
        point_config("w9a8", 8, SweepConfig())


def test_pareto_marks_the_non_dominated_points():
    pts = [
        {"lut": 100, "latency_cycles": 50, "psnr_qat": 20.0},  # cheapest
        {"lut": 200, "latency_cycles": 50, "psnr_qat": 25.0},  # better PSNR for more LUTs
        {"lut": 300, "latency_cycles": 50, "psnr_qat": 24.0},  # dominated by the second
        {"lut": 300, "latency_cycles": 40, "psnr_qat": 24.0},  # faster: not dominated
        {"bits": "w8a8", "channels": 8, "error": "failed"},
    ]
    mark_pareto(pts)
    assert [p.get("pareto") for p in pts] == [True, True, False, True, None]


def test_empty_grid_is_refused(tmp_path):
    with pytest.raises(UserError, match="empty"):
        run_sweep(SweepConfig(bits=[], channels=[8]), tmp_path)


def test_failed_point_is_recorded_and_the_same_sweep_resumes_from_the_cache(tmp_path):
    """A synthesis past its time limit fails the point with its reason and log and the sweep still finishes;
    running it again takes train and export from the cache and tries the failed stage again."""
    out = tmp_path / "out"
    cfg = SweepConfig(**TINY, timeout_minutes=TIMES_OUT)
    result = run_sweep(cfg, out)
    [p] = result["points"]
    assert p["failed_stage"] == "synth" and "ran past" in p["error"] and p["error"].startswith("synth: ")
    log = Path(p["log"])
    assert "ran past" in log.read_text() and list(
        (log.parent / "build.failed").glob("yosys*.log")
    )  # the tool's log
    assert p["cached"] == [] and list(p["fingerprints"]) == ["train", "export"] and 0 < p["psnr_qat"] < 100
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["status"] == "finished" and saved["points"] == json.loads(json.dumps(result["points"]))
    assert "1 failed" in (out / "sweep.md").read_text() and not (out / "sweep.lock").exists()

    again = run_sweep(cfg.model_copy(update={"jobs": 1}), out)  # scheduling may change: still the same sweep
    [q] = again["points"]
    assert q["cached"] == ["train", "export"] and q["fingerprints"] == p["fingerprints"]
    assert q["psnr_qat"] == p["psnr_qat"] and q["failed_stage"] == "synth" and q["log"] != p["log"]
    with pytest.raises(UserError, match="another sweep"):
        run_sweep(cfg.model_copy(update={"steps": 12}), out)


@pytest.mark.parametrize(
    ("executor", "sig"),
    [
        ("local", signal.SIGINT),
        pytest.param("local", signal.SIGTERM, marks=pytest.mark.slow),
        pytest.param("ray", signal.SIGINT, marks=[pytest.mark.slow, needs_ray]),
    ],
    ids=["local-SIGINT", "local-SIGTERM", "ray-SIGINT"],
)
def test_ctrl_c_leaves_a_resumable_sweep(tmp_path, executor, sig):
    """SIGINT (Ctrl-C; SIGTERM, a batch system's stop, the same) while yosys runs: exit 130, sweep.json says
    interrupted, no half-written stage, no process left (pool workers, or the Ray cluster, and yosys), no
    lock; the same command resumes from the cache."""
    out = tmp_path / "out"
    proc = start_during_synthesis(sweep_cli(out, "--jobs", "1", "--executor", executor), out)
    procs = descendants(proc.pid)
    proc.send_signal(sig)
    assert proc.wait(timeout=90) == 130, proc.stdout.read()
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["status"] == "interrupted" and saved["points"] == []
    assert not list((out / "cache").glob("*/.tmp-*")) and not (out / "sweep.lock").exists()
    time.sleep(2)
    assert procs and not [pid for pid in procs if running(pid)], "the workers and yosys have ended"
    same = SweepConfig(
        bits=["w2a8"], channels=[4], steps=8, size=8, jobs=1, timeout_minutes=TIMES_OUT
    )  # as the CLI
    assert run_sweep(same, out, executor=executor)["points"][0]["cached"] == ["train", "export"]


def test_cli_refusals_and_report_redraw(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--out", str(out), "--address", "127.0.0.1:6379"]) == 2
    assert "--executor ray" in capsys.readouterr().err
    assert main(["sweep", "--out", str(out), "--resources", "pnr=1"]) == 2
    assert "STAGE=CPUS:GIB" in capsys.readouterr().err
    assert main(["sweep", "--out", str(out), "--resources", "place=1:4"]) == 2
    assert "train, export, synth, pnr" in capsys.readouterr().err
    assert main(["sweep", "--out", str(out), "--report"]) == 2
    assert "no sweep there" in capsys.readouterr().err
    out.mkdir()
    (out / "sweep.md").write_text("somebody's notes")
    assert main(["sweep", "--out", str(out), "--bits", "w2a8", "--channels", "4"]) == 2
    assert "--force" in capsys.readouterr().err
    (out / "sweep.lock").write_text(f"{os.uname().nodename} {os.getpid()}")  # a live sweep holds the folder
    (out / "sweep.md").unlink()
    assert main(["sweep", "--out", str(out), "--bits", "w2a8", "--channels", "4"]) == 2
    assert "another sweep" in capsys.readouterr().err


def test_report_redraws_from_a_partial_sweep_json(tmp_path, capsys):
    points = [
        {
            "bits": "w2a8",
            "channels": 4,
            "weight_bits": 2,
            "psnr_qat": 20.0,
            "lut": 100,
            "latency_cycles": 9,
            "cached": ["train"],
        },
        {
            "bits": "w4a8",
            "channels": 4,
            "weight_bits": 4,
            "error": "synth: yosys failed",
            "log": "x/stage.log",
        },
    ]
    sweep = {
        "config": SweepConfig().model_dump(mode="json"),
        "grid_points": 6,
        "status": "running",
        "executor": {"kind": "ray"},
        "cache": "c",
        "points": points,
        "machine_start": {"load_avg_1_5_15": [1, 1, 1]},
    }
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    assert main(["sweep", "--out", str(tmp_path), "--report"]) == 0
    assert "2 of 6 points" in capsys.readouterr().out
    md = (tmp_path / "sweep.md").read_text()
    assert "Status: **running**" in md and "| w4a8 | 4 |" in md and "synth: yosys failed" in md
    assert (tmp_path / "pareto.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.integration
def test_two_point_sweep(tmp_path):
    """Real training (a handful of steps), export, PSNR, yosys synthesis, in a pool of two processes."""
    cfg = SweepConfig(**TWO_POINTS)
    result = run_sweep(cfg, tmp_path)
    pts = result["points"]
    assert (
        json.loads((tmp_path / "sweep.json").read_text())["points"][0]["pareto"] is True
    )  # w2a8: fewest LUTs
    assert [(p["bits"], p["channels"]) for p in pts] == [("w2a8", 4), ("w8a8", 4)]
    for p in pts:
        assert "error" not in p and p["lut"] > 0 and p["latency_cycles"] > 0 and p["fmax_mhz"] is None
        assert 0 < p["psnr_qat"] < 100 and p["psnr_conditions"] > 0
    assert pts[0]["lut"] < pts[1]["lut"]  # 2-bit weights: fewer shift-add terms than 8-bit
    assert any(p["pareto"] for p in pts)
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["points"] == json.loads(json.dumps(pts))
    assert "| w2a8 | 4 |" in (tmp_path / "sweep.md").read_text()
    assert (tmp_path / "pareto.png").stat().st_size > 1000 and (tmp_path / "psnr_bits.png").is_file()


@pytest.mark.slow
def test_place_and_route_reuses_the_synthesis(tmp_path):
    """A synthesis-only sweep, then the same grid with --pnr sharing its cache: only place and route runs."""
    cache = tmp_path / "cache"
    first = run_sweep(SweepConfig(**TINY), tmp_path / "synth", cache=cache)["points"][0]
    assert "error" not in first and first["fmax_mhz"] is None
    p = run_sweep(SweepConfig(**TINY, pnr=True), tmp_path / "pnr", cache=cache)["points"][0]
    assert "error" not in p and p["cached"] == ["train", "export", "synth"] and p["lut"] == first["lut"]
    assert p["fmax_mhz"] > 10 and (p["timing"] == "met" or p["timing"].startswith("not met"))
    assert (Path(p["folder"]) / "build" / "build_report.json").is_file()
