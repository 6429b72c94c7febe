"""Opening a run folder runs no code: checkpoints load with `weights_only=True`, a pickled callable is
refused."""

from __future__ import annotations

import pytest
import torch

from fluorogate.cli import main
from fluorogate.errors import UserError
from fluorogate.models.run_folder import CHECKPOINT, load_checkpoint
from fluorogate.models.shipped import SHIPPED_TASKS, shipped_files, shipped_run


class _Payload:
    """What a crafted checkpoint carries: unpickling it calls `open(marker, "w")`, i.e. runs code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _crafted_run(tmp_path):
    run = shipped_run(tmp_path / "run")
    state = torch.load(run / CHECKPOINT, weights_only=True)
    marker = tmp_path / "code-ran"
    state["metrics"] = {"note": _Payload(marker)}
    torch.save(state, run / CHECKPOINT)
    return run, marker


def test_the_crafted_checkpoint_would_run_code_on_a_plain_load(tmp_path):
    """The attack is real: `weights_only=False` (what fluorogate used to do) calls the payload."""
    run, marker = _crafted_run(tmp_path)
    torch.load(run / CHECKPOINT, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["export", "{run}"],
        ["eval", "{run}", "--frames", "1", "--size", "16"],
        ["train", "--resume", "--out", "{run}"],
    ],
)
def test_a_pickled_callable_is_refused_with_one_line(tmp_path, capsys, command):
    run, marker = _crafted_run(tmp_path)
    assert main([a.format(run=run) for a in command]) == 2
    err = capsys.readouterr().err
    assert "refused: the checkpoint holds Python code or objects (io.open)" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not marker.exists()  # nothing ran


def test_garbage_and_legacy_pickles_are_one_line_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04garbage")
    with pytest.raises(
        UserError, match=r"junk.pt: not a readable fluorogate checkpoint \(Unsupported operand"
    ):
        load_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(UserError, match=r"empty.pt: not a readable fluorogate checkpoint") as info:
        load_checkpoint(tmp_path / "empty.pt")
    assert "\n" not in str(info.value)


def test_checkpoints_fluorogate_writes_load_as_plain_data(tmp_path):
    """A training checkpoint (optimizer, scheduler, Brevitas statistics, rng) and every shipped weight file
    load with `weights_only=True`, and what `shipped_run` writes holds the shipped tensors bit for bit."""
    from fluorogate.models.config import ModelConfig, RunConfig, TrainConfig
    from fluorogate.models.run_folder import save_config
    from fluorogate.models.train import train
    from fluorogate.quantize.camera import choose_conversion
    from fluorogate.sim.camera import get_preset

    tc = TrainConfig(float_steps=2, qat_steps=2, batch=2, patch=16, chunk=4, checkpoint_every=1)
    cfg = RunConfig(model=ModelConfig(), train=tc, camera=choose_conversion(get_preset("scmos")))
    save_config(tmp_path, cfg)
    train(tmp_path, cfg, progress=False)
    state = load_checkpoint(tmp_path / CHECKPOINT)
    assert state["step"] == 4 and state["stats"] and isinstance(state["optimizer"], dict)
    for task, rounding in SHIPPED_TASKS:
        _, weights = shipped_files(rounding, task)
        states = torch.load(weights, map_location="cpu", weights_only=True)
        assert set(states) == {"float", "qat"}
    run = shipped_run(tmp_path / "shipped")
    got = load_checkpoint(run / CHECKPOINT)
    want = torch.load(shipped_files("half_even")[1], weights_only=True)
    assert all(torch.equal(got["model"][k], v) for k, v in want["qat"].items())
