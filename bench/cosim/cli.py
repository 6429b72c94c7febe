"""`fluorogate cosim`: the user's movie through the generated RTL (or the hls4ml C-sim), every pixel checked.

Nothing heavy at import time: numpy, the generator and the simulators load inside the handler.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fluorogate.errors import UserError, VerificationError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cosim",
        help="stream a movie's whole frames through the RTL (or hls4ml C-sim), compare every pixel",
        description="Stream the camera frames of a TIFF/OME-TIFF movie (raw ADU) through the model's "
        "generated RTL in a simulator (Verilator where installed, else Icarus) or through the hls4ml C-sim, "
        "and compare every output pixel with the integer reference. Writes cosim.json, cosim.md and, when "
        "a pixel differs, mismatch.png; on a mismatch the first bad frame is simulated again with every "
        "stage's output tapped to name the first stage that differs. Exit status 1 on any mismatch or "
        "error flag.",
    )
    p.add_argument("run", help="run folder (exported or imported), 'default', or a shipped model's name")
    p.add_argument(
        "--input", type=Path, required=True, help="camera movie: TIFF/OME-TIFF, (frames, H, W) raw ADU"
    )
    p.add_argument("--frames", default=None, help="movie frames A:B (A to B-1, from 0; default: all)")
    p.add_argument("--backend", choices=("rtl", "hls4ml"), default="rtl", help="default %(default)s")
    p.add_argument(
        "--simulator",
        choices=("auto", "verilator", "icarus"),
        default="auto",
        help="RTL simulator (default auto: Verilator where installed, else Icarus)",
    )
    p.add_argument(
        "--lanes", type=int, choices=(1, 2, 4), default=1, help="input pixels per clock (default 1)"
    )
    p.add_argument(
        "--gaps",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of an idle (valid low) cycle before each input beat (default 0)",
    )
    p.add_argument(
        "--backpressure",
        type=float,
        default=0.0,
        metavar="P",
        help="fraction of cycles the consumer holds tready low (default 0)",
    )
    p.add_argument(
        "--kernel", choices=("auto", "mac", "da4ml"), default="auto", help="RTL kernel form (default auto)"
    )
    p.add_argument(
        "--rtl",
        type=Path,
        default=None,
        metavar="DIR",
        help="simulate this `fluorogate rtl` folder (e.g. hand-edited) instead of generating the RTL",
    )
    p.add_argument("--no-localize", action="store_true", help="on a mismatch, do not re-run with stage taps")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the gaps and backpressure patterns (default 0)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default RUN/cosim, runs/cosim-NAME for a shipped model)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing report in --out")
    p.set_defaults(handler=_cosim)


def _cosim(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from tqdm import tqdm

    from fluorogate.bench.cosim.config import CosimConfig
    from fluorogate.bench.cosim.movie import read_frames
    from fluorogate.bench.cosim.reporting import summary, write_cosim_report
    from fluorogate.bench.cosim.run import run_cosim
    from fluorogate.models.runs import open_run

    try:
        cfg = CosimConfig(
            backend=args.backend,
            simulator=args.simulator,
            lanes=args.lanes,
            gaps=args.gaps,
            backpressure=args.backpressure,
            kernel=args.kernel,
            rtl_dir=args.rtl,
            localize=not args.no_localize,
            seed=args.seed,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    run = open_run(args.run)
    out = args.out or (run.path / "cosim" if Path(args.run).is_dir() else Path("runs") / f"cosim-{run.name}")
    if (out / "cosim.json").exists() and not args.force:
        raise UserError(f"{out / 'cosim.json'} exists; pass --force to overwrite it")
    frames, numbers = read_frames(args.input, args.frames)
    n_out = len(frames) // run.graph.input.channels
    print(
        f"{args.input}: {len(frames)} frame(s) of {frames.shape[2]}x{frames.shape[1]} through the "
        f"{cfg.backend} back end of {run.name} (a first run builds the simulation: about a minute)",
        flush=True,
    )
    with tqdm(total=n_out, unit="frame", desc="cosim") as bar:
        bad = [0]

        def progress(result) -> None:
            bad[0] += result.mismatches
            bar.set_postfix(frame=result.frame, differing=bad[0])
            bar.update(1)

        report = run_cosim(
            run, frames, cfg, out / "sim", frame_numbers=numbers, source=str(args.input), on_frame=progress
        )
    paths = write_cosim_report(report, out, force=True)
    print(summary(report))
    if report.sim_cycles_per_s:
        print(
            f"simulation: {report.sim_s:.1f} s, {report.sim_cycles_per_s:,} cycles/s; latency "
            f"{report.latency_cycles} cycles, {report.pixels_per_clock} px/clock"
        )
    print("wrote " + ", ".join(str(p) for p in paths))
    if not report.ok:
        raise VerificationError(summary(report))
    return 0
