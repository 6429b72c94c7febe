"""`fluorogate sweep`: grid points' configs, the Pareto marking, and (slow) a real 2-point sweep."""

from __future__ import annotations

import json

import pytest

from fluorogate.bench.sweep import mark_pareto, run_sweep
from fluorogate.bench.sweep_point import SweepConfig, point_config
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
    pts = [{"lut": 100, "latency_cycles": 50, "psnr_qat": 20.0},   # cheapest
           {"lut": 200, "latency_cycles": 50, "psnr_qat": 25.0},   # better PSNR for more LUTs
           {"lut": 300, "latency_cycles": 50, "psnr_qat": 24.0},   # dominated by the second
           {"lut": 300, "latency_cycles": 40, "psnr_qat": 24.0},   # faster: not dominated
           {"bits": "w8a8", "channels": 8, "error": "failed"}]
    mark_pareto(pts)
    assert [p.get("pareto") for p in pts] == [True, True, False, True, None]


def test_empty_grid_is_refused(tmp_path):
    with pytest.raises(UserError, match="empty"):
        run_sweep(SweepConfig(bits=[], channels=[8]), tmp_path)


@pytest.mark.slow
def test_two_point_sweep(tmp_path):
    """Real training (a handful of steps), export, PSNR, yosys synthesis, in a pool of two processes."""
    cfg = SweepConfig(bits=["w2a8", "w8a8"], channels=[4], steps=8, size=8, latency_size=64, eval_frames=1,
                      eval_size=64, jobs=2)
    result = run_sweep(cfg, tmp_path)
    pts = result["points"]
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
