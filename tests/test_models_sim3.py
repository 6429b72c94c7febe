"""sim3 baselines and resolution metrics: Wiener SIM, widefield, bead FWHM, Fourier ring correlation."""

import math

import numpy as np
import pytest
from scipy import ndimage

from fluorogate.models.metrics import psnr
from fluorogate.models.resolution import FWHM_PER_SIGMA, bead_fwhm, frc, frc_resolution
from fluorogate.models.wiener_sim import WienerSIM, best_wiener_sim, widefield
from fluorogate.sim.sim3 import sim3_frames


def _gauss_image(sigma: float, centres, size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2)) for y, x in centres) + 0.1


def test_bead_fwhm_recovers_a_known_gaussian():
    img = _gauss_image(2.0, [(15.3, 20.0), (40.0, 44.6)])
    fwhm, n = bead_fwhm([img], [img], 7)
    assert n == 2
    assert math.isclose(fwhm, 2.0 * FWHM_PER_SIGMA, rel_tol=0.01)
    # two beads closer than 2 radii are not fitted (neither is alone)
    crowded = _gauss_image(2.0, [(30.0, 30.0), (30.0, 38.0)])
    assert bead_fwhm([crowded], [crowded], 7)[1] == 0


def test_frc_of_identical_images_is_one_and_of_independent_noise_near_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 128, 128))
    freq, same = frc(a, a)
    np.testing.assert_allclose(same[1:], 1.0)
    _, indep = frc(a, b)
    assert abs(float(np.mean(indep[1:]))) < 0.05 and float(np.max(np.abs(indep[4:]))) < 0.5
    assert freq[-1] == 0.5
    # smooth image + independent noise: resolution between Nyquist and the frame
    smooth = ndimage.gaussian_filter(rng.normal(size=(128, 128)), 3.0) * 20
    res, limited = frc_resolution(smooth + 0.3 * a, smooth + 0.3 * b)
    assert not limited and 4 < res < 64
    assert frc_resolution(a, a) == (2.0, True)  # identical: never below 1/7, Nyquist-limited


def test_wiener_sim_beats_widefield_on_beads_fwhm_frc_and_psnr():
    kw = dict(phases="all", specimen="beads", seed=5)
    f = sim3_frames(2, 96, 100, **kw)
    g = sim3_frames(2, 96, 100, noise=1, **kw)
    off = f.preset.offset_adu
    stacks = [s.astype(np.float64) - off for s in f.adu]
    truths = [t - off for t in f.truth]
    wiener, w2 = best_wiener_sim(stacks, f, truths)
    wide = [widefield(s) for s in stacks]
    rng = float(np.max(truths) - np.min(truths))
    assert psnr(wiener[0], truths[0], rng) > psnr(wide[0], truths[0], rng) + 3
    truth_fwhm = bead_fwhm(truths, truths, 6)[0]
    wiener_fwhm, n = bead_fwhm(wiener, truths, 6)
    wide_fwhm = bead_fwhm(wide, truths, 6)[0]
    assert n >= 5
    assert truth_fwhm < wiener_fwhm < 0.8 * wide_fwhm
    recon = WienerSIM(f, 96, 96)
    second = recon.estimate(recon.combine(g.adu[0].astype(np.float64) - off), w2)
    wide2 = widefield(g.adu[0].astype(np.float64) - off)
    assert frc_resolution(wiener[0], second)[0] < 0.8 * frc_resolution(wide[0], wide2)[0]
    # the DC gain is kept: the mean intensity matches the widefield's
    assert abs(float(wiener[0].mean()) / float(wide[0].mean()) - 1) < 0.02


def test_sim3_registry_entry_and_network_shape():
    import torch
    from net_costs import macs_per_pixel

    from fluorogate.models import ModelConfig
    from fluorogate.models.nets import Sim3Net, build_model

    cfg = ModelConfig(task="sim3")
    assert (cfg.layers, cfg.spec.in_channels, cfg.spec.scale) == (5, 3, 2)
    model = build_model(cfg, quant=False)
    assert isinstance(model, Sim3Net)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 16, 16)).shape == (2, 1, 32, 32)
    assert macs_per_pixel(cfg) == 2340  # the 1,500-3,000 MACs/px target at C=8


@pytest.mark.slow
def test_sim3_trains_exports_and_the_reference_equals_qat(tmp_path):
    """Tiny training, export, integer reference == QAT on sim3 frames, and the extra_eval hook (~2 min)."""
    from fluorogate.models import ModelConfig
    from fluorogate.models.config import RunConfig, TrainConfig
    from fluorogate.models.evaluate import run_network
    from fluorogate.models.export_run import export_run
    from fluorogate.models.run_folder import save_config
    from fluorogate.models.sim3 import extra_eval
    from fluorogate.models.train import load_models, train
    from fluorogate.quantize.camera import choose_conversion, real_to_adu
    from fluorogate.quantize.ir import IntegerGraph
    from fluorogate.quantize.reference import codes_from_adu, run_graph, to_real
    from fluorogate.sim.camera import get_preset
    from fluorogate.sim.sim3 import sim3_batch

    tiny = TrainConfig(float_steps=6, qat_steps=6, batch=2, patch=16, chunk=4, refresh=3, checkpoint_every=4)
    cfg = RunConfig(model=ModelConfig(task="sim3"), train=tiny, camera=choose_conversion(get_preset("scmos")))
    save_config(tmp_path, cfg)
    train(tmp_path, cfg, progress=False)
    export_run(tmp_path, force=True)
    graph = IntegerGraph.load(tmp_path / "ir.json")
    assert graph.input.channels == 3
    _, qat = load_models(tmp_path, cfg)
    adu, _ = sim3_batch(2, 24, 10, seed=1)
    ref = np.stack([to_real(graph, run_graph(graph, codes_from_adu(graph, a)))[0] for a in adu])
    np.testing.assert_array_equal(
        real_to_adu(ref, cfg.camera, cfg.model.act_bits), run_network(qat, adu, cfg)
    )
    flt, qat = load_models(tmp_path, cfg)
    metrics, section = extra_eval(cfg, flt, qat, 2, 48)
    assert set(metrics["resolution"]) == {"truth", "widefield (9)", "wiener sim (9)", "float", "qat"}
    assert "## sim3" in section and "bead FWHM" in section
