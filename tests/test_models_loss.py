"""`TrainConfig.loss`: "psnr" weighs a dim and a bright batch alike (the per-level PSNR target), "mse" by
brightness."""

from __future__ import annotations

import json
import math

import pytest
import torch

from fluorogate.models import ModelConfig
from fluorogate.models.config import RunConfig, TrainConfig
from fluorogate.models.run_folder import CHECKPOINT, load_checkpoint, load_config, save_config
from fluorogate.models.shipped import default_config
from fluorogate.models.train import loss_fn, psnr_loss, train
from fluorogate.quantize.camera import choose_conversion
from fluorogate.sim.camera import get_preset

TINY = TrainConfig(float_steps=6, qat_steps=4, batch=2, patch=16, chunk=4, refresh=3, checkpoint_every=4)


def _cfg(loss: str) -> RunConfig:
    return RunConfig(
        model=ModelConfig(),
        train=TINY.model_copy(update={"loss": loss}),
        camera=choose_conversion(get_preset("scmos")),
    )


def test_psnr_loss_is_minus_the_batch_psnr_by_hand():
    truth = torch.tensor([0.0, 1.0, 2.0, 4.0]).view(1, 1, 2, 2)
    pred = torch.tensor([0.5, 1.0, 2.0, 3.0]).view(1, 1, 2, 2)
    mse = (0.25 + 0 + 0 + 1.0) / 4  # range 4
    assert float(psnr_loss(pred, truth)) == pytest.approx(-10 * math.log10(16 / mse), rel=1e-6)


def test_psnr_weighs_a_dim_and_a_bright_batch_alike_and_mse_does_not():
    """Two batches, the bright one 4x the dim one (20 vs 5 photons), one gain to fit: the MSE gradient of
    the bright batch is 16x the dim one's, the PSNR loss's gradients are equal (and its values too)."""
    x = torch.tensor([1.0, 2.0, 3.0, 5.0]).view(1, 1, 2, 2)
    t = torch.tensor([1.5, 2.0, 2.5, 4.0]).view(1, 1, 2, 2)
    grads = {}
    for name, fn in (("mse", lambda p, q: torch.mean((p - q) ** 2)), ("psnr", psnr_loss)):
        for scale in (1.0, 4.0):
            w = torch.tensor(0.9, requires_grad=True)
            value = fn(w * scale * x, scale * t)
            value.backward()
            grads[name, scale] = (float(value.detach()), float(w.grad))
    assert grads["mse", 4.0][1] == pytest.approx(16 * grads["mse", 1.0][1], rel=1e-5)
    assert grads["psnr", 4.0][1] == pytest.approx(grads["psnr", 1.0][1], rel=1e-5)
    assert grads["psnr", 4.0][0] == pytest.approx(grads["psnr", 1.0][0], rel=1e-5)
    # and by hand: d(-PSNR)/dw = 10/ln10 * dMSE/dw / MSE
    mse, dmse = grads["mse", 1.0]
    assert grads["psnr", 1.0][1] == pytest.approx(10 / math.log(10) * dmse / mse, rel=1e-5)


def test_loss_fn_follows_the_config():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    x, t = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    pred = model(x).detach()
    mse, _ = loss_fn(_cfg("mse"), model, x, t, 0)
    psnr, _ = loss_fn(_cfg("psnr"), model, x, t, 0)
    assert float(mse) == pytest.approx(float(torch.mean((pred - t) ** 2)), rel=1e-6)
    rng = float(t.max() - t.min())
    assert float(psnr) == pytest.approx(-10 * math.log10(rng**2 / float(mse)), rel=1e-5)


def test_training_uses_the_loss(tmp_path):
    weights = {}
    for loss in ("mse", "psnr"):
        run = tmp_path / loss
        run.mkdir()
        cfg = _cfg(loss)
        save_config(run, cfg)
        metrics = train(run, cfg, progress=False)
        weights[loss] = load_checkpoint(run / CHECKPOINT)["model"]
        assert (metrics["loss"] < 0) == (loss == "psnr")  # minus a PSNR in dB, or an MSE
    assert any(not torch.equal(weights["mse"][k], weights["psnr"][k]) for k in weights["mse"])


def test_loss_defaults_to_mse_and_old_configs_load_as_mse(tmp_path):
    assert TrainConfig().loss == "mse"
    shipped = default_config(task="denoise_c12")
    data = json.loads(shipped.model_dump_json())
    data["train"].pop("loss")
    (tmp_path / "config.json").write_text(json.dumps(data))
    assert load_config(tmp_path).train.loss == "mse"
    with pytest.raises(ValueError, match="supervised"):
        TrainConfig(loss="psnr", mode="n2v")


@pytest.mark.parametrize(("flag", "want"), [([], "mse"), (["--loss", "psnr"], "psnr")])
def test_train_cli_records_the_loss(monkeypatch, flag, want):
    from fluorogate.cli import build_parser
    from fluorogate.models.cli import _run_config

    argv = ["train", "--out", "r", *flag]
    monkeypatch.setattr("sys.argv", ["fluorogate", *argv])
    cfg = _run_config(build_parser().parse_args(argv))
    assert cfg.train.loss == want
    assert json.loads(cfg.model_dump_json())["train"]["loss"] == want
    assert ("--loss psnr" in cfg.command) == (want == "psnr")
