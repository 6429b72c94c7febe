"""hls4ml back-end benchmark: conversion, g++ compile and C-sim time per frame size, vs the reference.

`bench_hls(qonnx, graph, sizes)` returns a dict (one entry per size) with seconds for the build
steps (prepare..wrapper), the g++ compile of hls4ml's bridge, hls4ml `predict` per frame, and
`run_graph` per frame on the same codes; plus the largest FIFO depth against the whole frame, whether
C-sim matched the reference bit for bit, and the parsed vendor report when one exists in the
project. Timings on a shared machine are noisy: report them with the load.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fluorogate.quantize.ir import IntegerGraph


def bench_hls(
    qonnx: str | Path,
    graph: IntegerGraph,
    sizes: tuple[int, ...] = (16, 32, 64),
    frames: int = 2,
    backend: str = "vitis",
    workdir: str | Path | None = None,
) -> dict:
    from fluorogate.hls.hls4ml import csim
    from fluorogate.hls.hls4ml.build import build_project
    from fluorogate.hls.hls4ml.config import make_config
    from fluorogate.hls.hls4ml.vendor import parse_csynth_xml
    from fluorogate.quantize.reference import run_graph

    work = Path(workdir or tempfile.mkdtemp(prefix="fluorogate_bench_hls_"))
    q = graph.input.quant
    result: dict = {"backend": backend, "frames": frames, "load_avg": os.getloadavg()[0], "sizes": {}}
    for size in sizes:
        cfg = make_config(backend=backend, width=size, height=size)
        t0 = time.perf_counter()
        ctx = build_project(str(qonnx), graph, cfg, work / f"prj_{size}", force=True)
        t1 = time.perf_counter()
        ctx.model.compile()
        t2 = time.perf_counter()
        codes = np.random.default_rng(size).integers(
            q.min_int, q.max_int + 1, size=(frames, graph.input.channels, size, size)
        )
        got = csim.predict_codes(ctx.model, graph, codes)
        t3 = time.perf_counter()
        ref = np.stack([run_graph(graph, c) for c in codes])
        t4 = time.perf_counter()
        report = next(iter(ctx.out_dir.glob("*_prj/solution1/syn/report/*_axis_csynth.xml")), None)
        result["sizes"][size] = {
            "convert_s": t1 - t0,
            "compile_s": t2 - t1,
            "csim_s_per_frame": (t3 - t2) / frames,
            "reference_s_per_frame": (t4 - t3) / frames,
            "bit_exact": bool(np.array_equal(got, ref)),
            "max_fifo_depth": max(ctx.depths.values()),
            "whole_frame_depth": size * size,
            "vendor": parse_csynth_xml(report.read_text()) if report else None,
        }
    return result
