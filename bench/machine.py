"""The state of the machine a benchmark ran on: shared machines are noisy, so every report says how busy it
was."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime


def machine_state() -> dict:
    """CPU, load averages and library versions at the time of the call."""
    import numpy
    import torch

    load1, load5, load15 = os.getloadavg()
    return {
        "timestamp_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_avg_1_5_15": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def best_time(fn, repeats: int = 3, min_time_s: float = 0.2) -> float:
    """Best wall time of `fn()` over `repeats` rounds of at least `min_time_s` each, in seconds per call.

    The best (not the mean) is the least disturbed by other processes on a shared machine.
    """
    fn()  # warm-up: first calls pay for allocation, JIT and caches
    best = float("inf")
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time_s:
                break
        best = min(best, elapsed / n)
    return best
