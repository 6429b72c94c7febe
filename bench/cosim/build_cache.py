"""Simulator builds kept by content: the same sources, top, macros and options never build twice.

Why: Verilator's C++ build of the default denoiser takes minutes (its simulation then takes seconds),
and `cocotb_tools.runner` rebuilds it every time (its Verilator runner has no `always=False`). A build
is keyed by a hash of everything that goes into it (runner, simulator and its version, cocotb's version, top,
defines, options, timescale and every source file's name and content); only the files `runner.test()`
needs are kept (Icarus: `sim.vvp`; Verilator: the executable), under `FLUOROGATE_SIM_CACHE` (default
`~/.cache/fluorogate/sim-builds`; `off` disables it), the newest `KEEP` entries. Builds go to a private
folder and are renamed into place, so parallel test workers never see half a build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

KEEP = 32  # cache entries kept (newest used first); a Verilator build of the default is ~10 MB


def cache_root() -> Path | None:
    """The cache folder, or None when FLUOROGATE_SIM_CACHE=off."""
    value = os.environ.get("FLUOROGATE_SIM_CACHE", "")
    if value.lower() == "off":
        return None
    return Path(value) if value else Path.home() / ".cache" / "fluorogate" / "sim-builds"


def _products(sim_name: str, top: str) -> list[str]:
    """The build outputs `runner.test()` reads."""
    return ["sim.vvp"] if sim_name == "icarus" else [top]


def build_key(runner, sim_name: str, sources: list[Path], top: str, defines: dict[str, object],
              build_args: list[str], timescale: tuple[str, str]) -> str:
    """Hash of everything a build depends on (the runner class, the simulator's and cocotb's versions included)."""
    h = hashlib.sha256()
    tool = version("verilator") if sim_name == "verilator" else shutil.which("iverilog") or ""
    h.update(json.dumps([type(runner).__name__, sim_name, tool, version("cocotb"), top, sorted(defines.items()),
                         build_args, list(timescale)], default=str).encode())
    for src in sources:
        h.update(Path(src).name.encode() + b"\0" + Path(src).read_bytes() + b"\0")
    return h.hexdigest()[:24]


def cached_build(runner, sim_name: str, sources: list[Path], top: str, build_dir: Path, *,
                 defines: dict[str, object], build_args: list[str], timescale: tuple[str, str],
                 log_file: Path) -> tuple[Path, bool]:
    """Build (or reuse) the simulation; return (the folder to pass to `runner.test`, reused?)."""
    root = cache_root()
    kwargs = {"sources": sources, "hdl_toplevel": top, "always": True, "timescale": timescale,
              "log_file": log_file, "defines": defines, "build_args": build_args}
    if root is None:
        runner.build(build_dir=build_dir, **kwargs)
        return build_dir, False
    entry = root / build_key(runner, sim_name, sources, top, defines, build_args, timescale)
    if all((entry / p).exists() for p in _products(sim_name, top)):
        os.utime(entry)  # most recently used
        return entry, True
    root.mkdir(parents=True, exist_ok=True)
    runner.build(build_dir=build_dir, **kwargs)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    for product in _products(sim_name, top):
        shutil.copy2(build_dir / product, staging / product)
    try:
        os.replace(staging, entry)
    except OSError:  # another worker put the same build there first
        shutil.rmtree(staging, ignore_errors=True)
    _prune(root)
    return build_dir, False


def _prune(root: Path) -> None:
    """Keep the newest KEEP entries."""
    entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
