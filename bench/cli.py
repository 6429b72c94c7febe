"""`fluorogate bench` and `fluorogate sweep`: the benchmark stage's commands.

Nothing heavy at import time: torch, cocotb and the tools load inside the handlers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fluorogate.errors import UserError


def _sizes(text: str) -> list[str]:
    return [s for s in text.replace(",", " ").split() if s]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="latency per frame, Fmax, resources, cameras kept up with, software speed, quality",
        description="Benchmark a run folder's model (or 'default', the shipped denoiser) on the open RTL "
        "back end (simulated small frame, cycle model for large ones, nextpnr Fmax), FINN's estimates, the "
        "CPU back ends and hls4ml C-sim; PSNR/SSIM with the reference == QAT check. Writes bench.json, "
        "bench.md and latency.png.",
    )
    p.add_argument(
        "run",
        help="run folder (exported or imported), 'default' (the shipped default denoiser) or "
        "a shipped model's name",
    )
    p.add_argument(
        "--sizes", nargs="+", type=int, default=[256, 512, 2048], help="frame sizes (default 256 512 2048)"
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default RUN/bench)")
    p.add_argument(
        "--sections",
        default="fpga,finn,software,quality,framestore",
        help="comma-separated sections to run (default %(default)s)",
    )
    p.add_argument(
        "--build-dir",
        type=Path,
        default=None,
        help="reuse this `fluorogate build` folder's report for Fmax and resources (no new build)",
    )
    p.add_argument(
        "--no-build",
        action="store_true",
        help="skip place and route (minutes; ~35 for a 2048-wide design here): no Fmax, cycles only",
    )
    p.add_argument(
        "--lanes",
        type=int,
        choices=(1, 2, 4),
        default=1,
        help="pixels per clock of the design simulated and built (default 1; with --build-dir: the "
        "build's own lanes, read from its sources)",
    )
    p.add_argument("--sim-size", type=int, default=16, help="simulated RTL frame size (default 16)")
    p.add_argument(
        "--hls-sizes", nargs="*", type=int, default=[16], help="hls4ml C-sim frame sizes (default 16)"
    )
    p.add_argument(
        "--software-sizes", nargs="*", type=int, default=None, help="CPU frame sizes (default --sizes)"
    )
    p.add_argument(
        "--software-repeats",
        type=int,
        default=3,
        help="interleaved rounds of the CPU contenders, best of each kept (default 3)",
    )
    p.add_argument(
        "--sweep",
        type=Path,
        default=None,
        help="a sweep.json from `fluorogate sweep`: PSNR vs bit width plot",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing report files")
    p.set_defaults(handler=_bench)

    p = subparsers.add_parser(
        "sweep",
        help="design-space sweep over bit widths and channel counts: PSNR vs LUTs vs Fmax vs latency",
        description="Train each grid point briefly, export it, synthesize its RTL with yosys (LUTs) and "
        "optionally place and route it (Fmax), on a local process pool or a Ray cluster; each stage is "
        "cached by fingerprint (config + code), so running the same command again resumes. sweep.json grows "
        "as points finish; sweep.md and the Pareto plot are drawn at the end (or with --report).",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--bits", default="w2a8,w4a8,w8a8", help="bit widths, comma-separated (default %(default)s)"
    )
    p.add_argument("--channels", default="8,16", help="channel counts, comma-separated (default %(default)s)")
    p.add_argument(
        "--steps", type=int, default=300, help="training steps per point, 3:1 float:QAT (default 300)"
    )
    p.add_argument("--size", type=int, default=64, help="frame width of the synthesized RTL (default 64)")
    p.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="parallel processes (local), or CPUs of the local Ray cluster (default 2)",
    )
    p.add_argument(
        "--pnr", action="store_true", help="also place and route each point for Fmax (minutes each)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="limit for each tool run (yosys, nextpnr); a point past it fails (default %(default)s)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: a process pool on this machine (nothing to install); ray: one Ray task per stage "
        "with its CPUs and memory declared (pip install 'fluorogate[cluster]') (default local)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="join this Ray cluster (HOST:6379 from a cluster node, or ray://HOST:10001) instead of "
        "starting a local one on 127.0.0.1; see docs/sweep.md for its authentication",
    )
    p.add_argument(
        "--resources",
        nargs="+",
        default=[],
        metavar="STAGE=CPUS:GIB",
        help="what a stage's Ray task reserves, e.g. pnr=1:8 (defaults: train=1:2 export=1:1 synth=1:2 "
        "pnr=1:4)",
    )
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="open the local Ray cluster's dashboard on 127.0.0.1 (needs pip install 'ray[default]')",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder of finished stages, shareable between sweeps and users (default OUT/cache; on a "
        "cluster a folder every node sees)",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="only redraw sweep.md and the plots from OUT/sweep.json (also while the sweep runs)",
    )
    p.add_argument("--force", action="store_true", help="replace another sweep's report in --out")
    p.set_defaults(handler=_sweep)


def _bench(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    from fluorogate.bench.run import BenchConfig, run_bench

    try:
        cfg = BenchConfig(
            sizes=args.sizes,
            sim_size=args.sim_size,
            hls_sizes=args.hls_sizes,
            lanes=args.lanes,
            software_sizes=args.software_sizes,
            software_repeats=args.software_repeats,
            build_dir=args.build_dir,
            build=not args.no_build,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    if args.build_dir is not None and not args.build_dir.is_dir():
        raise UserError(f"--build-dir {args.build_dir}: no such folder")
    sweep = None
    if args.sweep is not None:
        try:
            sweep = json.loads(args.sweep.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(
                f"--sweep {args.sweep}: not a readable sweep.json ({type(exc).__name__})"
            ) from None
    out = args.out or (
        Path(args.run) / "bench" if Path(args.run).is_dir() else Path(f"runs/bench-{args.run}")
    )
    report = run_bench(
        args.run, None, out, sections=_sizes(args.sections), cfg=cfg, force=args.force, sweep=sweep
    )
    print(f"wrote {out / 'bench.md'}, bench.json, latency.png")
    for row in report.fpga.sizes if report.fpga else []:
        if row.us_per_frame is not None:
            print(
                f"  {row.size}x{row.size}: {row.us_per_frame} us/frame, {row.max_fps} fps max, "
                f"latency {row.latency_us} us"
            )
    for row in report.sections.get("framestore", {}).get("rows", []):
        print(
            f"  frame store, {row['camera']}: {row['memory']}: {row['verdict']}"
            + (
                f" ({row['read_peak_mb_s']} MB/s needed, {row['sustained_mb_s']} sustained)"
                if "sustained_mb_s" in row
                else ""
            )
        )
    return 0


def _resources(items: list[str]) -> dict:
    from fluorogate.bench.sweep_point import StageResources, default_resources

    out = default_resources()
    for item in items:
        stage, _, value = item.partition("=")
        cpus, _, gib = value.partition(":")
        try:
            if stage not in out:
                raise ValueError
            out[stage] = StageResources(cpus=float(cpus), memory_gb=float(gib))
        except ValueError:  # pydantic's ValidationError is a ValueError too
            raise UserError(
                f"--resources {item!r}: expected STAGE=CPUS:GIB with STAGE one of "
                f"{', '.join(out)} and positive numbers, e.g. pnr=1:8"
            ) from None
    return out


def _interrupt_on_sigterm() -> None:
    """SIGTERM (Slurm's scancel and time limit, `kill`) stops a sweep as Ctrl-C does: workers and tools
    stopped, sweep.json `interrupted`, a state the same command resumes."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _sweep(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from fluorogate.bench.sweep import redraw, run_sweep
    from fluorogate.bench.sweep_point import SweepConfig
    from fluorogate.models.config import parse_bits

    if args.report:
        result = redraw(args.out)
        print(
            f"wrote {args.out / 'sweep.md'}, pareto.png, psnr_bits.png ({len(result['points'])} of "
            f"{result['grid_points']} points, sweep {result['status']})"
        )
        return 0
    bits = _sizes(args.bits)
    for tag in bits:
        parse_bits(tag)
    try:
        channels = [int(c) for c in _sizes(args.channels)]
    except ValueError:
        raise UserError(f"--channels {args.channels!r}: expected integers, e.g. 8,12,16") from None
    try:
        cfg = SweepConfig(
            bits=bits,
            channels=channels,
            steps=args.steps,
            size=args.size,
            jobs=args.jobs,
            pnr=args.pnr,
            timeout_minutes=args.timeout,
            resources=_resources(args.resources),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    _interrupt_on_sigterm()
    result = run_sweep(
        cfg,
        args.out,
        force=args.force,
        executor=args.executor,
        address=args.address,
        cache=args.cache,
        dashboard=args.dashboard,
    )
    front = [p for p in result["points"] if p.get("pareto")]
    failed = [p for p in result["points"] if "error" in p]
    print(
        f"wrote {args.out / 'sweep.md'}, sweep.json, pareto.png in {result['wall_s']:.0f} s; Pareto front: "
        + (", ".join(f"{p['bits']} c{p['channels']}" for p in front) or "none")
        + (f"; {len(failed)} point(s) failed (see sweep.md)" if failed else "")
    )
    return 0
