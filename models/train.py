"""Training: float pre-training, then QAT fine-tuning of the Brevitas twin, resumable and deterministic.

One global step counter runs over both phases (`float_steps`, then `qat_steps`). Each phase has its
own Adam optimiser and cosine schedule. `checkpoint.pt` holds the current model, optimiser and
schedule, the finished float weights (`float_state`, kept for evaluation) and the step, so an
interrupted run resumes where it stopped; with the data seeded by (seed, step) (`models.data`), a
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from fluorogate.errors import UserError
from fluorogate.models.config import RunConfig
from fluorogate.models.data import PatchStream
from fluorogate.models.nets import build_model, start_training
from fluorogate.models.run_folder import CHECKPOINT, load_checkpoint
from fluorogate.outputs import atomic_path


def make_deterministic(seed: int, threads: int) -> None:
    """Same seed, same thread count -> same weights, on CPU."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def psnr(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """PSNR in dB with the data range taken from the ground truth."""
    mse = float(torch.mean((pred - truth) ** 2))
    rng = float(truth.max() - truth.min())
    return 10 * math.log10(rng**2 / mse) if mse > 0 and rng > 0 else float("inf")


def _phase(cfg: RunConfig, step: int) -> tuple[str, int, int]:
    """(phase name, first step of the phase, steps in the phase) for global `step`."""
    tc = cfg.train
    if step < tc.float_steps:
        return "float", 0, tc.float_steps
    return "qat", tc.float_steps, tc.qat_steps


def _new_phase(cfg: RunConfig, phase: str, n_steps: int, float_state: dict | None):
    model = build_model(cfg.model, quant=phase == "qat")
    if float_state is not None:
        missing, unexpected = model.load_state_dict(float_state, strict=False)
        assert not unexpected, unexpected
        assert all("_quant." in k for k in missing), missing  # only the quantizers are new
    else:  # from scratch (a resume or --init loads its weights over this)
        start_training(model, cfg)
    lr = cfg.train.lr if phase == "float" else cfg.train.qat_lr
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(n_steps, 1))
    return model, opt, sched


def _stats_state(model: nn.Module) -> dict:
    """Brevitas's runtime-statistics scale initialisers keep a plain-int counter and a running buffer
    outside the state dict; a resume inside their collection window needs both."""
    from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling

    return {
        name: (mod.counter, getattr(mod, "buffer", None))
        for name, mod in model.named_modules()
        if isinstance(mod, ParameterFromRuntimeStatsScaling)
    }


def _restore_stats(model: nn.Module, stats: dict) -> None:
    modules = dict(model.named_modules())
    for name, (counter, buffer) in stats.items():
        modules[name].counter = counter
        if buffer is not None:
            modules[name].buffer = buffer


def _save(run: Path, state: dict) -> None:
    with atomic_path(run / CHECKPOINT, force=True) as tmp:
        torch.save(state, tmp)


def psnr_loss(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Minus the batch's PSNR in dB (data range from its truth, as `psnr` and `fluorogate eval` take it).

    The range carries no gradient: d/dw = -10/ln10 * dMSE/MSE, so a batch counts by its relative error,
    not by its brightness. A training batch is one photon level (`models.data`), so 5 and 20 ph weigh
    alike. Per batch, not per sample: a per-sample log would also upweight near-flat background patches
    (their own MSE is tiny), which no test frame is made of."""
    mse = torch.mean((pred - truth) ** 2).clamp_min(1e-12)
    rng = (truth.max() - truth.min()).clamp_min(1e-6)
    return -10 * torch.log10(rng**2 / mse)


def loss_fn(cfg: RunConfig, model: nn.Module, x: torch.Tensor, t: torch.Tensor, step: int):
    """(loss, prediction): the loss `cfg.train.loss` to the truth, or Noise2Void's masked MSE to the noisy
    input."""
    if cfg.train.mode == "n2v":
        from fluorogate.models.masking import n2v_input

        masked, mask = n2v_input(x, cfg.train, step, 2.0**-cfg.model.act_bits)
        pred = model(masked)
        return torch.mean((pred - x)[mask] ** 2), pred
    pred = model(x)
    if cfg.train.loss == "psnr":
        return psnr_loss(pred, t), pred
    return torch.mean((pred - t) ** 2), pred


def init_float_state(cfg: RunConfig) -> dict:
    """The float weights `cfg.train.init` names (a finished run folder, or "shipped": the shipped model of
    this task and rounding), checked against this run's network."""
    from fluorogate.models.run_folder import load_config

    init = cfg.train.init
    if init == "shipped":
        from fluorogate.models.shipped import load_default

        state = load_default(cfg.model.rounding, quant=False, task=cfg.model.task).state_dict()
    else:
        flt, _ = load_models(init, load_config(init))
        if flt is None:
            raise UserError(f"--init {init}: the run has no float weights")
        state = flt.state_dict()
    try:
        build_model(cfg.model, quant=False).load_state_dict(state)
    except RuntimeError:
        raise UserError(
            f"--init {init}: its network differs from this run's ({cfg.model.task}, "
            f"{cfg.model.channels} channels, {cfg.model.layers} layers)"
        ) from None
    return state


def train(run: str | Path, cfg: RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """Train `cfg` into run folder `run` (config.json must already be there); return the last metrics.

    With `cfg.train.data` the patches come from the user's frames (`models.frames`) and the N2V loss on
    the held-out frames is measured at every checkpoint (`val_loss`; the history in the checkpoint)."""
    run = Path(run)
    tc = cfg.train
    if cfg.train.mode == "n2v" and not cfg.model.spec.n2v:
        raise UserError(
            f"Noise2Void training needs one frame in and the output on its grid; it cannot train "
            f"{cfg.model.task}"
        )
    make_deterministic(tc.seed, tc.threads)
    step, float_state, state = 0, None, None
    if resume:
        if not (run / CHECKPOINT).is_file():
            raise UserError(f"{run / CHECKPOINT}: no checkpoint to resume from")
        state = load_checkpoint(run / CHECKPOINT)
        step, float_state = state["step"], state.get("float_state")
        torch.set_rng_state(state["torch_rng"])
    phase, first, n_steps = _phase(cfg, step)
    init = init_float_state(cfg) if tc.init and state is None else None
    if init is not None and phase == "qat":  # no float phase: QAT starts from the init weights
        float_state = init
    model, opt, sched = _new_phase(cfg, phase, n_steps, float_state if phase == "qat" else None)
    if init is not None and phase == "float":
        model.load_state_dict(init)
    if state is not None and step < tc.total_steps and state["phase"] == phase:
        model.load_state_dict(state["model"])
        _restore_stats(model, state["stats"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    if tc.data:
        from fluorogate.models.frames import FramePatches, validation_loss

        stream = FramePatches(cfg)
        val_x = stream.validation_batch()
    else:
        stream = PatchStream(cfg)
    metrics: dict = state.get("metrics", {}) if state else {}
    val_history: list = state.get("val_history", []) if state else []

    def snapshot() -> dict:
        return {
            "step": step,
            "phase": phase,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "float_state": float_state,
            "torch_rng": torch.get_rng_state(),
            "stats": _stats_state(model),
            "config": cfg.model_dump(mode="json"),
            "metrics": metrics,
            "val_history": val_history,
        }

    bar = tqdm(
        total=tc.total_steps,
        initial=step,
        disable=not progress,
        desc=f"train {cfg.model.task}",
        unit="step",
        dynamic_ncols=True,
    )
    model.train()
    while step < tc.total_steps:
        if step == first + n_steps:  # float phase done: switch to the QAT twin
            float_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            phase, first, n_steps = _phase(cfg, step)
            model, opt, sched = _new_phase(cfg, phase, n_steps, float_state)
            model.train()
        x, t = stream.batch(step)
        loss, pred = loss_fn(cfg, model, x, t, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        metrics = {"step": step, "phase": phase, "loss": float(loss.detach())}
        if not tc.data:  # the user's frames have no truth to take a PSNR against
            metrics["psnr"] = psnr(pred.detach(), t)
        bar.set_postfix(
            phase=phase,
            loss=f"{metrics['loss']:.2e}",
            **({"psnr": f"{metrics['psnr']:.1f}"} if "psnr" in metrics else {}),
        )
        bar.update(1)
        if step % tc.checkpoint_every == 0 or step == tc.total_steps:
            if tc.data:
                val_history.append((step, validation_loss(cfg, model, val_x)))
                metrics["val_loss"] = val_history[-1][1]
            _save(run, snapshot())
    bar.close()
    if phase == "float" and float_state is None:  # no QAT phase: the float weights are the result
        float_state = model.state_dict()
        _save(run, snapshot())
    return metrics


def load_models(run: str | Path, cfg: RunConfig) -> tuple[nn.Module | None, nn.Module | None]:
    """(float model, QAT twin) from a finished run's checkpoint, in eval mode (None where not trained)."""
    from fluorogate.models.run_folder import checkpoint_path

    path = checkpoint_path(run)
    state = load_checkpoint(path)
    if state["step"] < cfg.train.total_steps:
        raise UserError(
            f"{path}: training stopped at step {state['step']} of {cfg.train.total_steps}; "
            f"finish it with `fluorogate train --resume --out {run}`"
        )
    flt = qat = None
    if state.get("float_state") is not None:
        flt = build_model(cfg.model, quant=False)
        flt.load_state_dict(state["float_state"])
        flt.eval()
    if cfg.train.qat_steps > 0:
        qat = build_model(cfg.model, quant=True)
        qat.load_state_dict(state["model"])
        qat.eval()
    return flt, qat
