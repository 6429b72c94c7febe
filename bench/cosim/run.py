"""`run_cosim`: the one entry of co-simulation, called by `fluorogate cosim`, the demo and the bench.

Whole camera frames through a back end (the generated RTL in the HDL frame player, or the hls4ml
C-sim), every output pixel compared with the integer reference; returns a `CosimReport`. The
back end is `CosimConfig.backend` (`rtl.cosim_rtl`, `hls4ml_backend.cosim_hls4ml`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fluorogate.bench.cosim.config import CosimConfig, CosimReport, FrameResult
from fluorogate.errors import UserError
from fluorogate.models.run_folder import RunFolder
from fluorogate.quantize.ir import IntegerGraph


class _Inputs(Sequence):
    """The network's inputs over movie frames, read as they are asked for: frame k, or for a C-frame
    input (sim3) frames kC .. kC + C - 1 stacked (C, H, W). A lazy `FrameSpan` stays lazy: co-simulating
    a long movie holds a few frames in memory, not the movie."""

    def __init__(self, frames: Sequence[np.ndarray], channels: int):
        self.frames, self.channels = frames, channels

    def __len__(self) -> int:
        return len(self.frames) // self.channels

    def __getitem__(self, k: int) -> np.ndarray:
        if not 0 <= k < len(self):
            raise IndexError(k)
        c = self.channels
        return self.frames[k] if c == 1 else np.stack([self.frames[k * c + j] for j in range(c)])


def group_inputs(frames: Sequence[np.ndarray], channels: int) -> Sequence[np.ndarray]:
    """Movie frames -> network inputs (`_Inputs`). UserError for frames that are not 2D integer images of
    one size; a stack with `shape` and `dtype` (an array, a `FrameSpan`) is checked without reading it."""
    if len(frames) == 0:
        raise UserError("no frames to simulate")
    if hasattr(frames, "shape") and hasattr(frames, "dtype"):
        shapes, kinds = {tuple(frames.shape[1:])}, {np.dtype(frames.dtype)}
    else:
        shapes, kinds = {np.shape(f) for f in frames}, {np.asarray(f).dtype for f in frames}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise UserError(f"frames must be 2D and all the same size, got shapes {sorted(shapes)[:3]}")
    if not all(np.issubdtype(k, np.integer) for k in kinds):
        raise UserError(f"frames must be integer camera ADU (or input codes), got dtype {kinds.pop()}")
    if len(frames) % channels:
        raise UserError(
            f"the model takes {channels} consecutive camera frames per output; {len(frames)} frames "
            f"is not a multiple of {channels} (choose --frames accordingly)"
        )
    return _Inputs(frames, channels)


def run_cosim(
    model: RunFolder | IntegerGraph,
    frames: Sequence[np.ndarray],
    cfg: CosimConfig,
    work: Path,
    *,
    frame_numbers: Sequence[int] | None = None,
    source: str = "",
    on_frame: Callable[[FrameResult], None] | None = None,
) -> CosimReport:
    """Stream `frames` (camera ADU as stored, (H, W) each; input codes for a graph without a camera
    conversion) through `cfg.backend` and compare every output pixel with the integer reference.

    `model`: a run folder (both back ends; `models.runs.open_run` makes one from a command line's RUN),
    or an IntegerGraph (RTL only: models with no run folder, as tests build them). `frame_numbers`:
    the frames' numbers in the movie (default 0..N-1), used in the report; `on_frame` is called with
    each output frame's result as it completes (progress bars). Simulation files go to `work`. The report
    says what differs; raising on a mismatch is the caller's choice (the CLI exits non-zero).
    """
    graph = model if isinstance(model, IntegerGraph) else model.graph
    channels = graph.input.channels
    inputs = group_inputs(frames, channels)
    numbers = list(range(len(frames))) if frame_numbers is None else list(frame_numbers)
    if len(numbers) != len(frames):
        raise UserError(f"{len(numbers)} frame numbers for {len(frames)} frames")
    height, width = np.shape(frames[0])
    report = CosimReport(
        model=model.name if isinstance(model, RunFolder) else graph.name,
        backend=cfg.backend,
        source=source,
        frames=numbers,
        outputs=len(inputs),
        frame_shape=[channels, height, width],
        lanes=cfg.lanes,
        gaps=cfg.gaps,
        backpressure=cfg.backpressure,
    )
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if cfg.backend == "rtl":
        from fluorogate.bench.cosim.rtl import cosim_rtl

        cosim_rtl(graph, inputs, numbers[::channels], cfg, work, report, on_frame)
    else:
        from fluorogate.bench.cosim.hls4ml_backend import cosim_hls4ml

        if not isinstance(model, RunFolder):
            raise UserError("the hls4ml back end builds from the run's QONNX: pass a run folder, not an IR")
        cosim_hls4ml(model.require_exported(), inputs, numbers[::channels], cfg, work, report, on_frame)
    return report
