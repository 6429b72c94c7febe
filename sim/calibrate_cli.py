"""`fluorogate calibrate movie.tif`: the camera's gain, offset and read noise from the user's own movie.

Writes the camera file (JSON, `sim.camera_file`) that `simulate`, `train`, `eval` and `reference` take,
and a PNG of the photon-transfer fit beside it. Nothing heavy at import time.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register_calibrate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="camera gain, offset and read noise from your own movie (temporal photon transfer) -> "
        "camera.json",
        description="Temporal photon transfer on a raw movie: variance of second differences in time against "
        "the level, over pixels where the specimen stayed still (sim/movie_ptc.py). Writes a camera file "
        "(JSON) for simulate / train / eval / reference and a PNG of the fit.",
    )
    p.add_argument(
        "movie", help="raw camera movie: TIFF / OME-TIFF stack of integer ADU, >= 3 frames (20+ better)"
    )
    p.add_argument(
        "--out", required=True, help="camera file to write, e.g. camera.json (the PNG goes beside it)"
    )
    p.add_argument(
        "--dark", help="dark frames (shutter closed, same settings): offset and read noise from them"
    )
    p.add_argument(
        "--offset",
        type=float,
        help="the camera's dark offset in ADU, if known (else from --dark or the skewness of the shot noise)",
    )
    p.add_argument(
        "--em-gain",
        type=float,
        help="EMCCD: the EM gain set on the camera (splits the measured 2 G g; "
        "default 300); also forces the EM noise model",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(handler=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    from fluorogate.errors import UserError
    from fluorogate.outputs import atomic_path, check_writable
    from fluorogate.sim.camera_file import calibrated_preset, describe, write_camera_file
    from fluorogate.sim.movie_ptc import movie_statistics, plot_ptc, read_movie, temporal_ptc

    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise UserError(f"--out {out}: the camera file is JSON; name it *.json")
    png = out.with_suffix(".png")
    for target in (out, png):
        check_writable(target, args.force)
    frames, pixel_um = read_movie(args.movie)
    dark = read_movie(args.dark, "dark stack")[0] if args.dark else None
    if dark is not None and dark.shape[1:] != frames.shape[1:]:
        raise UserError(
            f"--dark {args.dark}: frames of {dark.shape[1]}x{dark.shape[2]}, the movie's are "
            f"{frames.shape[1]}x{frames.shape[2]}"
        )
    em = True if args.em_gain else None
    fit = temporal_ptc(frames, dark=dark, offset=args.offset, em=em)
    preset = calibrated_preset(
        fit,
        frames.shape[1:],
        frames.dtype,
        f"calibrated from {Path(args.movie).name}",
        pixel_um,
        args.em_gain,
    )
    calibration = {
        "movie": str(Path(args.movie).resolve()),
        "dark": args.dark and str(Path(args.dark).resolve()),
        **fit.summary(),
        **movie_statistics(frames),
        "levels": fit.levels,
        "variances": fit.variances,
        "k3": fit.k3,
        "counts": fit.counts,
        "used": fit.used,
    }
    write_camera_file(out, preset, calibration, force=args.force)
    with atomic_path(png, args.force) as tmp:
        plot_ptc(
            tmp,
            fit,
            f"{Path(args.movie).name}: {fit.frames} frames, {100 * fit.still_fraction:.0f} % of "
            "second differences still",
        )
    rel = fit.read_noise_se_adu / fit.read_noise_adu if fit.read_noise_adu > 0 else float("inf")
    print(describe(preset))
    print(
        f"fit: gain {fit.gain_adu_per_e:.4g} +- {fit.gain_se:.2g} ADU/e-{' (2 G g, EM)' if fit.em else ''}, "
        f"offset {fit.offset_adu:.2f} +- {fit.offset_se:.2g} ADU ({fit.offset_source}), read noise "
        f"{fit.read_noise_adu:.3g} +- {fit.read_noise_se_adu:.2g} ADU, R^2 {fit.r2:.4f}, "
        f"{100 * fit.still_fraction:.1f} % still, {fit.saturated_codes} saturated pixels"
    )
    if rel > 0.2:
        print(
            f"warning: the read noise is not determined by this movie (+- {100 * rel:.0f} %): its shot noise "
            "swamps it at the darkest level; record dark frames and pass --dark (or give --offset)"
        )
    if fit.saturated_codes:
        print(
            f"warning: {fit.saturated_codes} pixels sit at the ADC ceiling; their frames were left out of "
            "the fit"
        )
    print(f"wrote {out}\nwrote {png}")
    return 0
