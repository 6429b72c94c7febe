"""The `smlm` task's registry hooks (Deep-STORM): camera frame -> density map at 2x -> localizations.

- `pairs`: independent frames of blinking emitters (`fluorogate.sim.smlm.smlm_frames`): `photons` is the
  mean photons of an emitter (lognormal, sigma_log 0.5), density drawn per frame log-uniform in
  `TRAIN_DENSITY` emitters/um^2, background per frame uniform in [1/2, 5/2] x the run's background.
  The target is photons per output pixel x the camera's ADU per photon + its offset (see `smlm_frames`).
- `baselines`: the classical pipeline (DoG candidates + Poisson MLE Gaussian fit, `sim.localize`)
  rendered as a density map on the target's grid, so PSNR compares like with like.
- `extra_eval`: what SMLM is judged by: Jaccard index and lateral RMSE against the ground truth (matched
  within 1 camera px), next to the Cramer-Rao bound of the matched emitters, for the fit baseline, the
  float network (float peak decoding) and the QAT network through the integer peak finder
  (`quantize.peaks`, exactly what the hardware streams out), at `EVAL_DENSITIES`.
Thresholds are chosen per condition by oracle (best Jaccard) for every method alike, as the other
baselines' parameters are (`models.baselines`).
"""

from __future__ import annotations

import numpy as np

SCALE, SIGMA_OUT = 2, 1.0
TRAIN_DENSITY = (0.1, 2.0)  # emitters per um^2, log-uniform per frame
EVAL_DENSITIES = (0.1, 0.5, 1.5)
EVAL_PHOTONS = 1500.0
MATCH_RADIUS_PX = 1.0
FIT_THRESHOLDS = (3.0, 4.0, 6.0, 9.0)  # x robust noise of the DoG
DENSITY_THRESHOLDS = (8.0, 16.0, 32.0, 64.0)  # photons per output pixel
HARDWARE_THRESHOLD = 16.0  # photons per output pixel: the peak finder in the design the bench builds


def _frames(n: int, size: int, photons: float, background, density, preset: str, seed: int):
    from fluorogate.sim.smlm import smlm_frames

    return smlm_frames(n, size, photons, density, background, preset, seed, scale=SCALE, sigma_out=SIGMA_OUT)


def pairs(n: int, size: int, photons: float, tc, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw ADU (n, size, size), target ADU (n, 2 size, 2 size)) with per-frame density and background."""
    rng = np.random.default_rng([seed, 7])
    lo, hi = np.log(TRAIN_DENSITY[0]), np.log(TRAIN_DENSITY[1])
    density = np.exp(rng.uniform(lo, hi, n))
    background = rng.uniform(0.5, 2.5, n) * tc.background
    f = _frames(n, size, photons, background, density, tc.preset, seed)
    return f.adu, f.density_adu


def _camera(preset_name: str):
    """(preset, ADU per photon, ADU per electron, PSF sigma in camera px)."""
    from fluorogate.sim.camera import get_preset
    from fluorogate.sim.optics import Optics

    preset = get_preset(preset_name)
    optics = Optics()
    return (
        preset,
        preset.qe * preset.em_gain * preset.gain_adu_per_e,
        preset.em_gain * preset.gain_adu_per_e,
        optics.sigma_nm / optics.pixel_nm(preset.pixel_size_um),
    )


def fit_localizations(noisy: np.ndarray, preset_name: str, threshold: float) -> np.ndarray:
    """The classical pipeline on offset-subtracted ADU frames -> LOC_DTYPE (photons, not electrons)."""
    from fluorogate.sim.localize import localize_fit

    preset, _, adu_per_e, sigma = _camera(preset_name)
    loc = localize_fit(np.asarray(noisy) / adu_per_e, sigma, threshold, preset.read_noise_e)
    loc["photons"] /= preset.qe
    return loc


def _render(loc: np.ndarray, shape: tuple[int, int, int], adu_per_photon: float) -> np.ndarray:
    from fluorogate.sim.smlm import render_density

    return (
        render_density(loc["frame"], loc["y_px"], loc["x_px"], loc["photons"], shape, SCALE, SIGMA_OUT)
        * adu_per_photon
    )


def baselines(cfg, adu: np.ndarray, noisy: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    """Gaussian-fit localizations rendered as the target density (the threshold with the best PSNR)."""
    from fluorogate.models.baselines import _best

    _, gain, _, _ = _camera(cfg.train.preset)

    def fit_render(frame: np.ndarray, threshold: float) -> np.ndarray:
        loc = fit_localizations(frame[None], cfg.train.preset, threshold)
        return _render(loc, (1, *frame.shape), gain)[0]

    out, t = _best(noisy, truths, FIT_THRESHOLDS, fit_render)
    return {"gaussian fit": (out, f"{t:g} x noise")}


def _best_score(make_locs, thresholds, truth, pixel_nm, shape) -> tuple[dict, float, np.ndarray]:
    """The threshold with the best Jaccard: (score, threshold, localizations)."""
    from fluorogate.sim.localize import score

    best = None
    for t in thresholds:
        loc = make_locs(t)
        s = score(loc, truth, MATCH_RADIUS_PX, pixel_nm, shape)
        if best is None or s["jaccard"] > best[0]["jaccard"]:
            best = (s, t, loc)
    return best


def peak_localizations(qat_adu: np.ndarray, cfg, threshold_photons: float) -> np.ndarray:
    """The integer peak finder on the QAT network's output (ADU on the code grid) -> LOC_DTYPE."""
    from fluorogate.quantize.peaks import peak_records, to_localizations

    _, gain, _, _ = _camera(cfg.train.preset)
    cam = cfg.camera
    codes = np.rint((qat_adu - cam.offset) / 2.0**cam.shift).astype(np.int64)
    pcfg = peak_config(cfg, threshold_photons)
    return np.concatenate(
        [
            to_localizations(peak_records(c, pcfg), i, pcfg, SCALE, cam.shift, gain)
            for i, c in enumerate(codes)
        ]
    )


def peak_config(cfg, threshold_photons: float):
    """The peak finder's integers for run `cfg`: baseline = the target's pedestal in codes, threshold
    = baseline + `threshold_photons` per output pixel in codes."""
    from fluorogate.quantize.peaks import PeakConfig
    from fluorogate.sim.camera import get_preset

    _, gain, _, _ = _camera(cfg.train.preset)
    step = 2.0**cfg.camera.shift
    base = round((get_preset(cfg.train.preset).offset_adu - cfg.camera.offset) / step)
    return PeakConfig(
        threshold=base + max(1, round(threshold_photons * gain / step)), baseline=base, sigma_out=SIGMA_OUT
    )


def hardware_peaks(cfg):
    """The peak finder of smlm's benchmarked hardware (`TaskSpec.peaks`): `HARDWARE_THRESHOLD` photons per
    output pixel, the threshold `fluorogate rtl RUN --peaks` is documented with (a constant in the RTL)."""
    return peak_config(cfg, HARDWARE_THRESHOLD)


def extra_eval(cfg, flt, qat, frames: int, size: int) -> tuple[dict, str]:
    """Jaccard, RMSE and CRLB per density for the fit baseline, float and QAT (integer peak finder)."""
    from fluorogate.models.evaluate import EVAL_SEED, run_network
    from fluorogate.sim.localize import crlb_mortensen, inside, localize_density

    preset, gain, _, sigma = _camera(cfg.train.preset)
    pedestal = preset.offset_adu - cfg.camera.offset
    background = cfg.train.background
    results: dict[str, dict] = {}
    for k, density in enumerate(EVAL_DENSITIES):
        f = _frames(frames, size, EVAL_PHOTONS, background, density, cfg.train.preset, EVAL_SEED + 500 + k)
        shape = f.adu.shape[1:]
        truth = inside(f.localizations, shape, 1.0)
        e_n = truth["photons"] * preset.qe
        b_e = (
            background * preset.qe + preset.dark_current_e_per_s * preset.exposure_s + preset.read_noise_e**2
        )
        excess = 2.0 if preset.em_gain > 1 else 1.0
        crlb = np.sqrt(2 * crlb_mortensen(e_n, b_e, sigma, excess=excess)) * f.pixel_nm
        row = {"emitters": len(truth), "crlb_nm": float(np.median(crlb)) if len(crlb) else float("nan")}
        noisy = f.adu.astype(np.float64) - preset.offset_adu
        methods = {
            "gaussian fit": (lambda t, x=noisy: fit_localizations(x, cfg.train.preset, t), FIT_THRESHOLDS)
        }
        if flt is not None:
            dens = (run_network(flt, f.adu, cfg) - cfg.camera.offset - pedestal) / gain
            methods["float"] = (
                lambda t, d=dens: localize_density(d, t, SCALE, SIGMA_OUT),
                DENSITY_THRESHOLDS,
            )
        if qat is not None:
            out = run_network(qat, f.adu, cfg)
            methods["qat"] = (lambda t, o=out: peak_localizations(o, cfg, t), DENSITY_THRESHOLDS)
        for name, (make, thresholds) in methods.items():
            s, t, _ = _best_score(make, thresholds, f.localizations, f.pixel_nm, shape)
            row[name] = {**s, "threshold": t}
        results[f"{density:g}/um2"] = row
    return {
        "smlm": {
            "photons": EVAL_PHOTONS,
            "background": background,
            "radius_px": MATCH_RADIUS_PX,
            "pixel_nm": f.pixel_nm,
            "densities": results,
        }
    }, _markdown(results, frames, size, background)


def _markdown(results: dict, frames: int, size: int, background: float) -> str:
    names = [m for m in ("gaussian fit", "float", "qat") if m in next(iter(results.values()))]
    lines = [
        "## SMLM localization",
        "",
        f"{frames} frames of {size}x{size} per density, emitters of {EVAL_PHOTONS:g} photons on average "
        f"(lognormal), background {background:g} photons/px; matched within {MATCH_RADIUS_PX:g} camera px "
        "(Hungarian), 1 px border excluded. Jaccard / lateral RMSE (nm) [threshold]; CRLB: median over "
        "the emitters of sqrt(2) x the Mortensen bound per axis (an ideal fit of an isolated emitter). "
        "QAT: the integer peak finder on the output codes (what the hardware streams).",
        "",
        "| density | emitters | CRLB nm | " + " | ".join(names) + " |",
        "|---" * (len(names) + 3) + "|",
    ]
    for cond, row in results.items():
        cells = [
            f"{row[n]['jaccard']:.3f} / {row[n]['rmse_nm']:.1f} [{row[n]['threshold']:g}]" for n in names
        ]
        lines.append(f"| {cond} | {row['emitters']} | {row['crlb_nm']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
