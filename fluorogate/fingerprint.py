"""Fingerprints for caches: a hash of the project's code plus a hash chain over a cached step's inputs.

The demo caches its steps with them (`demo_state.json`) and `fluorogate sweep` its grid points' stages
(a content-addressed folder per fingerprint). One definition, so that "this result stands for what the
current code would make from these inputs" means the same thing everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

from fluorogate import __version__

CODE_SUFFIXES = {".py", ".v", ".sv", ".cpp", ".lpf", ".pcf", ".cst", ".pt", ".json"}
STAGE_PACKAGES = ("sim", "models", "quantize", "hls", "firmware", "bench")


@functools.cache
def code_fingerprint() -> str:
    """A hash of every source file of every stage (Python, Verilog, board files, shipped weights).

    Coarse on purpose: any change to the code a cached step may call (the RTL library, the generator,
    the weights) invalidates the cache, so a cached result never stands for what the current code would
    make. Paths are relative to each package, so two machines with the same code (a cluster's nodes)
    agree on it.
    """
    h = hashlib.sha256(__version__.encode())
    for package in ("fluorogate", *(f"fluorogate.{s}" for s in STAGE_PACKAGES)):
        spec = importlib.util.find_spec(package)
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in CODE_SUFFIXES):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(*parts: str) -> str:
    """16 hex digits of the SHA-256 over `parts` in order: (previous step's fingerprint, name, code,
    config)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
    return h.hexdigest()[:16]
