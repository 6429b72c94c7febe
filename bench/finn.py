"""FINN section of `fluorogate bench`: the model folded for the camera's rate at each frame size, and FINN's
own estimates of it (`hls.finn.estimates`), timed."""

from __future__ import annotations

import tempfile
from pathlib import Path


def finn_estimates(
    qonnx_path: str | Path,
    graph,
    size: tuple[int, int],
    camera: str = "scmos",
    board: str = "ZCU104",
    clock_ns: float = 5.0,
) -> dict:
    """Fold `qonnx_path` for `camera` at frame `size` and return FINN's estimates (no checks, no codegen).

    `graph` is the model's IntegerGraph (its rounding must be half_up, as for every FINN build).
    """
    from fluorogate.hls.finn.flow import DEFAULT_STEPS, FinnConfig, build_finn

    steps = [s for s in DEFAULT_STEPS if s[0] != "hw_codegen"]
    cfg = FinnConfig(
        board=board, camera=camera, size=size, clock_ns=clock_ns, check_size=(8, 8), check_frames=1
    )
    with tempfile.TemporaryDirectory(prefix="fluorogate-finn-") as tmp:
        result = build_finn(qonnx_path, graph, cfg, Path(tmp) / "finn", steps=steps, progress=False)
    summary = result.summary
    return {
        **summary["estimates"],
        "frame": summary["frame"],
        "target_fps": summary["target"]["fps"],
        "meets_camera_rate": bool(summary["folding"] and summary["folding"]["met"]),
        "mvau_wwidth_max": summary["folding"]["mvau_wwidth_max"] if summary["folding"] else None,
        "wwidth_tries": summary["folding"]["tries"] if summary["folding"] else [],
    }


def bench_finn(
    qonnx_path: str | Path,
    graph,
    sizes: tuple[int, ...] = (32, 256, 512),
    camera: str = "scmos",
    board: str = "ZCU104",
    clock_ns: float = 5.0,
) -> dict:
    """`finn_estimates` per square frame size, with the build's wall time and the machine load.

    Same shape as `bench.hls.bench_hls`: {"backend", "load_avg", "sizes": {size: {...}}}. Every
    entry passed the per-step bit-exact check (on 8x8 frames) or this raises.
    """
    import os
    import time

    result: dict = {
        "backend": "finn",
        "camera": camera,
        "board": board,
        "clock_ns": clock_ns,
        "load_avg": os.getloadavg()[0],
        "sizes": {},
    }
    for size in sizes:
        t0 = time.perf_counter()
        est = finn_estimates(qonnx_path, graph, (size, size), camera=camera, board=board, clock_ns=clock_ns)
        result["sizes"][size] = {**est, "build_s": time.perf_counter() - t0, "bit_exact": True}
    return result
