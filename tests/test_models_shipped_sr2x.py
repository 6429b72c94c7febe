"""The shipped 2x models (super-resolution, SMLM density, SIM from 3 frames): the sr2x model loads
through the task-aware shipped API and beats bicubic on fresh simulated frames; the run folder written
from each exports to an IR equal to its QAT model."""

from __future__ import annotations

import numpy as np
import pytest

from fluorogate.models.evaluate import run_network
from fluorogate.models.metrics import psnr
from fluorogate.models.shipped import default_config, load_default, shipped_eval, shipped_run
from fluorogate.sim.pairs import sr2x_batch


def test_shipped_sr2x_loads_and_beats_bicubic():
    from skimage.transform import rescale

    cfg = default_config(task="sr2x")
    assert cfg.model.task == "sr2x" and cfg.model.bits_tag == "w4a8" and "--task sr2x" in cfg.command
    assert "qat" in shipped_eval(task="sr2x")["sim 10 ph"]
    adu, truth = sr2x_batch(2, 40, 10.0, preset=cfg.train.preset, seed=515151)
    offset = 100.0
    truths = [t.astype(np.float64) - offset for t in truth]
    net = run_network(load_default(task="sr2x"), adu, cfg) - offset
    assert net.shape[-2:] == truth.shape[-2:]
    bicubic = [rescale(a.astype(np.float64) - offset, 2, order=3, mode="reflect") for a in adu]
    net_psnr = np.mean([psnr(o, t) for o, t in zip(net, truths, strict=True)])
    bic_psnr = np.mean([psnr(o, t) for o, t in zip(bicubic, truths, strict=True)])
    assert net_psnr > bic_psnr + 3.0, (net_psnr, bic_psnr)


@pytest.mark.parametrize("task", ["sr2x", "smlm", "sim3"])
def test_shipped_run_of_a_2x_task_exports_an_ir_equal_to_the_model(tmp_path, task):
    from fluorogate.models.export_run import export_run
    from fluorogate.quantize.ir import IntegerGraph
    from fluorogate.quantize.reference import codes_from_adu, run_graph, to_real

    run = shipped_run(tmp_path / task, task=task)
    graph = IntegerGraph.load(export_run(run)["ir.json"])
    cfg = default_config(task=task)
    spec = cfg.model.spec
    adu, _ = spec.hook("pairs")(1, 24, spec.levels[1], cfg.train, 9)
    want = (run_network(load_default(task=task), adu, cfg) - cfg.camera.offset) * 2.0 ** (
        -cfg.camera.shift - 8
    )
    got = to_real(graph, run_graph(graph, codes_from_adu(graph, adu[0])))[0]
    assert got.shape == (48, 48)
    np.testing.assert_array_equal(got, want[0])
