"""SMLM pairs and localization: MLE fit against the Cramer-Rao bound, peak rule, density decoding,
matching and scores, and the Gaussian-fit baseline on simulated frames."""

import numpy as np
import pytest

from fluorogate.sim.camera import get_preset
from fluorogate.sim.localize import (
    LOC_DTYPE,
    _profile,
    centroid_table,
    crlb_mortensen,
    fit_gaussian,
    local_maxima,
    localize_density,
    localize_fit,
    score,
)
from fluorogate.sim.optics import Optics
from fluorogate.sim.smlm import render_density, smlm_frames


def _rois(rng, k, size, sigma, photons, background):
    """`k` ROIs of Poisson counts of an integrated Gaussian at uniform sub-pixel offsets (the fit's model)."""
    y0, x0 = rng.uniform(-0.5, 0.5, k), rng.uniform(-0.5, 0.5, k)
    pix = np.arange(size) - size // 2
    ey, _ = _profile(pix[None], y0[:, None], sigma)
    ex, _ = _profile(pix[None], x0[:, None], sigma)
    return rng.poisson(photons * ey[:, :, None] * ex[:, None, :] + background), y0, x0


@pytest.mark.parametrize(("photons", "background"), [(1000, 20), (300, 10)])
def test_mle_reaches_the_cramer_rao_bound(photons, background):
    rng = np.random.default_rng(0)
    rois, y0, x0 = _rois(rng, 1500, 9, 1.0, photons, background)
    fit = fit_gaussian(rois, 1.0)
    bound = np.sqrt(crlb_mortensen(photons, background, 1.0))
    for err in (fit.y - y0, fit.x - x0):
        assert abs(err.mean()) < 0.2 * bound  # unbiased
        assert err.std() == pytest.approx(bound, rel=0.1)  # efficient: measured 0.3-1.5% off
    assert np.sqrt(np.median(fit.crlb_y)) == pytest.approx(bound, rel=0.03)  # Fisher at the fit = formula
    assert np.median(fit.photons) == pytest.approx(photons, rel=0.02)
    assert np.median(fit.background) == pytest.approx(background, rel=0.05)
    assert len(fit_gaussian(rois[:0], 1.0).y) == 0


def test_mortensen_limits():
    sigma = 1.3
    assert crlb_mortensen(1000, 0.0, sigma) == pytest.approx((sigma**2 + 1 / 12) / 1000)
    low, high = crlb_mortensen(1000, [1.0, 100.0], sigma)
    assert crlb_mortensen(1000, 0.0, sigma) < low < high
    assert crlb_mortensen(1000, 10.0, sigma, excess=2.0) == pytest.approx(
        2 * crlb_mortensen(1000, 10.0, sigma)
    )


def test_peak_rule_ties_threshold_and_edges():
    v = np.zeros((5, 6), np.int64)
    v[2, 2] = v[2, 3] = 7  # plateau: the first in raster order wins
    v[0, 5] = 3  # corner peak: outside the frame never beats it
    v[4, 0] = 1  # at the threshold: not above it
    mask = local_maxima(v, 1)
    assert sorted(zip(*np.nonzero(mask), strict=True)) == [(0, 5), (2, 2)]
    v[3, 2] = 7  # a later neighbour below-left of (2, 3) ties: (2, 2) still wins, (2, 3) and (3, 2) do not
    assert sorted(zip(*np.nonzero(local_maxima(v, 1)), strict=True)) == [(0, 5), (2, 2)]
    np.testing.assert_array_equal(local_maxima(v.astype(float), 1), local_maxima(v, 1))


def test_centroid_table_inverts_the_raw_centroid():
    table = centroid_table(1.0, 5)
    assert table[32] == 0 and table[0] == -table[64] and np.all(np.diff(table) >= 0)
    assert np.all(np.diff(table[16:49]) > 0) and table[32 + 8] == pytest.approx(0.5, abs=0.01)
    assert table[32 + 10] > 10 / 32  # the raw centroid underestimates the offset


@pytest.mark.parametrize(("y", "x"), [(10.0, 12.0), (9.3, 14.74), (11.49, 10.51)])
def test_density_decoding_recovers_positions_and_photons(y, x):
    dens = render_density(
        np.array([0]), np.array([y]), np.array([x]), np.array([2000.0]), (1, 24, 24), 2, 1.0
    )
    assert dens.sum() == pytest.approx(2000, rel=1e-4)  # cut at 4 sigma
    loc = localize_density(dens, 5.0, 2, 1.0)
    assert len(loc) == 1
    assert loc["y_px"][0] == pytest.approx(y, abs=0.01) and loc["x_px"][0] == pytest.approx(x, abs=0.01)
    assert loc["photons"][0] == pytest.approx(2000, rel=0.01)  # 3x3 capture at the offset


def test_match_and_score_count_exactly():
    truth = np.zeros(4, LOC_DTYPE)
    truth["frame"] = [0, 0, 0, 1]
    truth["y_px"], truth["x_px"], truth["photons"] = [5, 10, 15, 5], [5, 10, 15, 5], 1000
    pred = np.zeros(4, LOC_DTYPE)
    pred["frame"] = [0, 0, 0, 1]
    pred["y_px"], pred["x_px"], pred["photons"] = [5.3, 10, 18, 5], [5.4, 10, 15, 5], [1000, 500, 1, 1000]
    s = score(pred, truth, 1.0, 100.0, (20, 20))
    assert (s["tp"], s["fp"], s["fn"]) == (3, 1, 1)
    assert s["jaccard"] == pytest.approx(3 / 5)
    assert s["rmse_nm"] == pytest.approx(np.sqrt(0.5**2 / 3) * 100)
    assert s["photon_ratio"] == pytest.approx(1.0)


def test_smlm_frames_pairs_and_the_fit_baseline():
    preset = get_preset("scmos")
    f = smlm_frames(6, 48, 2000, 0.3, 20, seed=2)
    assert f.adu.shape == (6, 48, 48) and f.adu.dtype == np.uint16 and f.density_adu.shape == (6, 96, 96)
    again = smlm_frames(6, 48, 2000, 0.3, 20, seed=2)
    np.testing.assert_array_equal(f.adu, again.adu)
    gain = preset.qe * preset.gain_adu_per_e
    inner = f.localizations[
        (f.localizations["y_px"] > 3)
        & (f.localizations["y_px"] < 44)
        & (f.localizations["x_px"] > 3)
        & (f.localizations["x_px"] < 44)
    ]
    assert len(f.localizations) == pytest.approx(6 * 0.3 * (48 * f.pixel_nm / 1000) ** 2, rel=0.3)
    dens = (f.density_adu - preset.offset_adu) / gain
    for row in inner[:5]:  # each emitter's target sums to its photons, around its position
        u, v = round(2 * float(row["y_px"]) + 0.5), round(2 * float(row["x_px"]) + 0.5)
        assert dens[row["frame"], u - 4 : u + 5, v - 4 : v + 5].sum() >= 0.99 * row["photons"]
    sigma = Optics().sigma_nm / f.pixel_nm
    electrons = (f.adu.astype(float) - preset.offset_adu) / preset.gain_adu_per_e
    s = score(
        localize_fit(electrons, sigma, 5.0, preset.read_noise_e), f.localizations, 1.0, f.pixel_nm, (48, 48)
    )
    assert s["jaccard"] > 0.8 and s["rmse_nm"] < 15
