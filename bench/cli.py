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
        "bench", help="latency per frame, Fmax, resources, cameras kept up with, software speed, quality",
        description="Benchmark a run folder's model (or 'default', the shipped denoiser) on the open RTL back end "
                    "(simulated small frame, cycle model for large ones, nextpnr Fmax), FINN's estimates, the CPU "
                    "back ends and hls4ml C-sim; PSNR/SSIM with the reference == QAT check. Writes bench.json, "
                    "bench.md and latency.png.")
    p.add_argument("run", help="run folder (exported), or 'default' for the shipped default denoiser")
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 2048], help="frame sizes (default 256 512 2048)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default RUN/bench)")
    p.add_argument("--sections", default="fpga,finn,software,quality,framestore",
                   help="comma-separated sections to run (default %(default)s)")
    p.add_argument("--build-dir", type=Path, default=None,
                   help="reuse this `fluorogate build` folder's report for Fmax and resources (no new build)")
    p.add_argument("--no-build", action="store_true",
                   help="skip place and route (minutes; ~35 for a 2048-wide design here): no Fmax, cycles only")
    p.add_argument("--sim-size", type=int, default=16, help="simulated RTL frame size (default 16)")
    p.add_argument("--hls-sizes", nargs="*", type=int, default=[16], help="hls4ml C-sim frame sizes (default 16)")
    p.add_argument("--software-sizes", nargs="*", type=int, default=None, help="CPU frame sizes (default --sizes)")
    p.add_argument("--software-repeats", type=int, default=3,
                   help="interleaved rounds of the CPU contenders, best of each kept (default 3)")
    p.add_argument("--sweep", type=Path, default=None, help="a sweep.json from `fluorogate sweep`: PSNR vs bit width plot")
    p.add_argument("--force", action="store_true", help="overwrite existing report files")
    p.set_defaults(handler=_bench)

    p = subparsers.add_parser(
        "sweep", help="design-space sweep over bit widths and channel counts: PSNR vs LUTs vs Fmax vs latency",
        description="Train each grid point briefly, export it, synthesize its RTL with yosys (LUTs) and optionally "
                    "place and route it (Fmax); writes sweep.json, sweep.md and a Pareto plot.")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--bits", default="w2a8,w4a8,w8a8", help="bit widths, comma-separated (default %(default)s)")
    p.add_argument("--channels", default="8,16", help="channel counts, comma-separated (default %(default)s)")
    p.add_argument("--steps", type=int, default=300, help="training steps per point, 2:1 float:QAT (default 300)")
    p.add_argument("--size", type=int, default=64, help="frame width of the synthesized RTL (default 64)")
    p.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--pnr", action="store_true", help="also place and route each point for Fmax (minutes each)")
    p.add_argument("--force", action="store_true", help="overwrite an existing sweep folder")
    p.set_defaults(handler=_sweep)


def _bench(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    from fluorogate.bench.run import BenchConfig, run_bench

    try:
        cfg = BenchConfig(sizes=args.sizes, sim_size=args.sim_size, hls_sizes=args.hls_sizes,
                          software_sizes=args.software_sizes, software_repeats=args.software_repeats,
                          build_dir=args.build_dir, build=not args.no_build)
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
            raise UserError(f"--sweep {args.sweep}: not a readable sweep.json ({type(exc).__name__})") from None
    out = args.out or (Path("runs/bench-default") if args.run == "default" else Path(args.run) / "bench")
    report = run_bench(args.run, None, out, sections=_sizes(args.sections), cfg=cfg, force=args.force, sweep=sweep)
    print(f"wrote {out / 'bench.md'}, bench.json, latency.png")
    fpga = report["sections"].get("fpga", {})
    for row in fpga.get("sizes", []):
        if "us_per_frame" in row:
            print(f"  {row['size']}x{row['size']}: {row['us_per_frame']} us/frame, {row['max_fps']} fps max, "
                  f"latency {row['latency_us']} us")
    for row in report["sections"].get("framestore", {}).get("rows", []):
        print(f"  frame store, {row['camera']}: {row['memory']}: {row['verdict']}"
              + (f" ({row['read_peak_mb_s']} MB/s needed, {row['sustained_mb_s']} sustained)" if "sustained_mb_s" in row else ""))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from fluorogate.bench.sweep import SweepConfig, run_sweep
    from fluorogate.models.config import parse_bits

    bits = _sizes(args.bits)
    for tag in bits:
        parse_bits(tag)
    try:
        channels = [int(c) for c in _sizes(args.channels)]
    except ValueError:
        raise UserError(f"--channels {args.channels!r}: expected integers, e.g. 8,12,16") from None
    cfg = SweepConfig(bits=bits, channels=channels, steps=args.steps, size=args.size, jobs=args.jobs, pnr=args.pnr)
    result = run_sweep(cfg, args.out, force=args.force)
    front = [p for p in result["points"] if p.get("pareto")]
    print(f"wrote {args.out / 'sweep.md'}, sweep.json, pareto.png; Pareto front: "
          + ", ".join(f"{p['bits']} c{p['channels']}" for p in front))
    return 0
