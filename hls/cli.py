"""`fluorogate hls RUN --backend vitis --part xc7z020clg400-1 --clock 5 --out prj/ [--force] [--synth]`.

RUN is a run folder (trained, or imported with `fluorogate import`), 'default' or a shipped model's
name (`models.runs.open_run`). Reads its `model.qonnx.onnx` and `ir.json`, writes the hls4ml project with the
video wrapper, runs the g++ C-sim check on two frames unless `--no-csim`, and with `--synth` runs the
vendor HLS tool on `export_ip.tcl` (MissingToolError, one line, when it is not on PATH). Nothing heavy
is imported until the handler runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "hls",
        help="hls4ml HLS project (Vitis/Vivado) with a camera AXI4-Stream top level",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run",
        help="run folder with model.qonnx.onnx and ir.json (trained or imported), or a shipped "
        "model's name ('default')",
    )
    p.add_argument("--backend", choices=("vitis", "vivado"), default="vitis")
    p.add_argument("--board", help="pynq-z2 (default), zcu104 or u250; --part overrides it")
    p.add_argument("--part", help="FPGA part, e.g. xc7z020clg400-1")
    p.add_argument("--clock", type=float, default=5.0, help="clock period in ns (default 5)")
    p.add_argument("--width", type=int, default=64, help="frame width the project is built for")
    p.add_argument("--height", type=int, default=64, help="frame height the project is built for")
    p.add_argument("--out", type=Path, required=True, help="project folder to write")
    p.add_argument("--force", action="store_true", help="replace an existing project folder")
    p.add_argument("--no-csim", action="store_true", help="skip the g++ bit-exactness check")
    p.add_argument("--synth", action="store_true", help="run the vendor HLS tool (needs it on PATH)")
    p.set_defaults(handler=run_hls)
    from fluorogate.hls.finn.cli import register_finn  # the FINN back end (`fluorogate finn`)

    register_finn(subparsers)


def run_hls(args) -> int:
    from fluorogate.hls.hls4ml.build import build_project
    from fluorogate.hls.hls4ml.config import make_config
    from fluorogate.models.runs import open_run

    run = open_run(args.run)
    cfg = make_config(
        backend=args.backend,
        board=args.board,
        part=args.part,
        clock_ns=args.clock,
        width=args.width,
        height=args.height,
    )
    ctx = build_project(str(run.qonnx_path), run.graph, cfg, args.out, force=args.force, progress=True)
    print(f"wrote {ctx.out_dir} ({cfg.hls4ml_backend}, part {cfg.fpga_part}, {cfg.clock_ns} ns)")
    if not args.no_csim:
        from fluorogate.hls.hls4ml.csim import check_project

        mism = check_project(ctx, frames=2)
        print(f"C-sim vs integer reference: {mism} mismatching pixels")
        if mism:
            return 1
    if args.synth:
        from fluorogate.hls.hls4ml.vendor import run_synthesis

        report = run_synthesis(ctx.out_dir, cfg)
        print(f"synthesis done: {report}")
    return 0
