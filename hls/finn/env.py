"""finn-plus without Vivado: the one place that prepares FINN's environment, and why.

finn-plus 1.6.1 is installed `--no-deps` beside brevitas 0.13.4 and torch 2.13 (docs/setup.md). Its
front half (QONNX -> FINN, streamlining, HW layers, folding, estimates, HLS/RTL code generation)
runs here without Xilinx tools, given two things:

1. FINN keeps global settings (`finn.util.settings`) normally made by its `finn` CLI; outside it,
   they are rebuilt from `FINN_BUILD_DIR` (where code generation writes). We point the settings at
   a folder inside the build output, per build.
2. `finn.builder.build_dataflow_steps` does `from finn.xsi import SimEngine` at import time, which
   runs FINN's Vivado XSI availability check (needs `XILINX_VIVADO`) and raises without Vivado. The
   name is only a type annotation of the RTL-simulation hooks, which we never call without Vivado,
   so we bind it to None before the import. With Vivado present, nothing is patched.

We call FINN's step functions directly, not `build_dataflow_cfg` (whose metadata writer parses a
Vivado version out of `XILINX_VIVADO`); `--synth` hands the written DataflowBuildConfig to
`build_dataflow_cfg` only where Vivado is installed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from fluorogate.errors import MissingToolError


def vivado_available() -> bool:
    """True where Vivado is on PATH and its settings script was sourced (XILINX_VIVADO set)."""
    return shutil.which("vivado") is not None and bool(os.environ.get("XILINX_VIVADO"))


def require_vivado(purpose: str) -> None:
    if not vivado_available():
        raise MissingToolError("vivado", purpose)


def finn_steps(build_dir: str | Path) -> ModuleType:
    """Import FINN's build steps with code generation going to `build_dir`; return the module."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    os.environ["FINN_BUILD_DIR"] = str(build_dir)
    import finn.xsi

    if not vivado_available() and "SimEngine" not in vars(finn.xsi):
        finn.xsi.SimEngine = None  # see (2) in the module docstring
    import finn.builder.build_dataflow_steps as steps
    from finn.util.settings import get_settings

    get_settings().finn_build_dir = build_dir  # settings are cached per process; follow this build
    return steps


@contextlib.contextmanager
def finn_output_to(log_path: Path) -> Iterator[None]:
    """Send FINN's prints and its `finn_logger` records to `log_path` instead of the terminal.

    FINN reports every folding decision and conversion on stdout; the CLI shows a progress bar and
    a summary instead, and the log stays in the build folder for whoever wants the details.
    """
    logger = logging.getLogger("finn_logger")
    with open(log_path, "a") as log, contextlib.redirect_stdout(log):
        handler = logging.StreamHandler(log)
        saved = logger.handlers[:], logger.propagate
        logger.handlers[:] = [handler]
        logger.propagate = False
        try:
            yield
        finally:
            logger.handlers[:], logger.propagate = saved
