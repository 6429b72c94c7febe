"""Frame-by-frame comparison of a back end's output with the reference, as the frames come out.

Both back ends of `run_cosim` (the RTL player and the hls4ml C-sim) hand each output frame to one
`Tally`, which counts every differing pixel, remembers the first (by frame, line, column, channel),
accumulates the mismatch map (per output position: in how many frames any channel differed) and
keeps the first bad frame's difference image for the report's PNG.
"""

from __future__ import annotations

import numpy as np

from fluorogate.bench.cosim.config import CosimReport, FrameResult, Mismatch
from fluorogate.quantize.ir import IntegerGraph


def input_codes(graph: IntegerGraph, x: np.ndarray) -> np.ndarray:
    """One input (raw camera ADU through the IR's camera conversion, or codes when it has none) as codes;
    a UserError for values outside the camera's bits or the input quantizer's range."""
    from fluorogate.quantize.reference import check_codes, codes_from_adu

    return codes_from_adu(graph, x) if graph.input.camera else check_codes(graph, x)


def reference(graph: IntegerGraph, x: np.ndarray) -> np.ndarray:
    """The integer reference's output (C, H, W) for one raw input."""
    from fluorogate.quantize.reference import run_graph

    return run_graph(graph, input_codes(graph, x))


def first_difference(frame: int, got: np.ndarray, want: np.ndarray) -> tuple[int, Mismatch | None]:
    """(number of differing values, the first in raster order: line, column, channel) of two (C, H, W)."""
    bad = np.argwhere(got.transpose(1, 2, 0) != want.transpose(1, 2, 0))
    if not len(bad):
        return 0, None
    y, x, c = (int(v) for v in bad[0])
    return len(bad), Mismatch(
        frame=frame, line=y, column=x, channel=c, got=int(got[c, y, x]), want=int(want[c, y, x])
    )


class Tally:
    """Counts over the frames of one run; `frame_numbers[k]` is output k's movie frame number."""

    def __init__(self, frame_numbers: list[int], out_shape: tuple[int, int, int]):
        self.frame_numbers = frame_numbers
        self.per_frame: list[FrameResult] = []
        self.map = np.zeros(out_shape[1:], np.int64)  # frames with a differing pixel, per (line, column)
        self.first_diff: np.ndarray | None = None  # got - want of the first frame with a mismatch (C, H, W)

    def add(
        self, k: int, got: np.ndarray, want: np.ndarray, flag_errors: int = 0, end_cycle: int | None = None
    ) -> FrameResult:
        """Output frame k (C, H, W) against the reference's; returns (and records) the frame's result."""
        frame = self.frame_numbers[k]
        count, first = first_difference(frame, got, want)
        if count:
            self.map += (got != want).any(axis=0)
            if self.first_diff is None:
                self.first_diff = got.astype(np.int64) - want
        result = FrameResult(
            frame=frame,
            pixels=int(want.size),
            mismatches=count,
            flag_errors=flag_errors,
            end_cycle=end_cycle,
            first=first,
        )
        self.per_frame.append(result)
        return result

    def fill(self, report: CosimReport) -> None:
        """Counts, the first mismatch and the per-frame table into `report`."""
        report.per_frame = self.per_frame
        report.pixels_compared = sum(f.pixels for f in self.per_frame)
        report.mismatches = sum(f.mismatches for f in self.per_frame)
        report.mismatching_frames = [f.frame for f in self.per_frame if f.mismatches]
        report.first_mismatch = next((f.first for f in self.per_frame if f.first), None)
        report.flag_errors = sum(f.flag_errors for f in self.per_frame)
