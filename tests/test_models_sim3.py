"""sim3 baselines and resolution metrics: Wiener SIM, widefield, bead FWHM, Fourier ring correlation."""

import math

import numpy as np
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
