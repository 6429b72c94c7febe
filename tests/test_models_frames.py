"""Noise2Void on the user's own frames: patches from TIFFs on disk, held-out frames, camera conversion from
metadata or options, the run's record of its data, fine-tuning from a trained run, export bit-exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fluorogate.cli import main
from fluorogate.errors import UserError
from fluorogate.imageio import write_tiff
from fluorogate.models.frames import (
    camera_settings,
    draw_patches,
    file_sha256,
    frames_conversion,
    split_frames,
)
from fluorogate.sim.camera import camera_metadata, get_preset

SCMOS = camera_metadata(get_preset("scmos"))


def _movie(n: int = 6, size: int = 32, level: float = 10.0) -> np.ndarray:
    """`n` noisy scmos exposures of a corner of the shipped real crop (a user's movie of one specimen)."""
    from fluorogate.models.evaluate import real_crop_frames
    from fluorogate.models.shipped import default_config

    adu, _ = real_crop_frames(level, n, default_config(), seed=11)
    return adu[:, :size, :size].astype(np.uint16)


def test_noise2void_trains_from_a_tiff_on_disk_and_exports_bit_exact(tmp_path, capsys):
    from fluorogate.models.run_folder import load_checkpoint, load_config
    from fluorogate.models.train import load_models
    from fluorogate.quantize.ir import IntegerGraph
    from fluorogate.quantize.reference import codes_from_adu, run_graph, to_real

    movie = _movie()
    path = write_tiff(tmp_path / "frames.ome.tif", movie, 0.1, metadata=SCMOS)
    run = tmp_path / "run"
    argv = ["train", "--mode", "n2v", "--data", str(path), "--steps", "8", "--patch", "16", "--out", str(run)]
    assert main(argv) == 0
    assert "held-out N2V loss" in capsys.readouterr().out
    cfg = load_config(run)
    (rec,) = cfg.train.data
    assert (rec.sha256, rec.frames, cfg.train.val_frames) == (file_sha256(path), 6, 1)
    # camera from the file's metadata: offset 100 - pedestal ceil(5 * 1.4 * 2.17) = 16; shift from the data
    assert cfg.camera.offset == 84 and cfg.camera.adu_bits == 16
    assert (
        cfg.camera.shift
        == frames_conversion([movie[:5]], {k: float(SCMOS[k]) for k in SCMOS if k != "camera"}, 8).shift
    )
    state = load_checkpoint(run / "checkpoint.pt")
    assert [s for s, _ in state["val_history"]] == [8] and np.isfinite(state["val_history"][0][1])

    # the exported IR computes what the trained QAT net computes, on a held-out frame
    from fluorogate.models.evaluate import run_network

    _, qat = load_models(run, cfg)
    graph = IntegerGraph.load(run / "ir.json")
    assert graph.input.camera == cfg.camera
    want = (run_network(qat, movie[5:], cfg) - cfg.camera.offset) * 2.0 ** (-cfg.camera.shift - 8)
    np.testing.assert_array_equal(
        to_real(graph, run_graph(graph, codes_from_adu(graph, movie[5])))[0], want[0]
    )

    # the data changed on disk: the run refuses to resume on it
    write_tiff(path, movie + 1, 0.1, metadata=SCMOS, force=True)
    assert main(["train", "--resume", "--out", str(run)]) == 2
    assert "sha256 differs" in capsys.readouterr().err


def test_held_out_frames_never_give_training_patches():
    stacks = [
        np.full((3, 20, 20), i, np.uint16) + np.arange(3, dtype=np.uint16)[:, None, None] * 10
        for i in range(2)
    ]  # frame values 0, 10, 20 | 1, 11, 21
    train, val = split_frames(stacks, 4)
    assert [len(s) for s in train] == [2] and [len(s) for s in val] == [1, 3]
    seen = set(np.unique(draw_patches(train, 200, 8, np.random.default_rng(0))))
    assert seen == {0, 10}  # both training frames drawn, nothing held out
    again = draw_patches(train, 200, 8, np.random.default_rng(0))
    np.testing.assert_array_equal(draw_patches(train, 200, 8, np.random.default_rng(0)), again)  # seeded
    with pytest.raises(UserError, match="held-out"):
        split_frames(stacks, 6)
    with pytest.raises(UserError, match="--patch 20"):
        draw_patches(train, 1, 32, np.random.default_rng(0))


def test_camera_settings_come_from_options_or_metadata_and_name_what_is_missing():
    none = {"camera_offset_adu": None, "gain_adu_per_e": None, "read_noise_e": None}
    assert camera_settings([SCMOS], none)["camera_offset_adu"] == 100.0
    assert camera_settings([SCMOS], none | {"camera_offset_adu": 90})["camera_offset_adu"] == 90.0
    with pytest.raises(UserError, match="--camera-offset N --camera-gain N --read-noise N"):
        camera_settings([{}], none)
    with pytest.raises(UserError, match="disagree on camera_offset_adu"):
        camera_settings([SCMOS, SCMOS | {"camera_offset_adu": 50}], none)
    settings = {"camera_offset_adu": 100.0, "gain_adu_per_e": 2.0, "read_noise_e": 1.0}  # pedestal 10 ADU
    conv = frames_conversion([np.full((2, 8, 8), 100 + 400, np.uint16)], settings, 8)
    assert (conv.offset, conv.shift) == (90, 1)  # 410 ADU above the offset: 255 codes of 2 ADU
    conv = frames_conversion([np.full((2, 8, 8), 100 + 40, np.uint16)], settings, 8)
    assert conv.shift == -2  # 50 ADU: an exact left shift by 2 spends the codes on the frames' range
    assert frames_conversion([np.zeros((1, 8, 8), np.uint16)], settings, 8, shift=3).shift == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--camera-offset N --camera-gain N --read-noise N"),
        (
            [
                "--camera-offset",
                "100",
                "--camera-gain",
                "2.17",
                "--read-noise",
                "1.4",
                "--mode",
                "supervised",
            ],
            "--mode n2v",
        ),
        (
            ["--camera-offset", "100", "--camera-gain", "2.17", "--read-noise", "1.4", "--val-frames", "6"],
            "held-out",
        ),
    ],
)
def test_train_on_frames_rejects_what_it_cannot_use(tmp_path, capsys, extra, message):
    path = write_tiff(tmp_path / "plain.tif", _movie(), 0.1)  # no camera metadata
    argv = ["train", "--mode", "n2v", "--data", str(tmp_path), "--out", str(tmp_path / "r"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    write_tiff(path, _movie().astype(np.float32), force=True)
    assert (
        main(
            [
                *argv[: -len(extra) or None],
                "--camera-offset",
                "100",
                "--camera-gain",
                "2",
                "--read-noise",
                "1",
            ]
        )
        == 2
    )
    assert "integer camera ADU" in capsys.readouterr().err


def test_init_starts_from_the_shipped_float_weights(tmp_path):
    from fluorogate.models.config import ModelConfig, RunConfig, TrainConfig
    from fluorogate.models.run_folder import load_checkpoint, save_config
    from fluorogate.models.shipped import load_default
    from fluorogate.models.train import train
    from fluorogate.quantize.camera import choose_conversion

    tc = TrainConfig(float_steps=0, qat_steps=1, batch=2, patch=16, chunk=4, mode="n2v", init="shipped")
    cfg = RunConfig(model=ModelConfig(), train=tc, camera=choose_conversion(get_preset("scmos")))
    save_config(tmp_path, cfg)
    train(tmp_path, cfg, progress=False)
    shipped = load_default(quant=False).state_dict()
    got = load_checkpoint(tmp_path / "checkpoint.pt")["float_state"]
    assert all(torch.equal(shipped[k], got[k]) for k in shipped)
    wide = cfg.model_copy(update={"model": ModelConfig(channels=4)})
    with pytest.raises(UserError, match="network differs"):
        train(tmp_path, wide, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["train"]["init"] == "shipped"


def test_a_simulated_movie_carries_the_camera_numbers_training_needs(tmp_path):
    from fluorogate.imageio import read_tiff
    from fluorogate.models.frames import prepare

    out = tmp_path / "movie.ome.tif"
    assert main(["simulate", "--preset", "ccd12", "--frames", "3", "--size", "32", "--out", str(out)]) == 0
    assert read_tiff(out).metadata["camera_offset_adu"] == "50"
    records, val, conv = prepare([str(tmp_path)], 8, {})  # the folder: its one TIFF
    ccd = get_preset("ccd12")
    assert (len(records), records[0].frames, val) == (1, 3, 1)
    assert conv.offset == ccd.offset_adu - int(np.ceil(5 * ccd.read_noise_e * ccd.gain_adu_per_e))
    assert conv.adu_bits == 16  # the stream width of the stored uint16
