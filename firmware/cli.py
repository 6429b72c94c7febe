"""`fluorogate rtl`: the open RTL back end's command (Verilog from a run folder's IR).

Nothing heavy at import time: the generator (and da4ml) load inside the handler.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fluorogate.firmware.build_cli import register_build

DEFAULT_SIZE = 2048  # the 'scmos' camera preset's frame; any size >= 3 works


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rtl",
        help="generate streaming Verilog (AXI4-Stream video in/out) from a run's ir.json",
        description="Generate synthesizable Verilog for the whole network from RUN/ir.json: one pixel per "
        "clock, bit-exact with the integer reference. Writes the sources, files.f and design.json.",
    )
    p.add_argument(
        "run",
        help="run folder holding ir.json (trained or imported; or the ir.json file itself), or a "
        "shipped model's name ('default')",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder for the Verilog sources")
    p.add_argument(
        "--width", type=int, default=DEFAULT_SIZE, help="frame width in pixels (default %(default)s)"
    )
    p.add_argument(
        "--height", type=int, default=DEFAULT_SIZE, help="frame height in lines (default %(default)s)"
    )
    p.add_argument(
        "--lanes",
        type=int,
        choices=(1, 2, 4),
        default=1,
        help="input pixels per clock (AXI4-Stream lanes); the width must be a multiple (default 1); "
        "after a 2x upsample the output carries 4x as many",
    )
    p.add_argument(
        "--kernel",
        choices=("auto", "mac", "da4ml"),
        default="auto",
        help="kernel form for every conv: da4ml shift-add graph, plain MAC, or chosen per layer",
    )
    p.add_argument("--top", default="fluorogate_top", help="top module name (default %(default)s)")
    p.add_argument(
        "--peaks",
        type=float,
        metavar="PHOTONS",
        help="smlm: put the peak finder behind the network, threshold PHOTONS per output pixel "
        "(e.g. 16): m_axis streams the localization list (needs RUN's config.json)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    p.set_defaults(handler=rtl_command)
    register_build(subparsers)  # `fluorogate build`: the bitstream flow (build engineer)


def rtl_command(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from fluorogate.errors import UserError
    from fluorogate.firmware.generate import RtlConfig, write_design
    from fluorogate.models.run_folder import CONFIG, RunFolder
    from fluorogate.models.runs import open_run
    from fluorogate.quantize.ir import IntegerGraph

    if Path(args.run).is_file():  # an IR file itself, whatever its name; its folder is the run
        ir_path = Path(args.run)
        run = RunFolder(ir_path.parent)
    else:
        run = open_run(args.run, exported=False)
        if not run.ir_path.is_file():
            run.require_exported()  # says how to get the IR: export, or import
        ir_path = run.ir_path
    graph = IntegerGraph.load(ir_path)
    peaks = None
    if args.peaks is not None:
        from fluorogate.models.smlm import peak_config

        if not run.has_config and not run.is_imported:
            raise UserError(f"--peaks: {run.path} has no {CONFIG} (the run's camera and preset)")
        peaks = peak_config(
            run.require_config("--peaks (the smlm task's camera and photon scale)"), args.peaks
        )
    try:
        cfg = RtlConfig(
            width=args.width,
            height=args.height,
            lanes=args.lanes,
            kernel=args.kernel,
            top=args.top,
            peaks=peaks,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = f"--{err['loc'][0]}" if err["loc"] else "--width/--lanes"
        raise UserError(f"{where}: {err['msg']}") from None
    design = write_design(graph, cfg, args.out, force=args.force)
    rep = design.report
    print(
        f"wrote {len(design.file_names())} Verilog files to {args.out} (top {design.top}, "
        f"{len(rep['stages'])} stages, latency ~{rep['latency_cycles_estimate']} cycles at "
        f"{cfg.width}x{cfg.height}, {rep['lanes']} lane(s) in, {rep['out_lanes']} out)"
    )
    return 0
