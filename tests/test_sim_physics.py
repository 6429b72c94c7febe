"""Physics checks of the simulated microscope: resolution, photon transfer, SIM patterns, SMLM truth."""

import numpy as np
import pytest

from fluorogate.sim.calibrate import PTC_LEVELS, PTC_LEVELS_EM, bead_at, bead_fwhm_nm, flat, flat_stacks
from fluorogate.sim.camera import get_preset
from fluorogate.sim.measure import fit_cosine, fit_spot
from fluorogate.sim.optics import Optics
from fluorogate.sim.pairs import simulate_movie
from fluorogate.sim.ptc import photon_transfer
from fluorogate.sim.smlm import SMLMConfig, smlm_movie
from fluorogate.sim.structured import SIMConfig, sim_stack


@pytest.mark.parametrize("psf", ["airy", "gaussian"])
def test_bead_fwhm_is_051_lambda_over_na(psf):
    # a bead on a 4x fine grid (27 nm pixels), imaged by the same kernel and pixel integration as frames
    optics = Optics(psf=psf)
    assert bead_fwhm_nm(optics) == pytest.approx(0.51 * optics.wavelength_nm / optics.na, rel=0.03)


def test_noisy_bead_fit_recovers_psf_width():
    # what a user would do: average a noisy bead movie and fit a pixel-integrated Gaussian
    optics = Optics()
    movie = simulate_movie(
        50, 21, photons=2000, background=5, specimen=bead_at(10.3, 9.6), seed=1, optics=optics, oversample=4
    )
    spot = fit_spot(movie.adu.mean(axis=0) - movie.preset.offset_adu, 10, 10)
    assert spot["y"] == pytest.approx(10.3, abs=0.02)
    assert spot["x"] == pytest.approx(9.6, abs=0.02)
    # the bilinear splat of an off-grid point adds f(1-f) fine pixels^2 of variance: <= 1.5% in sigma at 4x
    assert spot["sigma"] * movie.pixel_nm == pytest.approx(optics.sigma_nm, rel=0.03)


@pytest.mark.parametrize("name", ["scmos", "ccd12"])
def test_photon_transfer_gives_gain_and_read_noise(name):
    preset = get_preset(name)
    ptc = photon_transfer(flat_stacks(preset, PTC_LEVELS), preset.offset_adu)
    assert ptc.slope_adu_per_e == pytest.approx(preset.gain_adu_per_e, rel=0.05)
    assert ptc.read_noise_e(preset.gain_adu_per_e) == pytest.approx(preset.read_noise_e, rel=0.05)


def test_emccd_excess_noise_doubles_the_slope():
    preset = get_preset("emccd")
    ptc = photon_transfer(flat_stacks(preset, PTC_LEVELS_EM, frames=16, size=64), preset.offset_adu)
    assert ptc.slope_adu_per_e == pytest.approx(2 * preset.em_gain * preset.gain_adu_per_e, rel=0.05)
    # the intercept is small next to amplified shot noise: seeds scatter it by ~5%, so 10% here
    assert ptc.read_noise_e(preset.gain_adu_per_e) == pytest.approx(preset.read_noise_e, rel=0.10)


@pytest.mark.parametrize("psf", ["gaussian", "airy"])
def test_sim_pattern_frequency_and_modulation_as_set(psf):
    optics = Optics(magnification=100, psf=psf)  # 65 nm pixels: the pattern sits well below Nyquist
    cfg = SIMConfig(modulation=0.8, frequency=0.7)
    stack = sim_stack(96, photons=1000, background=0, specimen=flat, seed=0, config=cfg, optics=optics)
    assert stack.adu.shape == (3, 3, 96, 96)
    k_expected = cfg.frequency * optics.cutoff_per_nm * stack.pixel_nm
    pre = stack.expected_adu - get_preset("scmos").offset_adu
    for a in range(3):
        k = stack.k_cycles_per_px[a]
        assert np.hypot(*k) == pytest.approx(k_expected, rel=1e-9)
        # frequency measured from the image: the periodogram peaks at +-k (8x zero-padded FFT)
        spec = np.abs(np.fft.fft2(pre[a, 0] - pre[a, 0].mean(), s=(768, 768)))
        f = np.fft.fftfreq(768)
        iy, ix = np.unravel_index(np.argmax(spec[:, :384]), spec[:, :384].shape)
        k_meas = np.array([f[iy], f[ix]])
        assert np.allclose(k_meas, k, atol=1.5 / 768) or np.allclose(-k_meas, k, atol=1.5 / 768)
        # contrast = m x OTF(k) x pixel sinc; phases step by 2 pi / 3
        fits = [fit_cosine(pre[a, p], k) for p in range(3)]
        for modulation, _ in fits:
            assert modulation == pytest.approx(stack.expected_contrast(a), rel=0.05)
        steps = np.angle(np.exp(1j * np.diff([phase for _, phase in fits])))
        assert np.allclose(steps, 2 * np.pi / 3, atol=0.02)
    # the noisy frames carry the same pattern
    noisy = stack.adu[0, 0].astype(float) - get_preset("scmos").offset_adu
    assert fit_cosine(noisy, stack.k_cycles_per_px[0])[0] == pytest.approx(
        stack.expected_contrast(0), rel=0.1
    )


def test_smlm_positions_and_photons_match_the_frames():
    preset = get_preset("scmos")
    cfg = SMLMConfig(structure="random", emitters_per_um2=0.5, p_on=0.05, p_off=0.6)
    movie = smlm_movie(30, 64, background=10, seed=3, config=cfg)
    locs = movie.localizations
    assert len(locs) > 20
    signal_e = (movie.expected_adu - preset.offset_adu) / preset.gain_adu_per_e
    background_e = preset.qe * 10 + preset.dark_current_e_per_s * preset.exposure_s
    checked = 0
    for row in locs:
        same = locs[(locs["frame"] == row["frame"]) & (locs["emitter"] != row["emitter"])]
        dist = np.hypot(same["y_px"] - row["y_px"], same["x_px"] - row["x_px"])
        cy, cx = round(row["y_px"]), round(row["x_px"])
        if (dist < 8).any() or not (4 <= cy < 60 and 4 <= cx < 60):
            continue  # crowded or at the edge: not a clean single-emitter check
        win = signal_e[row["frame"], cy - 4 : cy + 5, cx - 4 : cx + 5] - background_e
        spot = fit_spot(win, cy, cx, origin=(cy - 4, cx - 4))
        assert spot["y"] == pytest.approx(row["y_px"], abs=0.02)
        assert spot["x"] == pytest.approx(row["x_px"], abs=0.02)
        assert win.sum() / preset.qe == pytest.approx(row["photons"], rel=0.02)
        checked += 1
    assert checked >= 10
