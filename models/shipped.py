"""The models shipped with fluorogate (`models/weights/`): the default denoiser, one per rounding, and one
model per further task (`task=`, e.g. the 2x super-resolution "sr2x").

Each is two files: `<name>.json` (the full `RunConfig`: the exact training command, seed, versions;
plus `eval`, the headline numbers measured when it was shipped, and `task_metrics`, the task's own eval
section when it has one, e.g. sim3's 9-frame baselines and resolution) and `<name>.pt` (the float and
QAT state dicts). `load_default()` returns a ready model; `shipped_run()` writes a normal run folder from
them, so `fluorogate export` / `fluorogate eval` work on the shipped model like on any trained run.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from fluorogate.errors import UserError
from fluorogate.models.config import RunConfig, migrate
from fluorogate.models.run_folder import CHECKPOINT, CONFIG, load_checkpoint, load_config, save_config

SHIPPED = {"half_even": "denoise_w4a8", "half_up": "denoise_w4a8_half_up"}  # the denoiser, per rounding
SHIPPED_TASKS = {("denoise", r): name for r, name in SHIPPED.items()} | {
    ("sr2x", "half_even"): "sr2x_w4a8",
    ("smlm", "half_even"): "smlm_w4a8",
    ("sim3", "half_even"): "sim3_w4a8",
}
# Not the default: the wider W4A8 denoiser whose QAT twin is within 0.3 dB of its float twin at 10-20 ph
# (12 channels, least-MSE power-of-two weight scales, 10-bit output; 2.2x the default's MACs; docs/models.md).
SHIPPED_TASKS[("denoise_c12", "half_even")] = "denoise_w4a8_c12"


def shipped_files(rounding: str, task: str = "denoise") -> tuple[Path, Path]:
    """The shipped model's `<name>.json` (its config and headline numbers) and `<name>.pt` (weights)."""
    if (task, rounding) not in SHIPPED_TASKS:
        have = ", ".join(f"{t} {r}" for t, r in SHIPPED_TASKS)
        raise UserError(f"no shipped model for task {task!r} with rounding {rounding!r}; shipped: {have}")
    base = resources.files("fluorogate.models") / "weights"
    name = SHIPPED_TASKS[(task, rounding)]
    return Path(str(base / f"{name}.json")), Path(str(base / f"{name}.pt"))


def default_config(rounding: str = "half_even", task: str = "denoise") -> RunConfig:
    meta, _ = shipped_files(rounding, task)
    data = json.loads(meta.read_text())
    data.pop("eval", None)
    data.pop("task_metrics", None)
    return RunConfig.model_validate(migrate(data))


def shipped_eval(rounding: str = "half_even", task: str = "denoise") -> dict:
    """The numbers recorded when the weights were shipped (see `ship`)."""
    meta, _ = shipped_files(rounding, task)
    return json.loads(meta.read_text()).get("eval", {})


def load_default(rounding: str = "half_even", quant: bool = True, task: str = "denoise") -> nn.Module:
    """The shipped model of `task` (default: the W4A8 denoiser), QAT (`quant=True`) or float, in eval mode."""
    from fluorogate.models.nets import build_model

    cfg = default_config(rounding, task)
    _, weights = shipped_files(rounding, task)
    states = torch.load(weights, map_location="cpu", weights_only=True)
    model = build_model(cfg.model, quant=quant)
    model.load_state_dict(states["qat" if quant else "float"])
    return model.eval()


def shipped_run(
    out: str | Path, rounding: str = "half_even", force: bool = False, task: str = "denoise"
) -> Path:
    """Write the shipped model as a finished run folder (config.json + checkpoint.pt) at `out`."""
    out = Path(out)
    if (out / CONFIG).exists() and not force:
        raise UserError(f"{out} already holds a run; pass --force to replace it")
    cfg = default_config(rounding, task)
    _, weights = shipped_files(rounding, task)
    states = torch.load(weights, map_location="cpu", weights_only=True)
    out.mkdir(parents=True, exist_ok=True)
    save_config(out, cfg)
    torch.save(
        {
            "step": cfg.train.total_steps,
            "phase": "qat",
            "model": states["qat"],
            "float_state": states["float"],
            "stats": {},
            "config": cfg.model_dump(mode="json"),
        },
        out / CHECKPOINT,
    )
    return out


def ship(run: str | Path, dest: str | Path, name: str, force: bool = False) -> list[Path]:
    """Copy a finished run's weights and config (+ its eval.json headline) into `dest` as `name`.*"""
    from fluorogate.outputs import atomic_path, write_text_atomic

    run, dest = Path(run), Path(dest)
    cfg = load_config(run)
    state = load_checkpoint(run / CHECKPOINT)
    if state["step"] < cfg.train.total_steps or state.get("float_state") is None:
        raise UserError(f"{run}: training is not finished; nothing to ship")
    meta = cfg.model_dump(mode="json")
    if (run / "eval.json").is_file():
        report = json.loads((run / "eval.json").read_text())
        meta["eval"] = report["results"]
        if "task_metrics" in report:
            meta["task_metrics"] = report["task_metrics"]
    with atomic_path(dest / f"{name}.pt", force) as tmp:
        torch.save({"float": state["float_state"], "qat": state["model"]}, tmp)
    write_text_atomic(dest / f"{name}.json", json.dumps(meta, indent=1) + "\n", force)
    return [dest / f"{name}.pt", dest / f"{name}.json"]


__all__ = [
    "SHIPPED",
    "SHIPPED_TASKS",
    "default_config",
    "load_default",
    "ship",
    "shipped_eval",
    "shipped_run",
]
