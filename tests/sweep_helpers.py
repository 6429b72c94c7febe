"""What the sweep tests share: a tiny grid, a tool limit that fails synthesis at once, the CLI in a child
process that Ctrl-C reaches, and the process tree read from /proc."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# One point, 8 training steps: ~20 s of training, export and PSNR on a loaded 2-core machine.
TINY = {
    "bits": ["w2a8"],
    "channels": [4],
    "steps": 8,
    "size": 8,
    "latency_size": 64,
    "eval_frames": 1,
    "eval_size": 64,
}
# Two bit widths at 4 channels in a pool of two: the real-tool sweeps (local pool and Ray).
TWO_POINTS = {**TINY, "bits": ["w2a8", "w8a8"], "jobs": 2}
# Minutes per tool run: 0.06 s stops yosys at once, a real tool timeout that fails the point in seconds.
TIMES_OUT = 0.001
needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="Ray is not installed: pip install 'fluorogate[cluster]' to test --executor ray",
)


def sweep_cli(out: Path, *extra: str) -> list[str]:
    """`fluorogate sweep` of the one tiny point into `out` (the CLI's own eval and latency defaults)."""
    return [
        sys.executable,
        "-m",
        "fluorogate.cli",
        "sweep",
        "--out",
        str(out),
        "--bits",
        "w2a8",
        "--channels",
        "4",
        "--steps",
        "8",
        "--size",
        "8",
        *extra,
    ]


def start_during_synthesis(cmd: list[str], out: Path) -> subprocess.Popen:
    """Start the sweep and return once yosys has run for a moment inside a synth stage's private folder.

    A job started in the background by a non-interactive shell (`make test &`, some CI runners) inherits
    SIGINT ignored, and so would the sweep: it gets the default disposition, as from a terminal.
    """
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while (
        not list((out / "cache").glob("synth/.tmp-*")) and proc.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    time.sleep(3)
    assert proc.poll() is None, proc.stdout.read()
    return proc


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (pool workers, a Ray cluster's servers and workers, their
    tools)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an ended child that nobody reaped: a container's init may not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
