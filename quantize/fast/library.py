"""The fast reference's compiled kernels (`kernels.cpp`): built once per machine, loaded with ctypes.

`g++ -O3 -march=native` (g++ is already a project dependency: hls4ml's C simulation) makes one shared
library of every kernel; the build is cached by content (`fluorogate.build_cache`: the source, the
compiler's version and flags, and the instruction-set macros `-march=native` defines here, so a cache
folder shared by two kinds of CPU keeps one build per kind). It takes ~5-10 s once; every later
process loads the cached file. Without g++, or when the build fails, `kernel_library()` logs one
line and returns None, and the reference runs its spec path (torch), which is exact anywhere.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels.cpp")
LIBRARY = "libfgkernels.so"
FLAGS = ["-O3", "-std=c++20", "-fwrapv", "-fPIC", "-shared", "-Wno-psabi"]


def _compiler_identity(cxx: str, march: str) -> dict:
    """What decides the machine code besides the source: the compiler's version and the macros
    `-march` defines (on `native`, this CPU's: __AVX512F__, __AVX2__, ...)."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True).stdout
    macros = subprocess.run(
        [cxx, f"-march={march}", "-dM", "-E", "-x", "c++", "-"],
        input="",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        "tool": "fast-reference-kernels",
        "cxx": version.splitlines()[0],
        "flags": FLAGS,
        "march": march,
        "isa": sorted(line for line in macros.splitlines() if "__" in line),
    }


@functools.cache
def kernel_library(march: str = "native") -> ctypes.CDLL | None:
    """The kernels built for `march` (g++'s -march: "native" here, "x86-64" for the portable SSE2
    baseline the tests also check), loaded; None, with one logged line saying why, when they cannot be."""
    from fluorogate.build_cache import build_key, cached_build

    cxx = shutil.which("g++")
    if cxx is None:
        log.warning("fast reference: no g++ on PATH, so the integer reference runs its spec path (torch)")
        return None
    try:
        key = build_key(_compiler_identity(cxx, march), [SOURCE])

        def build(folder: Path) -> None:
            log.info(
                "fast reference: compiling its kernels with g++ -march=%s (once per machine, ~10 s)", march
            )
            subprocess.run(
                [cxx, *FLAGS, f"-march={march}", "-o", str(folder / LIBRARY), str(SOURCE)],
                capture_output=True,
                text=True,
                check=True,
            )

        scratch = Path(tempfile.mkdtemp(prefix="fg-fastref-"))
        try:
            folder, _ = cached_build(key, [LIBRARY], build, scratch)
            return ctypes.CDLL(
                str(folder / LIBRARY)
            )  # mapped: the file may go (cache off: it was in scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        log.warning(
            "fast reference: building its kernels failed, so the integer reference runs its spec "
            "path (torch): %s",
            detail.strip()[-500:],
        )
        return None
