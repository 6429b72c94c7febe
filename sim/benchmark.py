"""Simulator benchmark: the physics numbers (PSF FWHM, photon transfer) and generation speed.

Run `python -m fluorogate.sim.benchmark`. Timings are best of `repeat` runs of wall time; on a shared
machine they are upper bounds. The numbers in docs/simulator.md come from this script.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fluorogate.sim.calibrate import PTC_LEVELS, PTC_LEVELS_EM, bead_at, bead_fwhm_nm, flat, flat_stacks
from fluorogate.sim.camera import PRESETS
from fluorogate.sim.measure import fit_cosine, fit_spot
from fluorogate.sim.optics import Optics
from fluorogate.sim.pairs import denoise_batch, simulate_movie
from fluorogate.sim.ptc import photon_transfer
from fluorogate.sim.structured import SIMConfig, sim_stack


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def physics() -> dict[str, float]:
    out: dict[str, float] = {}
    for psf in ("gaussian", "airy"):
        optics = Optics(psf=psf)
        out[f"fwhm_{psf}_nm"] = bead_fwhm_nm(optics)
        out[f"fwhm_{psf}_over_0.51_lambda_na"] = out[f"fwhm_{psf}_nm"] / optics.fwhm_nm
        movie = simulate_movie(
            50, 21, 2000, 5, specimen=bead_at(10.3, 9.6), seed=1, optics=optics, oversample=4
        )
        spot = fit_spot(movie.adu.mean(axis=0) - movie.preset.offset_adu, 10, 10)
        out[f"fit_sigma_{psf}_over_0.21_lambda_na"] = spot["sigma"] * movie.pixel_nm / optics.sigma_nm
        stack = sim_stack(
            96,
            1000,
            0,
            specimen=flat,
            config=SIMConfig(modulation=0.8, frequency=0.7),
            optics=Optics(psf=psf, magnification=100),
        )
        pattern = stack.expected_adu[0, 0] - PRESETS["scmos"].offset_adu
        contrast, _ = fit_cosine(pattern, stack.k_cycles_per_px[0])
        out[f"sim_contrast_{psf}_over_expected"] = contrast / stack.expected_contrast(0)
    for name, preset in PRESETS.items():
        em = preset.em_gain > 1
        stacks = flat_stacks(
            preset, PTC_LEVELS_EM if em else PTC_LEVELS, frames=16 if em else 8, size=64 if em else 48
        )
        ptc = photon_transfer(stacks, preset.offset_adu)
        out[f"ptc_{name}_slope_adu_per_e"] = ptc.slope_adu_per_e
        out[f"ptc_{name}_slope_expected"] = preset.gain_adu_per_e * (2 * preset.em_gain if em else 1)
        out[f"ptc_{name}_read_noise_e"] = ptc.read_noise_e(preset.gain_adu_per_e)
        out[f"ptc_{name}_read_noise_expected"] = preset.read_noise_e
    return out


def speed(repeat: int = 3) -> dict[str, float]:
    return {
        "frame_512_s": best_of(lambda: denoise_batch(1, 512, 10, specimen="mix"), repeat),
        "frame_2048_s": best_of(lambda: denoise_batch(1, 2048, 10, specimen="mix"), 1),
        "patches_2000x64_s": best_of(lambda: denoise_batch(2000, 64, 10, specimen="mix"), repeat),
    }


def main() -> None:
    for key, value in {**physics(), **speed()}.items():
        print(f"{key:40s} {value:.4g}")


if __name__ == "__main__":
    main()
