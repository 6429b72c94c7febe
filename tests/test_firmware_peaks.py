"""SMLM peak finder: the integer reference against the float decoder, and fg_peaks3 under cocotb
bit-exact against the reference (words and TLAST) at 4 pixels per beat, with input gaps and output
backpressure (records dropped by a full FIFO: counted, frame ends kept), and its FIFO's worst case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fluorogate.firmware.peaks import write_peaks
from fluorogate.quantize.peaks import (
    PeakConfig,
    backlog,
    beat_words,
    compare_stream,
    fifo_depth,
    frame_words,
    peak_records,
    to_localizations,
)
from fluorogate.sim.camera import get_preset
from fluorogate.sim.localize import localize_density, score
from fluorogate.sim.smlm import smlm_frames

SHIFT = 3  # 8 ADU per code, as the smlm camera conversion at 8 bits


def _maps(
    n: int, size: int, seed: int, density: float = 0.8, photons: float = 2000
) -> tuple[np.ndarray, object]:
    """Density maps of simulated frames as 8-bit codes (offset removed, pedestal 2 codes) and the frames."""
    f = smlm_frames(n, size, photons, density, 20, seed=seed)
    codes = np.rint((f.density_adu - get_preset("scmos").offset_adu) / 2**SHIFT) + 2
    return np.clip(codes, 0, 255).astype(np.int64), f


def test_integer_peaks_agree_with_the_float_decoder():
    codes, f = _maps(4, 32, 1)
    cfg = PeakConfig(threshold=6, baseline=2)
    gain = get_preset("scmos").qe * get_preset("scmos").gain_adu_per_e
    ints = np.concatenate(
        [to_localizations(peak_records(c, cfg), i, cfg, 2, SHIFT, gain) for i, c in enumerate(codes)]
    )
    flts = localize_density((codes - 2) * 2**SHIFT / gain, (6 - 2) * 2**SHIFT / gain, 2, 1.0)
    assert len(ints) == len(flts) > 20
    # the same peaks; positions differ by the fixed-point rounding only (1/32 output px = 1.7 nm)
    assert np.abs(ints["y_px"] - flts["y_px"]).max() <= 1 / 32
    assert np.allclose(ints["photons"], flts["photons"], rtol=0.02)  # capture at the rounded offset
    s = score(ints, f.localizations, 1.0, f.pixel_nm, (32, 32))
    assert s["jaccard"] > 0.9 and s["rmse_nm"] < 5  # the code grid costs little on a clean map


@pytest.mark.parametrize("photons", [500.0, 3000.0])
def test_integer_photons_unbiased_on_the_target(photons):
    """3x3 sum / capture fraction on the code grid of the noise-free target: the photon ratio is ~1, so
    the network, not the peak finder, owns the photon bias measured behind it (docs/tasks.md, smlm)."""
    codes, f = _maps(3, 48, 5, density=0.5, photons=photons)
    cfg = PeakConfig(threshold=3, baseline=2)
    gain = get_preset("scmos").qe * get_preset("scmos").gain_adu_per_e
    loc = np.concatenate(
        [to_localizations(peak_records(c, cfg), i, cfg, 2, SHIFT, gain) for i, c in enumerate(codes)]
    )
    s = score(loc, f.localizations, 1.0, f.pixel_nm, (48, 48))
    assert s["tp"] > 20 and abs(s["photon_ratio"] - 1) < 0.01, s


def test_stream_words_and_frame_end():
    frame = np.zeros((4, 6), np.int64)
    frame[1, 1], frame[3, 5] = 40, 30
    words, last = frame_words(frame, PeakConfig(threshold=3))
    assert len(words) == 3 and last.tolist() == [False, False, True] and words[-1] == 0
    assert int(words[0]) & 0xFFFF == 1 and (int(words[0]) >> 16) & 0xFFFF == 1 and int(words[0]) >> 48 == 40
    assert int(words[1]) >> 48 == 30 and (int(words[1]) >> 16) & 0xFFFF == 3
    with pytest.raises(ValueError, match="baseline 5 above threshold 3"):
        PeakConfig(threshold=3, baseline=5)


def _edge_frames(h: int, w: int) -> np.ndarray:
    """Corner peaks (a record and the frame end in one FIFO entry), a plateau, and an empty frame."""
    a = np.zeros((h, w), np.int64)
    a[0, 0], a[-1, -1], a[2, 3], a[2, 4] = 150, 200, 90, 90
    return np.stack([a, np.zeros((h, w), np.int64)])


def _dense_lines(h: int, w: int) -> np.ndarray:
    """The densest peak pattern (every other column of every other line): the FIFO's worst case."""
    a = np.zeros((h, w), np.int64)
    a[::2, ::2] = 40
    return a


def test_fifo_depth_covers_the_densest_lines():
    cfg = PeakConfig(threshold=3)
    for width, lanes in [(32, 4), (64, 4), (256, 4), (64, 2), (64, 1)]:
        held = backlog(beat_words(_dense_lines(8, width), cfg, lanes))
        assert held == width // lanes * max(0, lanes - 2) // lanes + 1, (width, lanes, held)
        assert held + 4 <= fifo_depth(width, lanes)


def test_compare_stream_finds_a_wrong_or_lost_word():
    frames = np.stack([_dense_lines(4, 8), np.zeros((4, 8), np.int64)])
    cfg = PeakConfig(threshold=3)
    words = np.concatenate([frame_words(f, cfg, k)[0] for k, f in enumerate(frames)]).tolist()
    last = np.concatenate([frame_words(f, cfg, k)[1] for k, f in enumerate(frames)]).tolist()
    assert compare_stream(words, last, frames, cfg) == 0
    assert compare_stream(words[1:], last[1:], frames, cfg) == 1
    with pytest.raises(AssertionError, match="not a subsequence"):
        compare_stream(words[1:2] + words[:1] + words[2:], last, frames, cfg)
    with pytest.raises(AssertionError, match="frame 1: end word"):
        compare_stream([*words[:-1], 0], last, frames, cfg)
    with pytest.raises(AssertionError, match="1 frame ends received"):
        compare_stream(words[:-1], last[:-1], frames, cfg)


def run_peaks_bench(
    tmp_path: Path, frames: np.ndarray, cfg: PeakConfig, lanes: int, valid: float, ready: float, drops: bool
) -> None:
    """fg_peaks3 (its block top) under cocotb on `frames` (codes), checked by tests/cocotb_peaks3.py."""
    from cocotb_tools.runner import get_runner

    from fluorogate.bench.cosim.simulators import get_simulator, simulator_env

    npz = tmp_path / "peaks.npz"
    np.savez(npz, frames=frames, config=cfg.model_dump_json())
    h, w = frames.shape[1:]
    sim, env = get_simulator("icarus")
    with simulator_env(env):
        runner = get_runner(sim)
        runner.build(
            sources=write_peaks(tmp_path / "src", w, h, 8, cfg, lanes),
            hdl_toplevel="fg_peaks3_top",
            build_dir=tmp_path / "build",
            timescale=("1ns", "1ps"),
        )
        results = runner.test(
            test_module="cocotb_peaks3",
            hdl_toplevel="fg_peaks3_top",
            test_dir=Path(__file__).parent,
            extra_env={
                "PEAKS_NPZ": str(npz),
                "PEAKS_VALID": str(valid),
                "PEAKS_READY": str(ready),
                "PEAKS_LANES": str(lanes),
                "PEAKS_DROPS": str(int(drops)),
            },
            results_xml=str(tmp_path / "results.xml"),
        )
    xml = Path(results).read_text()
    assert "<testcase" in xml and "<failure" not in xml and "<error" not in xml, xml


@pytest.mark.integration
@pytest.mark.parametrize(
    ("size", "lanes", "valid", "ready", "drops"),
    [
        (6, 4, 1.0, 1.0, False),  # full rate, the densest lines included: no drop, bit-exact
        (6, 4, 0.9, 0.15, True),  # a slow sink: drops, counted, frame ends kept
        pytest.param(6, 1, 0.7, 0.5, False, marks=pytest.mark.slow),
        pytest.param(24, 4, 1.0, 1.0, False, marks=pytest.mark.slow),
        pytest.param(12, 8, 1.0, 1.0, True, marks=pytest.mark.slow),  # 2 camera lanes: the densest lines drop
    ],
)
def test_fg_peaks3_under_cocotb(tmp_path, size, lanes, valid, ready, drops):
    codes, _ = _maps(size // 6, size, 3, density=4.0)  # 2 size x 2 size maps, dense (Deep-STORM's regime)
    edges = _edge_frames(2 * size, 2 * size)
    dense = np.repeat(_dense_lines(2 * size, 2 * size)[None], 3 if drops else 1, axis=0)  # fills the FIFO
    frames = np.concatenate([edges, codes, dense, edges[:1]])
    cfg = PeakConfig(threshold=6, baseline=2)
    assert sum(len(frame_words(f, cfg)[0]) for f in frames) > size
    run_peaks_bench(tmp_path, frames, cfg, lanes, valid, ready, drops)
