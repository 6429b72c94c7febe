"""The `fluorogate` command: one sub-command per pipeline stage, plus `demo` for the whole chain.

Each stage owns its sub-commands in a small `cli` module inside its folder, exposing
`register(subparsers)`. Those modules import nothing heavy at import time (torch, hls4ml, cocotb are
imported inside the handlers), so `fluorogate --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fluorogate import __version__
from fluorogate.errors import UserError, VerificationError

# Order is the order of the pipeline, and the order of `fluorogate --help`.
STAGE_CLI_MODULES = (
    "fluorogate.sim.cli",
    "fluorogate.models.cli",
    "fluorogate.quantize.cli",
    "fluorogate.hls.cli",
    "fluorogate.firmware.cli",
    "fluorogate.bench.cli",
    "fluorogate.bench.cosim.cli",
    "fluorogate.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fluorogate",
        description="Deep-learning image restoration for fluorescence microscopy in an FPGA camera "
        "data path.",
    )
    parser.add_argument("--version", action="version", version=f"fluorogate {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say what the library does (-v: each step, -vv: debugging detail)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in STAGE_CLI_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a stage without commands yet
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Library code logs (`logging.getLogger(__name__)`); commands show progress bars and results.
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="fluorogate: %(name)s: %(message)s",
    )
    try:
        result = args.handler(args)
    except UserError as exc:
        print(f"fluorogate: error: {exc}", file=sys.stderr)
        return 2
    except VerificationError as exc:
        print(f"fluorogate: verification failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fluorogate: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
