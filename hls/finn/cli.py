"""`fluorogate finn RUN --board zcu104 --camera scmos [--size H W] [--out DIR] [--force] [--synth]`.

Reads the run's `model.qonnx.onnx` and `ir.json` (a half_up model; RUN is a run folder, trained or
imported with `fluorogate import`, or a shipped model's name: `models.runs.open_run`), runs the FINN build
(finn-plus) folded to the camera's pixel rate, checks FINN's execution against the integer
reference after every step, and writes the FINN build folder with a `dataflow_build_config.json`
that continues to a bitstream. `--synth` continues there with Vivado (MissingToolError, one line,
when it is not installed). Nothing heavy is imported until the handler runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fluorogate.errors import UserError


def register_finn(subparsers) -> None:
    p = subparsers.add_parser(
        "finn",
        help="FINN dataflow build (finn-plus) folded to a camera's pixel rate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run",
        help="run folder with model.qonnx.onnx and ir.json (trained or imported), or a shipped model's name",
    )
    p.add_argument("--board", default="zcu104", help="FINN board name (default zcu104)")
    p.add_argument("--camera", default="scmos", help="camera preset whose pixel rate sets the folding")
    p.add_argument(
        "--size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="frame size to build for (default: the camera's full frame)",
    )
    p.add_argument("--clock", type=float, default=5.0, help="clock period in ns (default 5)")
    p.add_argument(
        "--check-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=(32, 32),
        help="frame size of the per-step bit-exactness check (default 32 32)",
    )
    p.add_argument(
        "--standalone-thresholds",
        action="store_true",
        help="FINN's standalone Thresholding layers: RTL MVAUs on DSPs (fewer LUTs)",
    )
    p.add_argument("--out", type=Path, help="build folder (default RUN/finn)")
    p.add_argument("--force", action="store_true", help="replace an existing build folder")
    p.add_argument("--synth", action="store_true", help="continue to a bitstream (needs Vivado)")
    p.set_defaults(handler=run_finn)


def run_finn(args) -> int:
    from fluorogate.hls.finn.env import require_vivado
    from fluorogate.hls.finn.flow import FinnConfig, build_finn, clear_output, synthesize
    from fluorogate.models.runs import open_run

    run = open_run(args.run)
    for name, value in (("--size", args.size), ("--check-size", args.check_size)):
        if value is not None and min(value) < 1:
            raise UserError(f"{name} {value[0]} {value[1]}: frame sides must be positive")
    if not args.clock > 0:
        raise UserError(f"--clock {args.clock}: the clock period must be positive (ns)")
    out = args.out or run.path / "finn"
    clear_output(out, args.force)
    cfg = FinnConfig(
        board=args.board,
        camera=args.camera,
        clock_ns=args.clock,
        size=tuple(args.size) if args.size else None,
        check_size=tuple(args.check_size),
        standalone_thresholds=args.standalone_thresholds,
    )
    result = build_finn(run.qonnx_path, run.graph, cfg, out)
    s = result.summary
    est, fold = s["estimates"], s["folding"]
    print(
        f"wrote {out}: {s['frame'][0]}x{s['frame'][1]} on {s['board']} at {1e3 / cfg.clock_ns:.0f} MHz; "
        f"checked bit-exact after {len(s['check']['steps'])} steps on {s['check']['frame'][0]}x"
        f"{s['check']['frame'][1]} frames"
    )
    print(
        f"FINN estimates: {est['lut']} LUT, {est['bram18']} BRAM18, {est['max_cycles']} cycles/frame "
        f"({est['slowest_layer']}), {est['fps']:.1f} fps; camera needs {s['target']['fps']:.1f} fps"
        f"{'' if fold['met'] else ' (NOT met)'}"
    )
    if s["float_layers"]:
        print(
            f"warning: float layers in the accelerator (joined branches of different scales): "
            f"{', '.join(s['float_layers'])}",
            file=sys.stderr,
        )
    if args.synth:
        require_vivado("continue the FINN build to a bitstream (dataflow_build_config.json)")
        synthesize(out)
    return 0
