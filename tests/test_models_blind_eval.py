"""Evaluation without ground truth (`eval --data`), the clipping counts, and the N2V2 / structN2V masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from fluorogate.models.blind_eval import evaluate_movie, n2n_time, split_pairs
from fluorogate.models.config import TrainConfig
from fluorogate.models.masking import n2v_input, struct_offsets
from fluorogate.quantize.clipping import input_clipping, no_clip_shift
from fluorogate.quantize.ir import CameraConversion
from fluorogate.sim.pairs import simulate_movie


def test_n2n_in_time_ranks_filters_as_psnr_does():
    """On a simulated movie with known truth, the criterion's order of raw and Gaussians of several widths
    is PSNR's order, and its excess over the floor is the true MSE (within 5 %)."""
    m = simulate_movie(6, 96, 10, 2, "scmos", "mix", seed=4)
    adu, truth = m.adu.astype(np.float64), np.asarray(m.expected_adu, np.float64)
    floor = float(np.mean((adu - truth) ** 2))
    crit, mse = [], []
    for sigma in (0, 1.0, 3.0, 6.0):
        out = [ndimage.gaussian_filter(f, sigma) if sigma else f for f in adu[:-1]]
        crit.append(n2n_time(out, adu[1:]))
        mse.append(float(np.mean([(o - t) ** 2 for o, t in zip(out, truth[:-1], strict=True)])))
    assert np.argsort(crit).tolist() == np.argsort(mse).tolist()
    for c, e in zip(crit, mse, strict=True):
        assert c - floor == pytest.approx(e, rel=0.05, abs=0.05 * floor)


def test_evaluate_movie_ranks_methods_as_psnr_with_the_shipped_network():
    m = simulate_movie(5, 64, 20, 2, "scmos", "mix", seed=2)
    from fluorogate.models.shipped import shipped_run

    report = evaluate_movie(m.adu, [], truth=np.asarray(m.expected_adu), bm3d=False)
    assert report["rank_agreement"] == pytest.approx(1.0)
    res = report["results"]
    assert res["gaussian"]["n2n_mse"] < res["raw"]["n2n_mse"] and res["raw"]["gain_db"] == 0
    assert report["pairs"] == 4 and report["criterion"] == "time"
    del shipped_run


def test_evaluate_movie_with_a_run_and_the_spatial_split(tmp_path):
    from fluorogate.models.shipped import shipped_run

    run = shipped_run(tmp_path / "shipped")
    m = simulate_movie(4, 64, 20, 2, "scmos", "mix", seed=3)
    report = evaluate_movie(m.adu, [str(run)], truth=np.asarray(m.expected_adu), bm3d=False)
    assert {"shipped (qat)", "shipped (float)"} <= set(report["results"])
    # the shipped net beats raw on its own camera and light level, by both measures
    r = report["results"]
    assert (
        r["shipped (qat)"]["n2n_mse"] < r["raw"]["n2n_mse"] and r["shipped (qat)"]["psnr"] > r["raw"]["psnr"]
    )
    spatial = evaluate_movie(m.adu[:1], [], criterion="auto", bm3d=False)
    assert spatial["criterion"] == "spatial"
    a, b = split_pairs(m.adu[:1])
    assert a.shape == b.shape == (1, 32, 32)


@pytest.mark.skipif(
    not __import__("fluorogate.models.baselines", fromlist=["x"]).bm3d_available(),
    reason="bm3d (optional extra `pip install fluorogate[bm3d]`) is not installed",
)
def test_bm3d_on_the_anscombe_transform_beats_raw():
    m = simulate_movie(3, 64, 20, 2, "scmos", "mix", seed=2)
    report = evaluate_movie(m.adu, [], truth=np.asarray(m.expected_adu), camera="scmos")
    assert report["results"]["bm3d"]["psnr"] > report["results"]["raw"]["psnr"] + 3


def test_input_clipping_counts_exactly_and_the_no_clip_shift_keeps_the_peak():
    conv = CameraConversion(adu_bits=16, offset=90, shift=-1)  # 0.5 ADU per code: 255 codes hold 127.5 ADU
    adu = np.array([80, 90, 217, 218, 300])
    counts = input_clipping(adu, conv, 8)
    assert counts == {"low": 1, "high": 2, "pixels": 5}
    shift = no_clip_shift(300, 90, 8)
    assert shift == 0 and input_clipping(adu, conv.model_copy(update={"shift": shift}), 8)["high"] == 0
    assert no_clip_shift(90 + 255, 90, 8) == 0 and no_clip_shift(90 + 256, 90, 8) == 1


def test_frames_conversion_no_longer_clips_the_spots():
    """A sparse-spot movie: the 99.99th percentile rule (the old default) clipped the spot peaks; the
    default now keeps every pixel."""
    from fluorogate.models.frames import frames_conversion

    frames = simulate_movie(8, 128, 60, 15, "scmos", "puncta", seed=1).adu
    settings = {"camera_offset_adu": 100, "gain_adu_per_e": 2.17, "read_noise_e": 1.4}
    conv = frames_conversion([frames], settings, 8)
    assert input_clipping(frames, conv, 8)["high"] == 0
    old_shift = int(np.ceil(np.log2((np.percentile(frames, 99.99) - conv.offset) / 255)))
    assert input_clipping(frames, conv.model_copy(update={"shift": old_shift}), 8)["high"] > 0


def _batch(seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(10, 200, (4, 1, 24, 24), generator=g).float() / 256


def test_n2v2_replaces_blind_spots_by_the_neighbourhood_median_without_the_centre():
    x = _batch()
    tc = TrainConfig(mode="n2v", n2v_replace="median", n2v_fraction=0.05)
    masked, mask = n2v_input(x, tc, step=3, grid=1 / 256)
    assert mask.sum() > 0 and torch.equal(masked[~mask], x[~mask])
    n, c, y, xx = (int(v) for v in mask.nonzero()[0])
    if 2 <= y < 22 and 2 <= xx < 22:
        patch = x[n, c, y - 2 : y + 3, xx - 2 : xx + 3].flatten()
        expect = torch.cat([patch[:12], patch[13:]]).median()  # torch: the lower middle of 24
        assert masked[n, c, y, xx] == expect
    assert torch.all(torch.frac(masked * 256) == 0)  # on the input grid
    again, _ = n2v_input(x, tc, step=3, grid=1 / 256)
    assert torch.equal(again, masked)  # seeded by (seed, step)


@pytest.mark.parametrize("axis", ["row", "col"])
def test_struct_mask_overwrites_the_line_around_each_blind_spot(axis):
    x = _batch(1)
    tc = TrainConfig(mode="n2v", struct_mask=axis, struct_span=2, n2v_fraction=0.01)
    masked, mask = n2v_input(x, tc, step=0, grid=1 / 256)
    changed = masked != x
    offsets = struct_offsets(axis, 2)
    assert len(offsets) == 4 and all((dy == 0) if axis == "row" else (dx == 0) for dy, dx in offsets)
    n, c, y, xx = (int(v) for v in mask.nonzero()[0])
    dy, dx = offsets[-1]
    if 0 <= y + dy < 24 and 0 <= xx + dx < 24 and not mask[n, c, y + dy, xx + dx]:
        # overwritten by a random code between the patch's min and max (rarely equal to what was there)
        v = masked[n, c, y + dy, xx + dx]
        assert x[n].min() <= v <= x[n].max()
    assert changed.sum() > mask.sum()  # more pixels changed than blind spots: the lines
    assert torch.all(torch.frac(masked * 256) == 0)


def test_plain_n2v_is_unchanged():
    """`neighbour` without a struct mask is the original `blind_spot`: recorded N2V runs retrain
    identically."""
    from fluorogate.models.data import blind_spot

    x = _batch(2)
    a = n2v_input(x, TrainConfig(mode="n2v"), step=7, grid=1 / 256)
    b = blind_spot(x, 0.02, 7, 0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_train_on_a_calibrated_camera_then_eval_data_and_reference_report_clipping(tmp_path, capsys):
    """The matched-simulation route end to end on tiny sizes: calibrate -> train --camera -> export
    (clipping.json) -> eval --data (the report files) -> reference (the clipping line); an --input-shift
    that would clip the brightest simulated pixels is refused without --allow-clipping."""
    import json

    from fluorogate.cli import main
    from fluorogate.models.run_folder import load_config

    movie, cam, run = tmp_path / "m.ome.tif", tmp_path / "cam.json", tmp_path / "run"
    assert (
        main(
            [
                "simulate",
                "--preset",
                "scmos",
                "--specimen",
                "puncta",
                "--photons",
                "40",
                "--background",
                "5",
                "--frames",
                "8",
                "--size",
                "64",
                "--out",
                str(movie),
            ]
        )
        == 0
    )
    assert main(["calibrate", str(movie), "--out", str(cam)]) == 0
    common = [
        "train",
        "--camera",
        str(cam),
        "--specimen",
        "puncta",
        "--photons",
        "5",
        "10",
        "--background",
        "4",
        "--float-steps",
        "2",
        "--qat-steps",
        "2",
        "--patch",
        "16",
        "--out",
        str(run),
    ]
    assert main([*common, "--input-shift", "-3"]) == 2
    assert "saturate the input codes" in capsys.readouterr().err
    assert main(common) == 0
    out = capsys.readouterr().out
    assert "clipping: 0 of" in out
    cfg = load_config(run)
    assert cfg.train.preset.name.startswith("calibrated from") and cfg.train.specimen == "puncta"
    assert json.loads((run / "clipping.json").read_text())["input_high"] == 0
    assert main(["eval", str(run), "--data", str(movie), "--pairs", "3", "--no-bm3d"]) == 0
    assert "run (qat)" in (run / "eval_data.md").read_text() and (run / "eval_data.png").is_file()
    assert main(["reference", str(run), "--input", str(movie), "--out", str(tmp_path / "ref.tif")]) == 0
    assert "input pixels saturate" in capsys.readouterr().out
