"""`fluorogate eval RUN [RUN ...] --data movie.tif`: judge restorations on your own movie, without ground
truth.

**Noise2Noise in time** (a movie of a still, or slowly changing, specimen): restore frame t and compare it
with the *raw* frame t+1, whose noise is independent of frame t's:

    E |f(x_t) - x_{t+1}|^2 = E |f(x_t) - s|^2 + var(noise_{t+1}) (+ the specimen's change from t to t+1)

so the score is the restoration's MSE against the truth plus a floor (the noise variance, the same for
every method): lower is better and the ranking is that of the true MSE, i.e. of PSNR. Reported in ADU^2
over the last `pairs` frame pairs, with the floor estimated from the raw frames (half the variance of
their differences) and each method's gain over raw in dB of the criterion.

**Spatial split** (one frame, or `--criterion spatial`): the frame's even-row/even-column pixels, restored
as a half-size frame, against the odd/odd pixels (the diagonal neighbour: independent noise, a one-pixel
shift of the specimen that is the same for every method). It scores the methods on 2x-subsampled frames,
where a network sees another sampling than it was trained on: a weaker guide than the time criterion.

Methods: the raw frame, a Gaussian with its sigma chosen by the same criterion (what a user without truth
can do), BM3D on the generalized Anscombe transform (the optional `bm3d` package; camera gain, offset
and read noise from `--camera` or calibrated from the movie itself), and each run named (its QAT network,
and the float one, through its own camera conversion, as the hardware would see the movie). With
`--truth` (a noise-free movie, e.g. `fluorogate simulate --truth`) PSNR against it is reported too, and
the rank correlation of the two.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy import ndimage

from fluorogate.errors import UserError

SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
DEFAULT_PAIRS = 19


def n2n_time(restored: list[np.ndarray], nxt: np.ndarray) -> float:
    """Mean over pairs of MSE(restored frame t, raw frame t+1), ADU^2."""
    return float(np.mean([np.mean((r - n) ** 2) for r, n in zip(restored, nxt, strict=True)]))


def noise_floor(frames: np.ndarray) -> float:
    """Half the mean squared difference of consecutive raw frames: the noise variance (+ specimen change)."""
    d = np.diff(frames.astype(np.float64), axis=0)
    return float(np.mean(d**2) / 2)


def split_pairs(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) of the spatial split: even/even pixels, and their odd/odd diagonal neighbours."""
    h, w = frames.shape[-2] // 2 * 2, frames.shape[-1] // 2 * 2
    return frames[:, 0:h:2, 0:w:2], frames[:, 1:h:2, 1:w:2]


def gat_bm3d(frame: np.ndarray, gain: float, offset: float, read_adu: float) -> np.ndarray:
    """BM3D on the generalized Anscombe transform for Poisson-Gaussian noise (Makitalo & Foi 2013), with
    the closed-form approximation of the exact unbiased inverse; ADU in, ADU out."""
    import bm3d

    sigma_e = read_adu / gain
    z = (frame.astype(np.float64) - offset) / gain
    f = 2 * np.sqrt(np.maximum(z + 3 / 8 + sigma_e**2, 0))
    d = np.maximum(bm3d.bm3d(f, sigma_psd=1.0), 0.8)
    inv = (
        d**2 / 4
        + math.sqrt(1.5) / (4 * d)
        - 11 / (8 * d**2)
        + 5 * math.sqrt(1.5) / (8 * d**3)
        - 1 / 8
        - sigma_e**2
    )
    return np.maximum(inv, 0) * gain + offset


def camera_noise(frames: np.ndarray, camera: str | None) -> tuple[float, float, float]:
    """(gain ADU per effective electron, offset ADU, read noise ADU) for the Anscombe transform."""
    if camera:
        from fluorogate.sim.camera import get_preset

        p = get_preset(camera)
        a = p.gain_adu_per_e * (2 * p.em_gain if p.em_gain > 1 else 1)
        return a, float(p.offset_adu), p.read_noise_e * p.gain_adu_per_e
    from fluorogate.sim.movie_ptc import temporal_ptc

    fit = temporal_ptc(frames)
    return fit.gain_adu_per_e, fit.offset_adu, fit.read_noise_adu


def run_outputs(run: str, frames: np.ndarray) -> dict[str, np.ndarray]:
    """{'RUN (qat)': ADU, 'RUN (float)': ADU} of a run folder's networks on `frames` (n, H, W)."""
    import torch

    from fluorogate.models.evaluate import run_network
    from fluorogate.models.run_folder import load_config
    from fluorogate.models.train import load_models

    cfg = load_config(run)
    if cfg.model.spec.scale != 1 or cfg.model.spec.in_channels != 1:
        raise UserError(
            f"{run}: {cfg.model.task} does not restore one frame onto its own grid; eval --data "
            "judges denoisers"
        )
    flt, qat = load_models(run, cfg)
    torch.set_num_threads(cfg.train.threads)
    name = Path(run).name
    out = {}
    for tag, model in (("qat", qat), ("float", flt)):
        if model is not None:
            out[f"{name} ({tag})"] = np.concatenate(
                [run_network(model, frames[i : i + 4], cfg) for i in range(0, len(frames), 4)]
            )
    return out


def evaluate_movie(
    frames: np.ndarray,
    runs: list[str],
    pairs: int = DEFAULT_PAIRS,
    criterion: str = "auto",
    camera: str | None = None,
    truth: np.ndarray | None = None,
    bm3d: bool = True,
    progress=iter,
) -> dict:
    """The scores of every method on `frames` (n, H, W) integer ADU; see the module docstring."""
    frames = np.asarray(frames)
    if criterion == "auto":
        criterion = "time" if len(frames) >= 2 else "spatial"
    if criterion == "time":
        if len(frames) < 2:
            raise UserError(
                "the time criterion needs at least 2 frames; use --criterion spatial for one frame"
            )
        k = min(pairs, len(frames) - 1)
        inputs, targets = frames[-k - 1 : -1], frames[-k:].astype(np.float64)
        truths = None if truth is None else truth[-k - 1 : -1]
    elif criterion == "spatial":
        inputs, targets = split_pairs(frames[-pairs:])
        targets = targets.astype(np.float64)
        truths = None if truth is None else split_pairs(truth[-pairs:])[0]
    else:
        raise UserError(f"--criterion {criterion!r}: choose time, spatial or auto")
    floor = noise_floor(frames) if criterion == "time" else float(np.mean((inputs - targets) ** 2) / 2)
    methods: dict[str, tuple[list[np.ndarray], str]] = {"raw": (list(inputs.astype(np.float64)), "")}
    scores = {
        s: n2n_time(
            [ndimage.gaussian_filter(f.astype(np.float64), s, mode="reflect") for f in inputs], targets
        )
        for s in SIGMAS
    }
    best = min(scores, key=scores.get)
    methods["gaussian"] = (
        [ndimage.gaussian_filter(f.astype(np.float64), best, mode="reflect") for f in inputs],
        f"sigma {best} (by this criterion)",
    )
    from fluorogate.models.baselines import bm3d_available

    if bm3d and bm3d_available():
        a, off, rn = camera_noise(frames, camera)
        methods["bm3d"] = (
            [gat_bm3d(f, a, off, rn) for f in progress(inputs)],
            f"Anscombe, gain {a:.3g}, offset {off:.1f}, read {rn:.2f} ADU",
        )
    for run in runs:
        for name, out in run_outputs(run, inputs).items():
            methods[name] = (list(out), "")
    raw_score = n2n_time(methods["raw"][0], targets)
    results = {}
    for name, (outs, param) in methods.items():
        score = n2n_time(outs, targets)
        row = {
            "n2n_mse": score,
            "gain_db": 10 * math.log10(raw_score / score),
            "param": param,
            "above_floor": score - floor,
        }
        if truths is not None:
            from fluorogate.models.metrics import psnr

            rng = float(np.max(truths) - np.min(truths))
            row["psnr"] = float(np.mean([psnr(o, t, rng) for o, t in zip(outs, truths, strict=True)]))
        results[name] = row
    report = {
        "criterion": criterion,
        "pairs": len(inputs),
        "frames": len(frames),
        "shape": list(frames.shape[1:]),
        "noise_floor": floor,
        "gaussian_scores": scores,
        "results": results,
    }
    if truths is not None:
        report["rank_agreement"] = rank_agreement(results)
    report["_panel"] = {name: outs[-1] for name, (outs, _) in methods.items()}
    return report


def rank_agreement(results: dict) -> float:
    """Spearman correlation between the ranking by the criterion (lower better) and by PSNR (higher)."""
    names = list(results)
    a = np.argsort(np.argsort([results[n]["n2n_mse"] for n in names]))
    b = np.argsort(np.argsort([-results[n]["psnr"] for n in names]))
    if len(names) < 2:
        return 1.0
    return float(np.corrcoef(a, b)[0, 1])


def markdown(report: dict, source: str) -> str:
    crit = {
        "time": "Noise2Noise in time: MSE(restored frame t, raw frame t+1)",
        "spatial": "spatial split: MSE(restored even/even pixels, raw odd/odd pixels)",
    }[report["criterion"]]
    has_truth = "rank_agreement" in report
    lines = [
        f"# Evaluation without ground truth: {source}",
        "",
        f"{crit}, ADU^2, over {report['pairs']} pairs of a {report['frames']}-frame "
        f"{report['shape'][0]}x{report['shape'][1]} movie. Noise floor (half the mean squared difference of "
        f"consecutive raw frames): {report['noise_floor']:.3f} ADU^2. Lower is better; gain over raw in dB.",
        "",
        "| method | N2N MSE | gain over raw | above the floor |"
        + (" PSNR vs truth |" if has_truth else "")
        + " parameter |",
        "|---|---|---|---|" + ("---|" if has_truth else "") + "---|",
    ]
    for name, r in sorted(report["results"].items(), key=lambda kv: kv[1]["n2n_mse"]):
        lines.append(
            f"| {name} | {r['n2n_mse']:.3f} | {r['gain_db']:+.2f} dB | {r['above_floor']:.3f} |"
            + (f" {r['psnr']:.2f} dB |" if has_truth else "")
            + f" {r['param']} |"
        )
    if has_truth:
        lines += ["", f"Rank agreement with PSNR (Spearman): {report['rank_agreement']:.3f}."]
    return "\n".join(lines) + "\n"


def panel(path: Path, report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = report["_panel"]
    n = len(images)
    lo, hi = np.percentile(images["raw"], [0.5, 99.8])
    fig, axes = plt.subplots(1, n, figsize=(2.8 * n, 3.2), squeeze=False)
    for ax, (name, img) in zip(axes[0], images.items(), strict=True):
        ax.imshow(img, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(f"{name}\n{report['results'][name]['n2n_mse']:.2f} ADU²", fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_data(runs: list[str], data: str, out: str | None = None, force: bool = False, **kw) -> Path:
    """`fluorogate eval RUN ... --data movie.tif`: write eval_data.{json,md,png} (into the first run, or
    `out`) and return the Markdown path."""
    from tqdm import tqdm

    from fluorogate.outputs import atomic_path, check_writable, write_text_atomic
    from fluorogate.sim.movie_ptc import read_movie

    frames, _ = read_movie(data)
    truth = None
    if kw.get("truth"):
        from fluorogate.imageio import read_tiff

        truth = np.asarray(read_tiff(kw["truth"]).data, dtype=np.float64).reshape(-1, *frames.shape[-2:])
        if len(truth) == 1:
            truth = np.broadcast_to(truth, frames.shape)
        if truth.shape != frames.shape:
            raise UserError(f"--truth {kw['truth']}: shape {truth.shape}, the movie's is {frames.shape}")
    kw["truth"] = truth
    folder = Path(out) if out else Path(runs[0]) if runs else Path(data).parent
    folder.mkdir(parents=True, exist_ok=True)
    stem = "eval_data"
    paths = {ext: check_writable(folder / f"{stem}.{ext}", force) for ext in ("json", "md", "png")}
    report = evaluate_movie(frames, runs, progress=lambda it: tqdm(it, desc="bm3d", unit="frame"), **kw)
    images = report.pop("_panel")
    report |= {"data": str(Path(data).resolve()), "runs": [str(Path(r).resolve()) for r in runs]}
    write_text_atomic(paths["json"], json.dumps(report, indent=1) + "\n", force)
    write_text_atomic(paths["md"], markdown(report, Path(data).name), force)
    with atomic_path(paths["png"], force) as tmp:
        panel(tmp, report | {"_panel": images})
    return paths["md"]
