"""The `sim3` task's registry hooks: training pairs, baselines, and the SIM-specific evaluation.

- `pairs`: 3 raw SIM frames (one per angle, `fluorogate.sim.sim3`) -> truth at the SIM resolution limit.
- `baselines`: what the 3 input frames alone give classically: their mean (the pattern does not
  average out over 3 angles at one phase, so this is only roughly widefield), upsampled (nearest,
  bicubic, best Gaussian + bicubic).
- `extra_eval`: the comparison that needs more than the network's input: the same specimens imaged
  with all 9 patterns, reconstructed by widefield (mean of 9, bicubic) and Wiener SIM
  (`models.wiener_sim`), against the float and QAT networks fed 3 of those 9 frames; PSNR/SSIM per
  photon level, then resolution: bead FWHM and FRC (two noise realisations of the same specimens).
"""

from __future__ import annotations

import numpy as np

from fluorogate.models.baselines import upsampling_baselines
from fluorogate.models.metrics import psnr, ssim

BEAD_PHOTONS = 20.0  # bead slide: the brightest training level (the network's range)
BEAD_RADIUS = 6  # fit window half-width on the 2x grid (324 nm): > 2 widefield FWHM
FRC_SPECIMEN = "filaments"


def pairs(n: int, size: int, photons: float, tc, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training/test pairs from the run's camera, specimen and background."""
    from fluorogate.sim.sim3 import sim3_batch

    return sim3_batch(n, size, photons, tc.background, tc.preset, tc.specimen, seed)


def baselines(cfg, adu: np.ndarray, noisy: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    """The 3 input frames' mean, upsampled like `sr2x`'s input (nearest, bicubic, Gaussian + bicubic)."""
    return upsampling_baselines(cfg, adu, [f.mean(axis=0) for f in noisy], truths)


def _restore_all(cfg, flt, qat, frames, offset: float, w2: float | None = None):
    """name -> restored frames (offset-subtracted) for widefield, Wiener SIM (best w2 unless given),
    float and QAT on one `Sim3Frames` with all phases; also returns the w2 used."""
    from fluorogate.models.evaluate import run_network
    from fluorogate.models.wiener_sim import WienerSIM, best_wiener_sim, widefield

    stacks = [s.astype(np.float64) - offset for s in frames.adu]
    truths = [t.astype(np.float64) - offset for t in frames.truth]
    if w2 is None:
        wiener, w2 = best_wiener_sim(stacks, frames, truths)
    else:
        recon = WienerSIM(frames, *stacks[0].shape[-2:])
        wiener = [recon.estimate(recon.combine(s), w2) for s in stacks]
    out = {"widefield (9)": [widefield(s) for s in stacks], "wiener sim (9)": wiener}
    for name, model in (("float", flt), ("qat", qat)):
        if model is not None:
            out[name] = list(run_network(model, frames.inputs(), cfg) - offset)
    return out, truths, w2


def extra_eval(cfg, flt, qat, frames: int, size: int) -> tuple[dict, str]:
    """9-frame baselines, bead FWHM and FRC resolution; (eval.json["task_metrics"], Markdown section)."""
    from fluorogate.models.evaluate import EVAL_SEED
    from fluorogate.models.resolution import bead_fwhm, frc_resolution
    from fluorogate.sim.sim3 import sim3_frames

    tc = cfg.train
    quality: dict[str, dict] = {}
    kw = dict(background=tc.background, preset=tc.preset, phases="all")
    for level in cfg.model.spec.levels:
        sim = sim3_frames(frames, size, level, specimen=tc.specimen, seed=EVAL_SEED + 300 + int(level), **kw)
        offset = sim.preset.offset_adu
        restored, truths, w2 = _restore_all(cfg, flt, qat, sim, offset)
        rng = float(np.max(truths) - np.min(truths))
        quality[f"sim {level:g} ph"] = {
            name: {
                "psnr": float(np.mean([psnr(o, t, rng) for o, t in zip(outs, truths, strict=True)])),
                "ssim": float(np.mean([ssim(o, t, rng) for o, t in zip(outs, truths, strict=True)])),
                "param": f"w2 {w2}" if name.startswith("wiener") else "",
            }
            for name, outs in restored.items()
        }
    out_nm = sim.pixel_nm / 2
    beads = sim3_frames(frames, size, BEAD_PHOTONS, specimen="beads", seed=EVAL_SEED + 400, **kw)
    restored, truths, w2 = _restore_all(cfg, flt, qat, beads, beads.preset.offset_adu)
    resolution = {"truth": {"fwhm_nm": bead_fwhm(truths, truths, BEAD_RADIUS)[0] * out_nm}}
    for name, outs in restored.items():
        fwhm, n = bead_fwhm(outs, truths, BEAD_RADIUS)
        resolution[name] = {"fwhm_nm": fwhm * out_nm, "beads": n}
    seed = EVAL_SEED + 500
    pair = [
        sim3_frames(frames, size, BEAD_PHOTONS, specimen=FRC_SPECIMEN, seed=seed, noise=k, **kw)
        for k in (0, 1)
    ]
    first, _, w2 = _restore_all(cfg, flt, qat, pair[0], pair[0].preset.offset_adu)
    second, _, _ = _restore_all(cfg, flt, qat, pair[1], pair[1].preset.offset_adu, w2)
    for name in first:
        res = [frc_resolution(a, b) for a, b in zip(first[name], second[name], strict=True)]
        resolution[name]["frc_nm"] = float(np.mean([r for r, _ in res])) * out_nm
        resolution[name]["frc_nyquist_limited"] = any(lim for _, lim in res)
    metrics = {
        "quality_9frame": quality,
        "resolution": resolution,
        "bead_photons": BEAD_PHOTONS,
        "frc_specimen": FRC_SPECIMEN,
        "output_pixel_nm": out_nm,
    }
    return metrics, _markdown(metrics, frames, size)


def _markdown(m: dict, frames: int, size: int) -> str:
    from fluorogate.models.evaluate import quality_rows

    quality, res = m["quality_9frame"], m["resolution"]
    lines = [
        "## sim3: against the 9-frame reconstructions",
        "",
        f"The same specimens imaged under all 9 patterns ({frames} frames of {size}x{size} per level); "
        "widefield = mean of 9, bicubic; Wiener SIM with its best w2 per level; the networks see 3 of the 9 "
        "frames (phase 0 of each angle). PSNR (dB) / SSIM against the truth at the SIM limit.",
        "",
        *quality_rows(quality),
    ]
    lines += [
        "",
        f"Resolution ({m['output_pixel_nm']:.1f} nm output pixels): median bead FWHM "
        f"({m['bead_photons']:g} photons per bead peak) and FRC resolution (1/7 threshold, two noise "
        f"realisations of {m['frc_specimen']} at {m['bead_photons']:g} photons).",
        "",
        "| method | bead FWHM (nm) | beads | FRC (nm) |",
        "|---|---|---|---|",
    ]
    for name, r in res.items():
        frc_cell = (
            ""
            if "frc_nm" not in r
            else f"{r['frc_nm']:.0f}" + (" (Nyquist)" if r["frc_nyquist_limited"] else "")
        )
        lines.append(f"| {name} | {r['fwhm_nm']:.0f} | {r.get('beads', '')} | {frc_cell} |")
    return "\n".join(lines) + "\n"
