"""The hls4ml back end of `run_cosim`: whole frames through the hls4ml project's g++ C-simulation.

The project is built for the frames' size (`hls.hls4ml.build.build_project`, from the run's QONNX) and
each frame goes through its AXI4-Stream video wrapper's testbench (`csim.run_axis_testbench`: raw
camera ADU in with tuser/tlast as a camera sends them, the camera conversion in the wrapper, the layers
as a dataflow of threads over FIFOs bounded to the project's depths), one frame per run, so progress is
per frame. C-sim is untimed: no lanes, valid gaps or backpressure, no cycles, and no stage taps (the
first differing pixel is reported; node-wise localisation is the RTL back end's).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fluorogate.bench.cosim.config import CosimConfig, CosimReport, FrameResult
from fluorogate.bench.cosim.tally import Tally, input_codes, reference
from fluorogate.errors import UserError
from fluorogate.models.run_folder import RunFolder


def cosim_hls4ml(
    run: RunFolder,
    inputs: Sequence[np.ndarray],
    frame_numbers: list[int],
    cfg: CosimConfig,
    work: Path,
    report: CosimReport,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> None:
    """Stream `inputs` ((H, W) or (C, H, W) raw frames) through the hls4ml C-sim; fill `report`."""
    from fluorogate.hls.hls4ml.build import build_project
    from fluorogate.hls.hls4ml.config import make_config
    from fluorogate.hls.hls4ml.csim import compile_network_object, run_axis_testbench
    from fluorogate.hls.hls4ml.wrapper import wrapper_params

    if cfg.lanes != 1 or cfg.gaps or cfg.backpressure or cfg.rtl_dir is not None:
        raise UserError(
            "--lanes, --gaps, --backpressure and --rtl apply to the RTL back end; the hls4ml C-sim "
            "is untimed and takes one pixel per beat"
        )
    graph = run.graph
    height, width = inputs[0].shape[-2:]
    for x in inputs:
        input_codes(graph, x)
    p = wrapper_params(graph, width, height)
    report.out_shape = [p["out_c"], p["out_h"], p["out_w"]]
    hcfg = make_config(backend="vitis", width=width, height=height)
    start = time.perf_counter()
    project = build_project(str(run.qonnx_path), graph, hcfg, work / "hls4ml", force=True).out_dir
    compile_network_object(project, hcfg.project_name)
    report.build_s = round(time.perf_counter() - start, 2)
    report.load_avg.append(round(os.getloadavg()[0], 2))
    tally, csim_s = Tally(frame_numbers, report.out_shape), 0.0
    for k, x in enumerate(inputs):
        start = time.perf_counter()
        got = run_axis_testbench(project, hcfg.project_name, graph, [x])[0]
        csim_s += time.perf_counter() - start
        result = tally.add(k, got, reference(graph, x))
        if on_frame is not None:
            on_frame(result)
    report.load_avg.append(round(os.getloadavg()[0], 2))
    tally.fill(report)
    report.simulator = "g++ C-sim (hls4ml video wrapper testbench)"
    report.sim_s = round(csim_s, 3)
    report.sim_pixels_per_s = round(report.pixels_compared / csim_s) if csim_s else None
    report.work = str(work)
    report._maps = {"count": tally.map, "first_diff": tally.first_diff}
