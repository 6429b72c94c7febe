"""Builds kept by content: the same sources, top, macros and options never build twice.

Used by the co-simulation (simulator builds) and the fast integer reference (its g++-compiled
kernels, `quantize/fast/library.py`), hence in the base layer. Why: Verilator's C++ build of the
default denoiser takes 15-50 CPU-seconds (its simulation of a 256x256 frame then takes a tenth of a
second), and neither `cocotb_tools.runner` nor a plain `verilator --build` knows that nothing changed.
A build is keyed by a hash of everything that goes into it (the caller's description: tool and its
version, top, macros, options; and every source file's name and content); only the files the run
needs (its `products`: Icarus `sim.vvp`, a Verilator executable, the kernels' shared library) are
kept, under `FLUOROGATE_SIM_CACHE` (default `~/.cache/fluorogate/sim-builds`; `off` disables it), the
newest `KEEP` entries. Builds go to a private folder and are renamed into place, so parallel test
workers never see half a build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

KEEP = 32  # cache entries kept (newest used first); a Verilator build of the default is ~1-10 MB


def cache_root() -> Path | None:
    """The cache folder, or None when FLUOROGATE_SIM_CACHE=off."""
    value = os.environ.get("FLUOROGATE_SIM_CACHE", "")
    if value.lower() == "off":
        return None
    return Path(value) if value else Path.home() / ".cache" / "fluorogate" / "sim-builds"


def build_key(description: object, sources: Iterable[Path]) -> str:
    """Hash of a build's `description` (JSON-able: tool, versions, top, macros, options) and its sources."""
    h = hashlib.sha256(json.dumps(description, default=str, sort_keys=True).encode())
    for src in sources:
        h.update(Path(src).name.encode() + b"\0" + Path(src).read_bytes() + b"\0")
    return h.hexdigest()[:24]


def cached_build(
    key: str, products: list[str], build: Callable[[Path], None], build_dir: Path
) -> tuple[Path, bool]:
    """The folder holding `products` of the build named `key`, and whether it came from the cache.

    `build(build_dir)` makes them in `build_dir` when the cache has no entry (or is off); they are then
    copied into the cache. The returned folder is the cache entry or `build_dir`.
    """
    root = cache_root()
    entry = None if root is None else root / key
    if entry is not None and all((entry / p).exists() for p in products):
        os.utime(entry)  # most recently used
        return entry, True
    build_dir.mkdir(parents=True, exist_ok=True)
    build(build_dir)
    if root is None:
        return build_dir, False
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    for product in products:
        shutil.copy2(build_dir / product, staging / product)
    try:
        os.replace(staging, entry)
    except OSError:  # another worker put the same build there first
        shutil.rmtree(staging, ignore_errors=True)
    _prune(root)
    return build_dir, False


def _prune(root: Path) -> None:
    """Keep the newest KEEP entries."""
    entries = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
