"""Typed settings and results of a co-simulation (`run_cosim`): what to stream and how, what came out.

`CosimConfig` is what a user chooses (back end, simulator, lanes, valid gaps, backpressure);
`CosimReport` is everything `fluorogate cosim` writes to cosim.json (and renders as cosim.md): counts,
the first mismatch by frame/line/column and by the first stage whose output differs, cycles per frame,
latency, pixels per clock, error flags and simulation speed. Frame numbers are the movie's (from 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class CosimConfig(BaseModel):
    """How the frames are streamed and through what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["rtl", "hls4ml"] = "rtl"
    simulator: Literal["auto", "verilator", "icarus"] = "auto"  # rtl: auto = Verilator where installed
    lanes: Literal[1, 2, 4] = 1  # input pixels per clock (rtl)
    gaps: float = Field(
        default=0.0, ge=0, lt=1, description="probability of an idle cycle before each input beat"
    )
    backpressure: float = Field(
        default=0.0, ge=0, lt=1, description="fraction of cycles the consumer holds tready low"
    )
    kernel: Literal["auto", "mac", "da4ml"] = "auto"  # rtl: the generator's kernel form
    rtl_dir: Path | None = (
        None  # rtl: simulate this folder's Verilog (`fluorogate rtl`, maybe edited) instead
    )
    localize: bool = True  # on a mismatch, re-run with every stage's output tapped to find the first stage
    seed: int = 0


class Mismatch(BaseModel):
    """One differing output pixel: where (movie frame, line, column, channel) and the two values."""

    frame: int
    line: int
    column: int
    channel: int
    got: int
    want: int


class StageCheck(BaseModel):
    """One stage's output stream, tapped in the RTL, against the streaming reference's tensor."""

    stage: str  # the generated module (e.g. n_Conv_1), or 'camera conversion' for the input codes
    nodes: list[str]  # the IR nodes it computes
    tensor: str  # the IR tensor it outputs
    values: int  # channels x lines x columns of the tensor
    mismatches: int
    first: Mismatch | None = None
    note: str = ""  # e.g. beats missing from the stage's output


class Localization(BaseModel):
    """Node-wise verification of one frame: every stage's output against the reference, in order."""

    frame: int
    first_stage: str | None  # the first stage (in pipeline order) whose output differs; None: all match
    stages: list[StageCheck]
    note: str = ""


class FrameResult(BaseModel):
    """One frame's outcome (the per-frame table of the report)."""

    frame: int
    pixels: int
    mismatches: int
    flag_errors: int = 0
    end_cycle: int | None = None  # cycle of the frame's last output beat (rtl)
    first: Mismatch | None = None


class CosimReport(BaseModel):
    """What `run_cosim` measured; `ok` is True only when every pixel, flag and count is right."""

    model: str
    backend: str
    simulator: str | None = None
    source: str = ""  # the movie (or what the frames came from)
    frames: list[int]  # movie frame numbers streamed (C consecutive ones per output for a C-frame input)
    outputs: int = 0  # output frames compared
    frame_shape: list[int]  # input (C, H, W)
    out_shape: list[int] = Field(default_factory=list)  # output (C, H, W)
    lanes: int = 1
    gaps: float = 0.0
    backpressure: float = 0.0
    pixels_compared: int = 0
    mismatches: int = 0
    mismatching_frames: list[int] = Field(default_factory=list)
    first_mismatch: Mismatch | None = None
    localization: Localization | None = None
    per_frame: list[FrameResult] = Field(default_factory=list)
    # error flags: the design's sticky flags, tuser/tlast, undefined beats, a deadlock, missing beats
    err_line_length: int = 0
    err_missing_sof: int = 0
    flag_errors: int = 0
    x_beats: int = 0
    first_x_beat: tuple[int, int] | None = None  # (output beat, cycle) of the first undefined beat
    stalled: bool = False
    frames_in: int | None = None
    frames_out: int | None = None
    out_beats: int | None = None
    out_beats_expected: int | None = None
    # timing (rtl): cycles from the first accepted input beat; latency first pixel in -> first pixel out
    cycles: int | None = None
    cycles_per_frame: float | None = None
    latency_cycles: int | None = None
    pixels_per_clock: float | None = None  # input pixels per clock, steady state
    latency_cycles_model: int | None = None  # design.json latency_cycles_estimate
    # speed
    build_s: float = 0.0
    build_reused: bool = False
    sim_s: float = 0.0  # the simulator's (or the C-sim's) wall time
    sim_cpu_s: float | None = None  # and its CPU time: what a loaded machine does not distort
    sim_cycles_per_s: float | None = None
    sim_pixels_per_s: float | None = None
    load_avg: list[float] = Field(default_factory=list)  # 1-minute load at the start and at the end
    work: str = ""  # where the simulation's files are
    _maps: dict = PrivateAttr(default_factory=dict)  # mismatch map and first difference image, for the PNG

    @property
    def errors(self) -> list[str]:
        """Every failed check, one phrase each (empty when bit-exact and clean)."""
        out = []
        if self.mismatches:
            out.append(f"{self.mismatches} of {self.pixels_compared} pixels differ")
        for name in ("err_line_length", "err_missing_sof", "flag_errors", "x_beats"):
            if getattr(self, name):
                out.append(f"{name} {getattr(self, name)}")
        if self.stalled:
            out.append("deadlock: no beat moved in or out")
        if self.out_beats is not None and self.out_beats != self.out_beats_expected:
            out.append(f"{self.out_beats} of {self.out_beats_expected} output beats")
        if self.frames_out is not None and self.frames_out != self.outputs:
            out.append(f"frames_out {self.frames_out} of {self.outputs}")
        return out

    @property
    def ok(self) -> bool:
        return not self.errors
