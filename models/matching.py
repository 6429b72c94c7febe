"""Matched simulation training: a photon range, background and input shift that match the user's movie.

`fluorogate train --camera camera.json` simulates training pairs with the calibrated camera; what the
camera file cannot say is how bright the specimen is. The calibration records the movie's median, its
99.99th percentile and its brightest pixel (`sim.movie_ptc.movie_statistics`), from which, unless
the user gives `--photons` / `--background`:

- background (detected photons per pixel) = (median - offset) / gain: most pixels of a fluorescence
  movie are background;
- the top of the photon range: the simulator's specimen at a reference level gives a 99.99th percentile
  of so many photons above the background; the range is scaled so that percentile meets the movie's
  (`HEADROOM` above it, a factor `SPAN` below it for the dim end);
- the input shift: the smallest that keeps the movie's brightest pixel (+ 4 sigma of its noise) below
  the top code: a range wider than the movie's wastes input resolution (measured: shift 2, 4 ADU per
  code, for a camera of 0.48 ADU/e- whose noise is ~2 ADU rms, when the shift followed the simulated
  peak of a too-wide photon range), a narrower one clips the spots.
"""

from __future__ import annotations

import math

import numpy as np

REFERENCE_PHOTONS = 10.0
HEADROOM = 1.5  # the top of the range, x the level that reproduces the movie's 99.99th percentile
SPAN = 8.0  # top / bottom of the range


def movie_statistics(camera_file: str) -> dict | None:
    """The calibration's movie statistics of a camera file (None for a hand-written file)."""
    import json
    from pathlib import Path

    cal = json.loads(Path(camera_file).read_text()).get("calibration") or {}
    return cal if "max_adu" in cal else None


def matched_light(
    preset, specimen: str, stats: dict, patch: int = 64, seed: int = 0
) -> tuple[tuple[float, float], float]:
    """((photons lo, hi), background) for `specimen` under camera `preset` matching the movie `stats`."""
    from fluorogate.sim.pairs import denoise_batch

    a = preset.qe * preset.gain_adu_per_e * (preset.em_gain if preset.em_gain > 1 else 1)
    background = max((stats["median_adu"] - preset.offset_adu) / a, 0.0)
    # a background of 1 keeps the simulator's expected photons > 0 (its rendering rings slightly below 0)
    _, truth = denoise_batch(
        64, patch, REFERENCE_PHOTONS, background=1.0, preset=preset, specimen=specimen, seed=seed
    )
    sim_top = (
        float(np.percentile(truth, 99.99)) - preset.offset_adu - a
    )  # ADU above background, reference level
    movie_top = max(stats["p9999_adu"] - stats["median_adu"], a)
    level = REFERENCE_PHOTONS * movie_top / max(sim_top, 1e-6)
    hi = HEADROOM * level
    return (round(hi / SPAN, 2), round(hi, 2)), round(background, 2)


def noisy_peak(preset, top_adu: float, sigmas: float = 4.0) -> float:
    """`top_adu` plus `sigmas` of the camera's noise at that level, ADU: the brightest a pixel gets."""
    a = preset.gain_adu_per_e * (2 * preset.em_gain if preset.em_gain > 1 else 1)
    var = max(a * (top_adu - preset.offset_adu), 0) + (preset.read_noise_e * preset.gain_adu_per_e) ** 2
    return top_adu + sigmas * math.sqrt(var)


def movie_peak(preset, stats: dict, sigmas: float = 4.0) -> float:
    """The movie's brightest pixel plus `sigmas` of the camera noise there, ADU."""
    return noisy_peak(preset, stats["max_adu"], sigmas)
