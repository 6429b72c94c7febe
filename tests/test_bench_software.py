"""`bench/software.py`: the run's own model in every contender, and an imported run's missing ones named."""

from __future__ import annotations

import shutil

import pytest

from fluorogate.bench.software import software_throughput
from fluorogate.models.runs import open_run

pytestmark = pytest.mark.integration  # g++: the fast reference's kernels


def test_the_runs_own_files_side_by_side():
    run = open_run("default")
    r = software_throughput(run.path, size=32, repeats=1, threads=1)
    assert r["run"] == str(run.path) and r["graph"] == run.graph.name and r["reference_path"] == "fast"
    assert set(r["ms_per_frame"]) == {"reference", "reference_spec", "onnxruntime_float", "torch_float"}
    assert r["skipped"] == {} and all(v > 0 for v in r["ms_per_frame"].values())
    for name, speedup in r["reference_speedup"].items():
        assert speedup == pytest.approx(r["ms_per_frame"][name] / r["ms_per_frame"]["reference"], rel=0.05)
    assert r["machine"]["load_avg_1_5_15"] and r["machine_end"]["load_avg_1_5_15"]


def test_an_imported_run_has_no_float_contenders(tmp_path):
    """Only ir.json + model.qonnx.onnx (what `fluorogate import` leaves): the float contenders are skipped
    with the reason, not replaced by another network."""
    run = open_run("default").path
    for name in ("ir.json", "model.qonnx.onnx"):
        shutil.copy(run / name, tmp_path / name)
    r = software_throughput(tmp_path, size=16, repeats=1, threads=1)
    assert set(r["ms_per_frame"]) == {"reference", "reference_spec"}
    assert "no float ONNX (model.onnx" in r["skipped"]["onnxruntime_float"]
    assert "config.json" in r["skipped"]["torch_float"]
