"""Training: deterministic, resumable bit for bit, the camera front end, and the CLI's clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fluorogate.cli import main
from fluorogate.models import ModelConfig
from fluorogate.models.config import RunConfig, TrainConfig
from fluorogate.models.run_folder import CHECKPOINT, load_checkpoint, save_config
from fluorogate.models.train import PatchStream, train
from fluorogate.quantize.camera import adu_to_codes, choose_conversion
from fluorogate.sim.camera import PRESETS, get_preset

TINY = TrainConfig(float_steps=6, qat_steps=6, batch=2, patch=16, chunk=4, refresh=3, checkpoint_every=4)


def _cfg(**model) -> RunConfig:
    return RunConfig(model=ModelConfig(**model), train=TINY, camera=choose_conversion(get_preset("scmos")))


def _weights(run) -> dict:
    return load_checkpoint(run / CHECKPOINT)["model"]


def test_training_is_deterministic_and_resumes_bit_for_bit(tmp_path, monkeypatch):
    cfg = _cfg()
    runs = [tmp_path / n for n in ("a", "b", "c")]
    for run in runs:
        run.mkdir()
        save_config(run, cfg)
    train(runs[0], cfg, progress=False)
    train(runs[1], cfg, progress=False)
    a, b = _weights(runs[0]), _weights(runs[1])
    assert all(torch.equal(a[k], b[k]) for k in a)

    # interrupt run c inside the QAT phase (step 9, after the checkpoint at 8), then resume it
    original = PatchStream.batch

    def interrupted(self, step):
        if step == 9:
            raise KeyboardInterrupt
        return original(self, step)

    monkeypatch.setattr(PatchStream, "batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(runs[2], cfg, progress=False)
    assert load_checkpoint(runs[2] / CHECKPOINT)["step"] == 8
    monkeypatch.setattr(PatchStream, "batch", original)
    train(runs[2], cfg, resume=True, progress=False)
    c = _weights(runs[2])
    assert all(torch.equal(a[k], c[k]) for k in a)
    assert load_checkpoint(runs[2] / CHECKPOINT)["float_state"] is not None


def test_noise2void_mode_trains(tmp_path):
    cfg = _cfg().model_copy(update={"train": TINY.model_copy(update={"mode": "n2v", "qat_steps": 0})})
    save_config(tmp_path, cfg)
    metrics = train(tmp_path, cfg, progress=False)
    assert metrics["step"] == 6 and np.isfinite(metrics["loss"])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_camera_conversion_fits_the_peak_and_keeps_dark_pixels_above_zero(name):
    preset = PRESETS[name]
    conv = choose_conversion(preset, peak_photons=100.0, bits=8)
    gain = preset.qe * preset.em_gain * preset.gain_adu_per_e
    dark = (
        np.array([preset.offset_adu - 3 * preset.read_noise_e * preset.gain_adu_per_e])
        .round()
        .astype(np.int64)
    )
    peak = np.array([preset.offset_adu + 100 * gain]).round().astype(np.int64)
    assert adu_to_codes(dark, conv, "half_even", 8)[0] > 0
    assert adu_to_codes(peak, conv, "half_even", 8)[0] < 255


def _oracle_code(adu: int, offset: int, shift: int, rounding: str, bits: int) -> int:
    """The camera front end in plain Python integers and fractions: sat(round((adu - offset) / 2**shift))."""
    from fractions import Fraction
    from math import floor

    x = Fraction(adu - offset, 2**shift) if shift >= 0 else Fraction((adu - offset) * 2**-shift)
    code = round(x) if rounding == "half_even" else floor(x + Fraction(1, 2))  # round(): half to even
    return min(max(code, 0), 2**bits - 1)


@pytest.mark.parametrize("preset", ["emccd", "scmos", "ccd12"])  # shifts 5 (rounding matters), 0 and -3
def test_camera_codes_equal_a_plain_integer_oracle_in_the_reference_front_end(preset):
    from fluorogate.quantize.ir import InputNode, IntegerGraph, TensorQuant
    from fluorogate.quantize.reference import codes_from_adu

    conv = choose_conversion(get_preset(preset), bits=8)
    adu = np.concatenate([np.arange(0, 2**13, 7), conv.offset + np.arange(-40, 40)]).astype(np.int64)
    adu = adu[(adu >= 0) & (adu < 2**conv.adu_bits)]
    for rounding in ("half_even", "half_up"):
        node = InputNode(name="x", channels=1, quant=TensorQuant(bits=8, signed=False, exp=-8), camera=conv)
        graph = IntegerGraph(name="g", rounding=rounding, nodes=[node], output="x")
        oracle = [_oracle_code(int(a), conv.offset, conv.shift, rounding, 8) for a in adu]
        np.testing.assert_array_equal(codes_from_adu(graph, adu), oracle)
        np.testing.assert_array_equal(adu_to_codes(adu, conv, rounding, 8), oracle)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--task", "deblur"], "unknown task"),
        (["train", "--bits", "w9a8"], "weight bit width 9"),
        (["train", "--bits", "w4a1"], "activation bit width 1"),
        (["train", "--rounding", "up"], "half_even or half_up"),
        (["train", "--patch", "8"], "patch"),
    ],
)
def test_train_rejects_bad_options(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


def test_train_records_patch_in_the_run_config(monkeypatch):
    from fluorogate.cli import build_parser
    from fluorogate.models.cli import _run_config

    argv = ["train", "--task", "sim3", "--patch", "48", "--out", "r"]
    monkeypatch.setattr("sys.argv", ["fluorogate", *argv])
    cfg = _run_config(build_parser().parse_args(argv))
    assert (cfg.train.patch, cfg.model.task) == (48, "sim3")
    assert "--patch 48" in cfg.command
    assert _run_config(build_parser().parse_args(["train", "--out", "r"])).train.patch == TrainConfig().patch


def test_export_and_eval_name_the_missing_run(tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err
    save_config(tmp_path, _cfg())
    assert main(["export", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_extra_specimen_takes_its_share_of_chunks_and_leaves_the_test_set():
    from fluorogate.models.data import chunk_options

    tc = TINY.model_copy(update={"extra_specimen": "nuclei", "extra_fraction": 0.5})
    picked = [chunk_options(tc, seed).specimen for seed in range(400)]
    assert set(picked) == {"mix", "nuclei"} and 160 < picked.count("nuclei") < 240
    assert picked == [chunk_options(tc, seed).specimen for seed in range(400)]  # seeded: resumable
    assert tc.specimen == "mix"  # the simulated test set's specimen is untouched
    assert {chunk_options(TINY, seed).specimen for seed in range(50)} == {"mix"}
    with pytest.raises(ValueError, match="needs an extra_specimen"):
        TrainConfig(extra_fraction=0.3)
