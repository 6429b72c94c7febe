"""Physics checks of the simulated microscope: resolution, photon transfer, SIM patterns, SMLM truth."""

import math

import numpy as np
import pytest
from scipy import special
from scipy.optimize import curve_fit

from fluorogate.sim.camera import get_preset
from fluorogate.sim.optics import Grid, Optics, blur, psf_kernel
from fluorogate.sim.ptc import photon_transfer
from fluorogate.sim.smlm import SMLMConfig, smlm_movie
from fluorogate.sim.specimen import splat
from fluorogate.sim.structured import SIMConfig, sim_stack
from fluorogate.sim.tasks import simulate_movie


def flat(_rng, n, grid):
    """A uniform fluorescent sheet: density 1 = `photons` per camera pixel."""
    return {"area": np.ones((n, *grid.fine_shape), dtype=np.float32)}


def half_max_width(profile: np.ndarray) -> float:
    """Full width at half maximum of a single peak, in samples, by linear interpolation of the crossings."""
    i = int(np.argmax(profile))
    half = profile[i] / 2
    r = i + int(np.flatnonzero(profile[i:] < half)[0])
    left = i - int(np.flatnonzero(profile[: i + 1][::-1] < half)[0])
    x_right = r - 1 + (profile[r - 1] - half) / (profile[r - 1] - profile[r])
    x_left = left + (half - profile[left]) / (profile[left + 1] - profile[left])
    return x_right - x_left


@pytest.mark.parametrize("psf", ["airy", "gaussian"])
def test_bead_fwhm_is_051_lambda_over_na(psf):
    # A bead on a 4x fine grid (27 nm pixels), imaged by the same kernel and pixel integration as frames.
    optics = Optics(psf=psf)
    grid = Grid.for_optics(25, 25, optics.pixel_nm(6.5), 4, optics)
    c = round(float(grid.camera_to_fine(12.0)))
    bead = splat(np.zeros(1, np.int64), np.array([c]), np.array([c]), np.ones(1), 1, grid.fine_shape)
    image = blur(bead, psf_kernel(optics, grid.fine_nm))[0]
    fwhm_nm = half_max_width(image[c]) * grid.fine_nm
    assert fwhm_nm == pytest.approx(0.51 * optics.wavelength_nm / optics.na, rel=0.03)


def pixel_gaussian(yx, amp, y0, x0, sigma, base):
    """A 2D Gaussian integrated over unit pixels centred on integer coordinates."""
    y, x = yx
    s = sigma * math.sqrt(2)
    ex = (special.erf((x + 0.5 - x0) / s) - special.erf((x - 0.5 - x0) / s)) / 2
    ey = (special.erf((y + 0.5 - y0) / s) - special.erf((y - 0.5 - y0) / s)) / 2
    return (amp * ex * ey + base).ravel()


def test_noisy_bead_fit_recovers_psf_width():
    # What a user would do: average a noisy bead movie and fit a pixel-integrated Gaussian.
    def bead(_rng, n, grid):
        c = grid.camera_to_fine(np.array([10.3]))
        return {"point": splat(np.zeros(1, np.int64), c, grid.camera_to_fine(np.array([9.6])), np.ones(1), n,
                               grid.fine_shape)}

    optics = Optics()
    movie = simulate_movie(50, 21, photons=2000, background=5, specimen=bead, seed=1, optics=optics, oversample=4)
    preset = movie.preset
    image = movie.adu.mean(axis=0) - preset.offset_adu
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    popt, _ = curve_fit(pixel_gaussian, (yy, xx), image.ravel(), p0=[image.sum(), 10, 10, 1, 0])
    assert popt[1] == pytest.approx(10.3, abs=0.02)
    assert popt[2] == pytest.approx(9.6, abs=0.02)
    sigma_nm = popt[3] * movie.pixel_nm
    # the bilinear splat of an off-grid point adds f(1-f) fine pixels^2 of variance: <= 1.5% in sigma at 4x
    assert sigma_nm == pytest.approx(optics.sigma_nm, rel=0.03)


@pytest.mark.parametrize("name", ["scmos", "ccd12"])
def test_photon_transfer_gives_gain_and_read_noise(name):
    preset = get_preset(name).model_copy(update={"hot_pixel_fraction": 0.0})
    levels = [0, 2, 8, 30, 100, 300, 1000]  # photons per pixel: below the ADC ceiling of every preset
    stacks = [simulate_movie(8, 48, photons=p, background=0, preset=preset, specimen=flat, seed=i).adu
              for i, p in enumerate(levels)]
    ptc = photon_transfer(stacks, preset.offset_adu)
    assert ptc.slope_adu_per_e == pytest.approx(preset.gain_adu_per_e, rel=0.05)
    assert ptc.read_noise_e(preset.gain_adu_per_e) == pytest.approx(preset.read_noise_e, rel=0.05)


def test_emccd_excess_noise_doubles_the_slope():
    preset = get_preset("emccd").model_copy(update={"hot_pixel_fraction": 0.0})
    stacks = [simulate_movie(16, 64, photons=p, background=0, preset=preset, specimen=flat, seed=i).adu
              for i, p in enumerate([0, 0.3, 1, 3, 10])]  # EM gain 300: low light only
    ptc = photon_transfer(stacks, preset.offset_adu)
    assert ptc.slope_adu_per_e == pytest.approx(2 * preset.em_gain * preset.gain_adu_per_e, rel=0.05)
    # the intercept is small next to amplified shot noise: seeds scatter it by ~5%, so 10% here
    assert ptc.read_noise_e(preset.gain_adu_per_e) == pytest.approx(preset.read_noise_e, rel=0.10)


def fit_cosine(image: np.ndarray, k: np.ndarray) -> tuple[float, float]:
    """Least-squares a + b cos + c sin at wave vector k (cycles per pixel): modulation and phase."""
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    arg = 2 * np.pi * (k[0] * yy + k[1] * xx)
    design = np.stack([np.ones(image.size), np.cos(arg).ravel(), np.sin(arg).ravel()], axis=1)
    (a, b, c), *_ = np.linalg.lstsq(design, image.ravel(), rcond=None)
    return math.hypot(b, c) / a, math.atan2(-c, b)


def test_sim_pattern_frequency_and_modulation_as_set():
    optics = Optics(magnification=100)  # 65 nm pixels: the pattern sits well below Nyquist
    cfg = SIMConfig(modulation=0.8, frequency=0.7)
    stack = sim_stack(96, photons=1000, background=0, specimen=flat, seed=0, config=cfg, optics=optics)
    assert stack.adu.shape == (3, 3, 96, 96)
    k_expected = cfg.frequency * optics.cutoff_per_nm * stack.pixel_nm
    pre = stack.expected_adu - get_preset("scmos").offset_adu
    for a in range(3):
        k = stack.k_cycles_per_px[a]
        assert np.hypot(*k) == pytest.approx(k_expected, rel=1e-9)
        # frequency measured from the image: the periodogram peaks at k (zero-padded FFT, 1/8 bin)
        spec = np.abs(np.fft.fft2(pre[a, 0] - pre[a, 0].mean(), s=(768, 768)))
        f = np.fft.fftfreq(768)
        iy, ix = np.unravel_index(np.argmax(spec[:, : 384]), spec[:, : 384].shape)
        k_meas = np.array([f[iy], f[ix]])
        assert np.allclose(k_meas, k, atol=1.5 / 768) or np.allclose(-k_meas, k, atol=1.5 / 768)
        # contrast = m x OTF(k) x pixel sinc for the Gaussian PSF; phases step by 2 pi / 3
        otf = math.exp(-2 * (math.pi * optics.sigma_nm / stack.pixel_nm) ** 2 * (k @ k))
        mtf = otf * np.sinc(k[0]) * np.sinc(k[1])
        fits = [fit_cosine(pre[a, p], k) for p in range(3)]
        for modulation, _ in fits:
            assert modulation == pytest.approx(cfg.modulation * abs(mtf), rel=0.05)
        steps = np.angle(np.exp(1j * np.diff([phase for _, phase in fits])))
        assert np.allclose(steps, 2 * np.pi / 3, atol=0.02)
    # the noisy frames carry the same pattern
    noisy = stack.adu[0, 0].astype(float) - get_preset("scmos").offset_adu
    assert fit_cosine(noisy, stack.k_cycles_per_px[0])[0] == pytest.approx(fit_cosine(pre[0, 0],
                                                                          stack.k_cycles_per_px[0])[0], rel=0.1)


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
        yy, xx = np.mgrid[cy - 4 : cy + 5, cx - 4 : cx + 5]
        popt, _ = curve_fit(pixel_gaussian, (yy, xx), win.ravel(), p0=[win.sum(), cy, cx, 0.7, 0])
        assert popt[1] == pytest.approx(row["y_px"], abs=0.02)
        assert popt[2] == pytest.approx(row["x_px"], abs=0.02)
        assert win.sum() / preset.qe == pytest.approx(row["photons"], rel=0.02)
        checked += 1
    assert checked >= 10
