"""The smlm task: registry entry, pairs, network size, QAT output on the peak finder's code grid, and the
localization evaluation (fit baseline, float, QAT through the integer peak finder)."""

import numpy as np
import pytest
import torch
from net_costs import macs_per_pixel

from fluorogate.models.config import ModelConfig, RunConfig, TrainConfig
from fluorogate.models.nets import build_model
from fluorogate.models.tasks import get_task
from fluorogate.quantize.camera import choose_conversion
from fluorogate.sim.camera import get_preset


def _cfg() -> RunConfig:
    spec = get_task("smlm")
    train = TrainConfig(**spec.train)
    return RunConfig(
        model=ModelConfig(task="smlm"),
        train=train,
        camera=choose_conversion(get_preset(train.preset), train.peak_photons, 8),
    )


def test_registry_entry_and_network_size():
    spec = get_task("smlm")
    assert (spec.net, spec.scale, spec.in_channels, spec.default_layers) == ("smlm", 2, 1, 3)
    cfg = _cfg()
    assert cfg.train.photons == (500.0, 3000.0) and cfg.camera.shift == 3  # 8 ADU per code
    assert macs_per_pixel(cfg.model) == 72 + 4 * (576 + 72)  # 2,664 MACs per camera pixel
    assert min(spec.levels) >= 500  # eval levels are photons per emitter


def test_pairs_shapes_units_and_reproducibility():
    from fluorogate.models.smlm import pairs

    cfg = _cfg()
    adu, truth = pairs(3, 32, 1500.0, cfg.train, 4)
    assert adu.shape == (3, 32, 32) and truth.shape == (3, 64, 64)
    np.testing.assert_array_equal(adu, pairs(3, 32, 1500.0, cfg.train, 4)[0])
    offset = get_preset("scmos").offset_adu
    assert truth.min() == offset and truth.max() > offset + 100  # empty background, bright spots
    # the target's brightest pixel stays within the codes the input conversion covers
    assert (truth.max() - cfg.camera.offset) / 2**cfg.camera.shift < 255


def test_qat_output_is_on_the_peak_finders_code_grid():
    from fluorogate.models.evaluate import run_network
    from fluorogate.models.smlm import pairs, peak_config, peak_localizations

    cfg = _cfg()
    torch.manual_seed(0)
    qat = build_model(cfg.model, quant=True).eval()
    adu, _ = pairs(2, 16, 1500.0, cfg.train, 1)
    out = run_network(qat, adu, cfg)
    codes = (out - cfg.camera.offset) / 2**cfg.camera.shift
    np.testing.assert_array_equal(codes, np.rint(codes))
    pc = peak_config(cfg, 16.0)
    assert (
        pc.baseline == 2 and pc.threshold == 2 + 3
    )  # pedestal 16 ADU; 16 ph x 1.736 ADU/ph / 8 ADU per code
    assert peak_localizations(out, cfg, 16.0).dtype.names == ("frame", "y_px", "x_px", "photons")


def test_extra_eval_scores_the_fit_baseline():
    from fluorogate.models.smlm import EVAL_DENSITIES, extra_eval

    metrics, section = extra_eval(_cfg(), None, None, 2, 48)
    rows = metrics["smlm"]["densities"]
    assert list(rows) == [f"{d:g}/um2" for d in EVAL_DENSITIES]
    low = rows[f"{EVAL_DENSITIES[0]:g}/um2"]
    assert low["emitters"] > 0 and 3 < low["crlb_nm"] < 8  # 1500 photons, 20 background, 108 nm pixels
    assert low["gaussian fit"]["jaccard"] > 0.7 and low["gaussian fit"]["rmse_nm"] < 3 * low["crlb_nm"]
    assert "| density | emitters | CRLB nm | gaussian fit |" in section


def test_no_frames_is_a_user_error():
    from fluorogate.errors import UserError
    from fluorogate.sim.smlm import smlm_frames

    with pytest.raises(UserError, match="at least one frame"):
        smlm_frames(0, 16, 1000.0, 0.5)


@pytest.mark.integration
@pytest.mark.slow
def test_smlm_through_the_chain(tmp_path):
    """A briefly trained smlm run: export -> IR reference == QAT on camera frames -> RTL in cocotb bit-exact
    (backpressure), and the peak finder on the hardware's codes equals the one on QAT's output."""
    from fluorogate.bench.cosim.cocotb_run import simulate_graph
    from fluorogate.models.evaluate import run_network
    from fluorogate.models.export_run import export_run
    from fluorogate.models.run_folder import save_config
    from fluorogate.models.smlm import pairs, peak_config
    from fluorogate.models.train import load_models, train
    from fluorogate.quantize.ir import IntegerGraph
    from fluorogate.quantize.peaks import frame_words
    from fluorogate.quantize.reference import codes_from_adu, run_graph

    cfg = _cfg()
    cfg.train.float_steps, cfg.train.qat_steps, cfg.train.chunk = 40, 20, 32
    save_config(tmp_path, cfg)
    train(tmp_path, cfg, progress=False)
    export_run(tmp_path, force=True)
    graph = IntegerGraph.load(tmp_path / "ir.json")
    _, qat = load_models(tmp_path, cfg)
    adu, _ = pairs(2, 16, 2000.0, cfg.train, 9)
    ref = np.stack([run_graph(graph, codes_from_adu(graph, a))[0] for a in adu])
    codes = (run_network(qat, adu, cfg) - cfg.camera.offset) / 2**cfg.camera.shift
    np.testing.assert_array_equal(ref, codes)
    res = simulate_graph(graph, [adu[0][:8, :8], adu[1][:8, :8]], tmp_path / "rtl", ready_prob=0.8)
    assert res.ok and res.frames_out == 2
    pc = peak_config(cfg, 8.0)
    for r, c in zip(ref, codes, strict=True):
        np.testing.assert_array_equal(frame_words(r, pc)[0], frame_words(c.astype(np.int64), pc)[0])
