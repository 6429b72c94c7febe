"""`ModelConfig.tail_init`: the identity init makes every net with a global skip start as its input, the
pedestal init starts smlm (no global skip) at its target's pedestal (so the output ReLU is alive), and
configs saved before the field existed load as PyTorch's "default" init."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from fluorogate.models.config import ModelConfig
from fluorogate.models.nets import build_model, start_training, target_pedestal
from fluorogate.models.run_folder import load_config, save_config
from fluorogate.models.shipped import default_config
from fluorogate.models.train import _new_phase
from fluorogate.sim.camera import get_preset


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
    return codes.float() * 2.0**-cfg.act_bits


@pytest.mark.parametrize(
    ("task", "channels"), [("denoise", 8), ("denoise", 12), ("unet", 8), ("sr2x", 8), ("sim3", 8)]
)
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
    step = 2.0**-cfg.act_bits
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
    assert [k for k in states[0] if not torch.equal(states[0][k], states[1][k])] == [
        "tail.weight",
        "tail.bias",
    ]
    assert float(states[1]["tail.weight"].abs().sum()) == 1.0
    torch.manual_seed(1)
    assert torch.equal(
        build_model(ModelConfig(), quant=False).state_dict()["tail.weight"], states[0]["tail.weight"]
    )


def test_a_net_without_a_global_skip_starts_at_the_pedestal_and_wrong_pairs_are_errors():
    assert ModelConfig(task="smlm").tail_init == "pedestal"  # a new smlm run
    assert ModelConfig(task="smlm", tail_init="default").tail_init == "default"
    assert ModelConfig(task="denoise", tail_init="default").tail_init == "default"
    with pytest.raises(ValueError, match="smlm has no global skip: tail_init 'identity' does not apply"):
        ModelConfig(task="smlm", tail_init="identity")
    for task in ("denoise", "unet", "sr2x", "sim3"):
        with pytest.raises(
            ValueError, match=f"{task} has a global skip: tail_init 'pedestal' does not apply"
        ):
            ModelConfig(task=task, tail_init="pedestal")


@pytest.mark.parametrize("seed", [3, 5, 7])
def test_pedestal_init_keeps_smlm_alive_for_seeds_dead_under_default(seed):
    """Seeds 3, 5, 7 leave smlm's output ReLU dead under PyTorch's init on this random batch (as 3, 5, 6, 7
    are on the first training batch, docs/models.md); the pedestal start is the pedestal everywhere, > 0,
    and its tail gets a gradient."""
    x = _codes(ModelConfig(task="smlm"), seed)
    with torch.no_grad():
        dead = _started(ModelConfig(task="smlm", tail_init="default"), seed)(x)
    assert float((dead > 0).float().mean()) < 0.02
    cfg = ModelConfig(task="smlm")
    model = _started(cfg, seed)
    y = model(x)
    assert y.shape == (2, 1, 32, 32)
    assert bool((y > 0).all())
    torch.testing.assert_close(y, torch.full_like(y, target_pedestal(cfg)))
    y.sum().backward()
    assert float(model.tail.weight.grad.abs().sum()) > 0 and float(model.tail.bias.grad.abs()) > 0


def test_the_pedestal_is_the_smlm_target_where_there_are_no_emitters():
    """On the network's scale: the floor of the task's own training target (sparse spots on a pedestal),
    the input's dark level and the peak finder's baseline; 2 codes on the default scmos w4a8 run."""
    from fluorogate.models.data import simulate_pairs, to_network
    from fluorogate.models.smlm import peak_config

    run = _smlm_run()
    ped = target_pedestal(run.model)
    assert ped == target_pedestal(run.model, run) == 2 * 2.0**-8
    assert ped == peak_config(run, 16.0).baseline * 2.0**-run.model.act_bits
    adu, truth = simulate_pairs("smlm", 2, 16, 1500.0, run.train, 0)
    _, t = to_network(adu, truth, run.camera, run.model)
    assert float(t.min()) == pytest.approx(ped, abs=1e-9)
    assert float((t <= ped + 1e-9).float().mean()) > 0.3  # most of the map is the pedestal


def test_training_starts_smlm_at_its_pedestal_with_the_rest_of_the_default_start():
    """Only the tail differs from the "default" start (the RNG stream is untouched): weights 0, bias the
    pedestal of the run's camera (EMCCD's differs from sCMOS's)."""
    run = _smlm_run()
    states = []
    for init in ("default", "pedestal"):
        torch.manual_seed(3)
        states.append(
            _new_phase(
                run.model_copy(update={"model": ModelConfig(task="smlm", tail_init=init)}), "float", 1, None
            )[0].state_dict()
        )
    assert [k for k in states[0] if not torch.equal(states[0][k], states[1][k])] == [
        "tail.weight",
        "tail.bias",
    ]
    assert float(states[1]["tail.weight"].abs().sum()) == 0.0
    assert float(states[1]["tail.bias"]) == pytest.approx(2 * 2.0**-8)
    emccd = _smlm_run("emccd")
    model = build_model(emccd.model, quant=False)
    start_training(model, emccd)
    want = (get_preset("emccd").offset_adu - emccd.camera.offset) * 2.0 ** (-emccd.camera.shift - 8)
    assert float(model.tail.bias.detach()) == pytest.approx(want) and want != pytest.approx(2 * 2.0**-8)
    # and training itself passes the run's camera on (an EMCCD run does not start at sCMOS's pedestal)
    assert float(_new_phase(emccd, "float", 1, None)[0].tail.bias.detach()) == pytest.approx(want)


def test_an_smlm_config_without_the_key_loads_as_default_and_a_new_one_keeps_pedestal(tmp_path):
    shipped = default_config(task="smlm")
    assert shipped.model.tail_init == "default"  # the shipped smlm_w4a8 (seed 0) reproduces under its init
    save_config(tmp_path, _smlm_run())
    assert load_config(tmp_path).model.tail_init == "pedestal"


def _smlm_run(preset: str = "scmos"):
    from fluorogate.models.config import RunConfig, TrainConfig
    from fluorogate.models.tasks import TASKS
    from fluorogate.quantize.camera import choose_conversion

    train = TrainConfig(**{**TASKS["smlm"].train, "preset": preset})
    return RunConfig(
        model=ModelConfig(task="smlm"),
        train=train,
        camera=choose_conversion(get_preset(preset), train.peak_photons, bits=8),
    )


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


@pytest.mark.parametrize(
    ("flag", "want"),
    [
        ([], "identity"),
        (["--tail-init", "default"], "default"),
        (["--task", "smlm"], "pedestal"),
        (["--task", "smlm", "--tail-init", "default"], "default"),
        (["--task", "smlm", "--tail-init", "pedestal"], "pedestal"),
    ],
)
def test_train_cli_records_the_tail_init(tmp_path, flag, want):
    from fluorogate.cli import build_parser
    from fluorogate.models.cli import _run_config

    cfg = _run_config(build_parser().parse_args(["train", "--out", str(tmp_path / "run"), *flag]))
    assert cfg.model.tail_init == want
    assert json.loads(cfg.model_dump_json())["model"]["tail_init"] == want
