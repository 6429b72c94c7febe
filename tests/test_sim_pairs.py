"""Simulator outputs: shapes, dtypes, reproducibility, photon budget, sensor limits, task pairs."""

import numpy as np
import pytest

from fluorogate.errors import UserError
from fluorogate.sim.camera import PRESETS, get_preset
from fluorogate.sim.pairs import denoise_batch, simulate_frames, simulate_movie, sr2x_batch
from fluorogate.sim.real import load_real_crop
from fluorogate.sim.specimen import SPECIMENS, from_image


def test_presets_match_the_data_sheets():
    assert {"scmos", "ccd12", "emccd"} <= set(PRESETS)
    s = get_preset("scmos")
    assert (s.qe, s.read_noise_e, s.gain_adu_per_e, s.offset_adu, s.adu_bits) == (0.8, 1.4, 2.17, 100, 16)
    assert (s.width, s.height, s.fps) == (2048, 2048, 100.0)
    assert get_preset("emccd").em_gain > 1 and get_preset("ccd12").adu_bits == 12
    with pytest.raises(UserError, match="unknown camera preset 'nope'; choose one of ccd12, emccd, scmos"):
        get_preset("nope")


def test_denoise_batch_shapes_and_reproducibility():
    noisy, clean = denoise_batch(6, 32, photons=10, seed=4)
    assert noisy.shape == clean.shape == (6, 32, 32)
    assert noisy.dtype == np.uint16 and clean.dtype == np.float32
    again, clean2 = denoise_batch(6, 32, photons=10, seed=4)
    np.testing.assert_array_equal(noisy, again)
    np.testing.assert_array_equal(clean, clean2)
    assert not np.array_equal(noisy, denoise_batch(6, 32, photons=10, seed=5)[0])
    # the noisy frames scatter around the truth: mean residual ~0, same offset
    assert abs(float((noisy - clean).mean())) < 0.5
    assert clean.min() >= get_preset("scmos").offset_adu


@pytest.mark.parametrize("specimen", sorted(SPECIMENS))
def test_photon_budget_on_structures(specimen):
    preset = get_preset("scmos")
    frames = simulate_frames(8, 64, photons=10, background=2, specimen=specimen, seed=1)
    signal = (frames.expected_e - preset.qe * 2 - preset.dark_current_e_per_s * preset.exposure_s) / preset.qe
    assert signal.min() > -1e-3
    # the brightest structures carry about the budget: within the lognormal/texture spread
    assert 5 < np.percentile(signal, 99.9) < 40
    assert frames.object_fine.shape == (8, 128, 128)


def test_sr2x_pairs_share_intensity_units():
    low, high = sr2x_batch(4, 32, photons=10, specimen="nuclei", seed=2)
    assert low.shape == (4, 32, 32) and high.shape == (4, 64, 64)
    binned = high.reshape(4, 32, 2, 32, 2).mean(axis=(2, 4))
    _, clean = denoise_batch(4, 32, photons=10, specimen="nuclei", seed=2)
    np.testing.assert_allclose(binned, clean, rtol=1e-4)


def test_sensor_clips_to_adc_range_and_hot_pixels_stay_put():
    ccd = get_preset("ccd12")
    ramp = from_image(np.arange(32 * 32).reshape(32, 32))
    frames = simulate_frames(2, 32, photons=1e6, background=0, preset=ccd, specimen=ramp, seed=0)
    assert frames.adu.max() == 4095 and frames.expected_adu.max() <= 4095
    hot = get_preset("scmos").model_copy(update={"hot_pixel_fraction": 0.01, "hot_pixel_e_per_s": 1e5})
    movie = simulate_movie(3, 64, photons=0, background=0, preset=hot, specimen="beads", seed=0)
    bright = movie.adu > 1000
    assert 10 < bright[0].sum() < 90 and (bright == bright[0]).all()


def test_bad_budget_and_names_are_user_errors():
    with pytest.raises(UserError, match="photons must be >= 0"):
        denoise_batch(1, 16, photons=-1)
    with pytest.raises(UserError, match="background must be >= 0"):
        denoise_batch(1, 16, photons=1, background=-2)
    with pytest.raises(UserError, match="unknown specimen 'cells'"):
        denoise_batch(1, 16, photons=1, specimen="cells")


def test_real_crop_as_specimen():
    image = load_real_crop()
    assert image.data.shape == (256, 256) and image.data.dtype == np.uint16
    crop = image.data[:64, :64]
    frames = simulate_frames(1, 64, photons=20, background=2, specimen=from_image(crop), seed=0)
    # the simulated frame follows the real image's structure
    assert np.corrcoef(frames.expected_adu[0].ravel(), crop.ravel())[0, 1] > 0.9


@pytest.mark.slow
def test_full_scmos_frame_streams_round_trip():
    # one full 2048x2048 sCMOS frame, as the camera would send it: 4 lanes, blanking, valid gaps
    from fluorogate.sim.stream import StreamConfig, beats_to_frames, frames_to_beats

    preset = get_preset("scmos")
    noisy, clean = denoise_batch(1, preset.width, photons=10, specimen="mix", seed=0)
    assert noisy.shape == (1, 2048, 2048) and abs(float(noisy.mean() - clean.mean())) < 0.1
    stream = frames_to_beats(list(noisy), StreamConfig(lanes=4, line_gap=16, frame_gap=64, valid_prob=0.9))
    np.testing.assert_array_equal(beats_to_frames(stream, 2048, 2048, 4)[0], noisy[0])
