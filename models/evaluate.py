"""`fluorogate eval RUN`: PSNR/SSIM of the float and QAT networks against classical baselines.

Test data, fixed and seeded (never seen in training: its own seeds):
- simulated frames at 5, 10 and 20 photons/px from the run's camera preset and specimen;
- denoise tasks only: the real nuclei crop shipped in `fluorogate.sim` (`load_real_crop`), scaled so
  its 99th-percentile pixel receives the photon level (plus the training background), then exposed
  through the same camera model (Poisson, read noise, gain, offset).
Both networks see exactly the codes the hardware front end would produce (`models.camera`).
Writes `eval.json`, `eval.md` and `eval.png` (a panel per condition: noisy, baselines, float, QAT,
truth, on one display range) into the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fluorogate.models.config import RunConfig
from fluorogate.models.data import as_channels
from fluorogate.models.metrics import psnr, ssim
from fluorogate.models.run_folder import load_config
from fluorogate.outputs import atomic_path, check_writable, write_text_atomic
from fluorogate.quantize.camera import adu_to_codes, codes_to_real, real_to_adu

LEVELS = (5.0, 10.0, 20.0)
EVAL_SEED = 900_000  # far from the training seeds (drawn per chunk from the run's seed)


def run_network(model, adu: np.ndarray, cfg: RunConfig) -> np.ndarray:
    """Run a network on raw ADU frames (n, H, W), or stacks (n, C, H, W) for a multi-frame task, through
    the camera front end -> (n, H', W') output, offset-subtracted ADU."""
    codes = as_channels(adu_to_codes(adu, cfg.camera, cfg.model.rounding, cfg.model.act_bits))
    with torch.no_grad():
        y = model(torch.from_numpy(codes_to_real(codes, cfg.model.act_bits))).numpy()[:, 0]
    return real_to_adu(y, cfg.camera, cfg.model.act_bits)


def real_crop_frames(level: float, n: int, cfg: RunConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The shipped real crop exposed `n` times at `level` photons (99th percentile pixel): (ADU, truth
    ADU)."""
    from fluorogate.sim.camera import get_preset
    from fluorogate.sim.real import load_real_crop
    from fluorogate.sim.sensor import expected_adu, expose

    preset = get_preset(cfg.train.preset)
    img = load_real_crop().data.astype(np.float32)
    photons = img / np.percentile(img, 99) * np.float32(level) + np.float32(cfg.train.background)
    rng = np.random.default_rng(seed)
    adu = np.stack([expose(photons, preset, rng) for _ in range(n)])
    return adu, np.broadcast_to(expected_adu(photons, preset), adu.shape)


def eval_conditions(cfg: RunConfig, frames: int, size: int):
    from fluorogate.models.data import simulate_pairs

    for level in cfg.model.spec.levels:
        adu, truth = simulate_pairs(cfg.model.task, frames, size, level, cfg.train, EVAL_SEED + int(level))
        yield f"sim {level:g} ph", adu, truth
    if cfg.model.spec.real_crop:
        for level in LEVELS:
            adu, truth = real_crop_frames(level, frames, cfg, EVAL_SEED + 100 + int(level))
            yield f"real {level:g} ph", adu, truth


def restorations(cfg: RunConfig, flt, qat, adu: np.ndarray, truths: list[np.ndarray]) -> dict:
    """name -> (list of restored frames, offset-subtracted ADU; the chosen parameter or ''): the task's
    baselines (its registry hook), then the float and QAT networks."""
    from fluorogate.sim.camera import get_preset

    offset = get_preset(cfg.train.preset).offset_adu
    noisy = [a.astype(np.float64) - offset for a in adu]
    out = cfg.model.spec.hook("baselines")(cfg, adu, noisy, truths)
    for name, model in (("float", flt), ("qat", qat)):
        if model is not None:
            out[name] = (
                list(run_network(model, adu, cfg) - offset),
                cfg.model.bits_tag if name == "qat" else "",
            )
    return out


def score_restorations(restored: dict, truths: list[np.ndarray]) -> dict[str, dict]:
    """Mean PSNR and SSIM of each restoration (`restorations`' {name: (outputs, param)}) against `truths`.

    One data range per condition, the truths' max - min over all its frames: a frame may be near-empty.
    """
    rng = float(np.max(truths) - np.min(truths))
    return {
        name: {
            "psnr": float(np.mean([psnr(o, t, rng) for o, t in zip(outs, truths, strict=True)])),
            "ssim": float(np.mean([ssim(o, t, rng) for o, t in zip(outs, truths, strict=True)])),
            "param": param,
        }
        for name, (outs, param) in restored.items()
    }


def _panel(path: Path, panels: list[tuple[str, dict, np.ndarray]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(len(r) for _, r, _ in panels) + 1
    fig, axes = plt.subplots(len(panels), cols, figsize=(2.2 * cols, 2.6 * len(panels)), squeeze=False)
    for row, (cond, restored, truth) in zip(axes, panels, strict=True):
        lo, hi = np.percentile(truth, [0.5, 99.8])
        for ax, (name, img) in zip(row, [*restored.items(), ("truth", truth)], strict=False):
            ax.imshow(img, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
            label = name if name == "truth" else f"{name}\n{psnr(img, truth):.2f} dB"
            ax.set_title(f"{cond}: {label}" if name == "raw" or name == "nearest" else label, fontsize=7)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_run(run: str | Path, frames: int = 4, size: int = 128, force: bool = False) -> Path:
    """Evaluate run folder `run`; write eval.json/.md/.png there and return the Markdown path."""
    from fluorogate.models.train import load_models
    from fluorogate.sim.camera import get_preset

    run = Path(run)
    cfg = load_config(run)
    flt, qat = load_models(run, cfg)
    paths = {ext: check_writable(run / f"eval.{ext}", force) for ext in ("json", "md", "png")}
    torch.set_num_threads(cfg.train.threads)
    offset = get_preset(cfg.train.preset).offset_adu
    table: dict[str, dict[str, dict]] = {}
    panels = []
    conditions = list(eval_conditions(cfg, frames, size))
    levels = cfg.model.spec.levels
    for cond, adu, truth_adu in tqdm(conditions, desc="eval", unit="condition"):
        truths = [t.astype(np.float64) - offset for t in truth_adu]
        restored = restorations(cfg, flt, qat, adu, truths)
        table[cond] = score_restorations(restored, truths)
        if cond.endswith(f" {levels[len(levels) // 2]:g} ph"):  # the middle level (10 ph by default)
            panels.append((cond, {n: outs[0] for n, (outs, _) in restored.items()}, truths[0]))
    report = {
        "run": str(run),
        "config": cfg.model_dump(mode="json"),
        "frames": frames,
        "size": size,
        "levels": list(cfg.model.spec.levels),
        "results": table,
    }
    markdown = _markdown(cfg, table, frames, size)
    if cfg.model.spec.extra_eval:
        report["task_metrics"], section = cfg.model.spec.hook("extra_eval")(cfg, flt, qat, frames, size)
        markdown += "\n" + section.rstrip("\n") + "\n"
    write_text_atomic(paths["json"], json.dumps(report, indent=1) + "\n", force)
    write_text_atomic(paths["md"], markdown, force)
    with atomic_path(paths["png"], force) as tmp:
        _panel(tmp, panels)
    return paths["md"]


def quality_rows(table: dict) -> list[str]:
    """A Markdown table of {condition: {method: {psnr, ssim, param}}}: PSNR / SSIM (param) per method."""
    methods = list(next(iter(table.values())))
    lines = ["| condition | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for cond, res in table.items():
        cells = [
            f"{res[m]['psnr']:.2f} / {res[m]['ssim']:.3f}"
            + (f" ({res[m]['param']})" if res[m]["param"] else "")
            for m in methods
        ]
        lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    return lines


def _markdown(cfg: RunConfig, table: dict, frames: int, size: int) -> str:
    methods = list(next(iter(table.values())))
    lines = [
        f"# Evaluation: {cfg.model.task} {cfg.model.bits_tag} {cfg.model.rounding}",
        "",
        f"PSNR (dB) / SSIM, mean over {frames} frames of {size}x{size} per condition (the real crop: "
        "256x256); data range: the condition's ground truth max - min; baselines with their best parameter "
        "per condition (in brackets).",
        "",
        *quality_rows(table),
    ]
    if "qat" in methods and "float" in methods:
        gaps = [res["float"]["psnr"] - res["qat"]["psnr"] for res in table.values()]
        lines += ["", f"Float - QAT PSNR gap: {min(gaps):+.2f} .. {max(gaps):+.2f} dB."]
    if "gaussian" in methods and "qat" in methods:
        gains = {c: r["qat"]["psnr"] - r["gaussian"]["psnr"] for c, r in table.items()}
        lines.append(
            "QAT over best Gaussian: " + ", ".join(f"{c} {g:+.2f} dB" for c, g in gains.items()) + "."
        )
    for base in ("bicubic", "gaussian+bicubic"):
        if base in methods and "qat" in methods:
            gains = {c: r["qat"]["psnr"] - r[base]["psnr"] for c, r in table.items()}
            lines.append(f"QAT over {base}: " + ", ".join(f"{c} {g:+.2f} dB" for c, g in gains.items()) + ".")
    return "\n".join(lines) + "\n"
