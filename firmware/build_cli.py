"""`fluorogate build`: a bitstream for a board from generated Verilog (or any AXI4-Stream core).

Registered by `fluorogate.firmware.cli`. Nothing heavy at import time. Exit status: 0 when every
clock meets its constraint, 3 when the build finished but timing is not met (the reports say where),
2 for bad input (as every `UserError`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fluorogate.errors import UserError

TIMING_FAILED = 3


def register_build(subparsers: argparse._SubParsersAction) -> None:
    from fluorogate.firmware.boards import BOARDS

    p = subparsers.add_parser(
        "build",
        help="bitstream for an FPGA board with open tools (yosys, nextpnr, ecppack/icepack from PyPI)",
        description="Synthesize, place and route the core of RUN inside a self-test board top (pattern "
        "source, checksum sink, PLL) and pack a bitstream; writes resource and Fmax reports (JSON + "
        "Markdown). RUN is a run folder with rtl/ (from `fluorogate rtl`), an RTL folder (files.f, "
        "design.json), or one Verilog file. Exit status 3: built, but timing not met.",
    )
    p.add_argument("run", type=Path, help="run folder, RTL folder, or a Verilog file")
    p.add_argument(
        "--board", choices=sorted(BOARDS), default="ulx3s-85f", help="board preset (default %(default)s)"
    )
    p.add_argument(
        "--out", type=Path, help="build folder (default: RUN/build-BOARD; needed for a single file)"
    )
    p.add_argument("--top", help="the core's module name (default: design.json's top, or the file's stem)")
    p.add_argument(
        "--freq", type=float, default=100.0, help="core clock in MHz, made by the PLL (default %(default)s)"
    )
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default %(default)s)")
    p.add_argument(
        "--router",
        choices=("router1", "router2"),
        default="router1",
        help="nextpnr router: router1 reaches higher Fmax on small designs, router2 finishes large "
        "congested ones (the 2048-wide denoiser) where router1 crawls (default %(default)s)",
    )
    p.add_argument(
        "--placer",
        choices=("heap", "static", "sa"),
        default="heap",
        help="nextpnr placer: heap (nextpnr's default, analytic), static (electrostatic: spreads "
        "cells by density, for designs router2 cannot untangle) or sa (annealing, slow) "
        "(default %(default)s)",
    )
    p.add_argument(
        "--heap-density",
        type=float,
        default=None,
        metavar="BETA",
        help="heap placer: the highest cell density it packs a region to (nextpnr's --placer-heap-beta, "
        "its default 0.9); lower spreads a congested design (the 4-lane denoiser on the ULX3S 85F "
        "routes with 0.7, router2)",
    )
    p.add_argument(
        "--frame",
        type=int,
        nargs=2,
        metavar=("BEATS", "LINES"),
        default=None,
        help="self-test frame, beats per line and lines (default: design.json's frame, else 64 32)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="limit for each tool run (synthesis, place and route); large designs on a busy machine "
        "need more (default %(default)s)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing build folder")
    p.set_defaults(handler=build_command)


def _density_args(args: argparse.Namespace) -> list[str]:
    if args.heap_density is None:
        return []
    if args.placer != "heap":
        raise UserError(f"--heap-density is the heap placer's; --placer is {args.placer}")
    if not 0.3 <= args.heap_density <= 1.0:
        raise UserError(f"--heap-density {args.heap_density:g}: give a density from 0.3 to 1.0")
    return ["--placer-heap-beta", f"{args.heap_density:g}"]


def build_command(args: argparse.Namespace) -> int:
    from fluorogate.firmware.build import core_build_config, run_build

    if args.run.is_dir() and (args.run / "rtl").is_dir():  # a run folder with its generated rtl/
        core, parent = args.run / "rtl", args.run
    else:
        core, parent = args.run, args.run if args.run.is_dir() else None
    if not args.run.exists():
        raise UserError(f"{args.run}: no such run folder, RTL folder or Verilog file")
    if args.out is None and parent is None:
        raise UserError(f"{args.run}: pass --out for the build folder of a single Verilog file")
    out = args.out or parent / f"build-{args.board}"
    cfg = core_build_config(
        core,
        args.top,
        tuple(args.frame) if args.frame else None,
        board=args.board,
        freq_mhz=args.freq,
        seed=args.seed,
        timeout_s=args.timeout * 60,
        pnr_args=["--router", args.router, "--placer", args.placer, *_density_args(args)],
    )
    report = run_build(cfg, out, force=args.force)
    print(report.summary())
    print(f"wrote {out}/{report.bitstream} and {out}/build_report.md")
    if not report.timing_met:
        slow = [
            f"{c.name} {c.achieved_mhz:.1f} < {c.constraint_mhz:g} MHz" for c in report.clocks if not c.met
        ]
        print(
            f"fluorogate: timing NOT met ({'; '.join(slow)}); the critical path is in {out}/build_report.md",
            file=sys.stderr,
        )
        return TIMING_FAILED
    return 0
