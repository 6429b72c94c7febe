"""`ModelConfig.tail_init`: the identity init makes every net with a global skip start as its input (so
the output ReLU is alive), and configs saved before the field existed load as PyTorch's "default" init."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from fluorogate.models.config import ModelConfig
from fluorogate.models.nets import build_model, start_training
from fluorogate.models.run import load_config, save_config
from fluorogate.models.shipped import default_config
from fluorogate.models.train import _new_phase


def _started(cfg: ModelConfig, seed: int, quant: bool = False) -> nn.Module:
    """The network as training starts it from scratch, in eval mode."""
    torch.manual_seed(seed)
    model = build_model(cfg, quant=quant)
    start_training(model)
    return model.eval()


def _codes(cfg: ModelConfig, seed: int) -> torch.Tensor:
    """Random input codes on the input's grid above a pedestal, as the camera delivers them."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(8, 2**cfg.act_bits, (2, cfg.spec.in_channels, 16, 16), generator=gen)
    return codes.float() * 2.0 ** -cfg.act_bits


@pytest.mark.parametrize(("task", "channels"), [("denoise", 8), ("denoise", 12), ("unet", 8), ("sr2x", 8),
                                                ("sim3", 8)])
@pytest.mark.parametrize("seed", [1, 3])
def test_identity_init_returns_the_input_on_the_output_grid(task, channels, seed):
    cfg = ModelConfig(task=task, channels=channels)
    assert cfg.tail_init == "identity"
    model = _started(cfg, seed)
    x = _codes(cfg, seed)
    with torch.no_grad():
        y = model(x)
    want = nn.functional.interpolate(x.mean(dim=1, keepdim=True), scale_factor=cfg.spec.scale, mode="nearest")
    torch.testing.assert_close(y, want, rtol=1e-6, atol=1e-7)
    assert bool((y > 0).all())  # alive everywhere: every output pixel passes a gradient


def test_the_qat_twin_starts_alive_within_two_input_steps_of_the_input():
    """The 8-bit per-tensor power-of-two weight scale of a tail whose largest weight is exactly 1 is 2**-7
    (Brevitas rounds log2 of the scale), so the identity tap saturates at 127/128: the twin's output is
    the input less up to 2 steps of its grid at the top of the range. (The twin only starts from trained
    float weights, whose tap sits below 1; this pins down what the untrained twin computes.)"""
    cfg = ModelConfig()
    model = _started(cfg, 1, quant=True)
    x = _codes(cfg, 1)
    with torch.no_grad():
        y = model(x)
    step = 2.0 ** -cfg.act_bits
    assert bool((y > 0).all())
    assert float((x - y).min()) >= 0 and float((x - y).max()) == 2 * step


def test_training_starts_from_the_identity_and_build_model_stays_random():
    """Only the tail differs from the "default" start (same RNG stream); an untrained `build_model` twin,
    which the back ends' bit-exactness tests use, keeps its random tail."""
    cfg = default_config()
    states = []
    for init in ("default", "identity"):
        torch.manual_seed(1)
        run = cfg.model_copy(update={"model": ModelConfig(tail_init=init)})
        states.append(_new_phase(run, "float", 1, None)[0].state_dict())
    assert [k for k in states[0] if not torch.equal(states[0][k], states[1][k])] == ["tail.weight", "tail.bias"]
    assert float(states[1]["tail.weight"].abs().sum()) == 1.0
    torch.manual_seed(1)
    assert torch.equal(build_model(ModelConfig(), quant=False).state_dict()["tail.weight"], states[0]["tail.weight"])


def test_a_net_without_a_global_skip_keeps_the_default_init():
    assert ModelConfig(task="smlm").tail_init == "default"
    with pytest.raises(ValueError, match="no global skip"):
        ModelConfig(task="smlm", tail_init="identity")


def test_a_config_saved_before_tail_init_loads_as_default(tmp_path):
    shipped = default_config()
    assert shipped.model.tail_init == "default"  # the shipped json has no key: trained from the random init
    data = json.loads(shipped.model_dump_json())
    del data["model"]["tail_init"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    assert load_config(tmp_path).model.tail_init == "default"
    new = shipped.model_copy(update={"model": ModelConfig()})
    assert new.model.tail_init == "identity"
    save_config(tmp_path, new)
    assert load_config(tmp_path).model.tail_init == "identity"  # recorded, so it survives the migration


@pytest.mark.parametrize(("flag", "want"), [([], "identity"), (["--tail-init", "default"], "default")])
def test_train_cli_records_the_tail_init(tmp_path, flag, want):
    from fluorogate.cli import build_parser
    from fluorogate.models.cli import _run_config

    cfg = _run_config(build_parser().parse_args(["train", "--out", str(tmp_path / "run"), *flag]))
    assert cfg.model.tail_init == want
    assert json.loads(cfg.model_dump_json())["model"]["tail_init"] == want
