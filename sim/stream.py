"""Camera streams: frames to and from the beats of an AXI4-Stream video interface, one entry per clock.

The one stream model every back end is fed from (streaming reference, cocotb testbenches, FINN/hls4ml
harnesses). Per clock cycle: `data` holds `lanes` pixels (lane 0 = leftmost), `valid` says a beat is
offered, `user` (tuser) marks the first valid beat of a frame, `last` (tlast) the last beat of each
line. Idle cycles (valid low) carry data 0 and no flags. Blanking: `line_gap` idle cycles after every
line but a frame's last, `frame_gap` after every frame but the last; with `valid_prob` < 1 each beat
is preceded by a geometric number of extra idle cycles (random valid gaps, seeded).

The producer side is modelled without backpressure: `ready_pattern` generates the consumer's tready
for the testbenches, which stall the producer on `valid & ~ready`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fluorogate.errors import UserError

LANES = (1, 2, 4)


class StreamError(UserError):
    """A malformed stream: the message names the frame, line and beat where it went wrong."""


class StreamConfig(BaseModel):
    """How frames are laid out in time on the stream."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lanes: int = Field(default=1, description="pixels per beat: 1, 2 or 4")
    line_gap: int = Field(default=0, ge=0, description="idle cycles after each line (horizontal blanking)")
    frame_gap: int = Field(default=0, ge=0, description="idle cycles after each frame (vertical blanking)")
    valid_prob: float = Field(default=1.0, gt=0, le=1, description="probability a beat is offered in a cycle")
    seed: int = 0

    def model_post_init(self, _context) -> None:
        if self.lanes not in LANES:
            raise UserError(f"stream lanes must be one of {LANES}, got {self.lanes}")


@dataclass
class BeatStream:
    """Equal-length per-cycle arrays: data (N, lanes) int64, valid/user/last (N,) bool."""

    data: np.ndarray
    valid: np.ndarray
    user: np.ndarray
    last: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.valid)
        if self.data.ndim != 2 or len(self.data) != n or len(self.user) != n or len(self.last) != n:
            raise StreamError(
                f"stream arrays disagree: data {self.data.shape}, valid {len(self.valid)}, "
                f"user {len(self.user)}, last {len(self.last)} (want data (N, lanes) and N each)"
            )

    @property
    def lanes(self) -> int:
        return self.data.shape[1]

    def __len__(self) -> int:
        return len(self.valid)

    def beats(self) -> BeatStream:
        """Only the valid cycles (the transfers), in order."""
        v = self.valid
        return BeatStream(self.data[v], self.valid[v], self.user[v], self.last[v])


def frames_to_beats(frames: Sequence[np.ndarray], cfg: StreamConfig | None = None) -> BeatStream:
    """Lay out 2D integer frames (all the same shape) as a cycle-accurate beat stream."""
    cfg = cfg or StreamConfig()
    if len(frames) == 0:
        raise UserError("frames_to_beats needs at least one frame")
    shapes = {np.shape(f) for f in frames}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise UserError(f"frames must be 2D and all the same shape, got shapes {sorted(shapes)}")
    stack = np.stack([np.asarray(f) for f in frames])
    if not np.issubdtype(stack.dtype, np.integer):
        raise UserError(f"frames must hold integers (camera ADU or codes), got dtype {stack.dtype}")
    _, height, width = stack.shape
    if width % cfg.lanes:
        raise UserError(f"frame width {width} is not a multiple of {cfg.lanes} lanes")
    per_line = width // cfg.lanes
    data = stack.astype(np.int64).reshape(-1, cfg.lanes)
    n_beats = len(data)
    beat = np.arange(n_beats)
    in_line = beat % per_line
    line = beat // per_line  # global line index
    # idle cycles before each beat: blanking after the previous line/frame, then random valid gaps
    gap = np.zeros(n_beats, dtype=np.int64)
    line_start = (in_line == 0) & (beat > 0)
    frame_start = line_start & (line % height == 0)
    gap[line_start & ~frame_start] = cfg.line_gap
    gap[frame_start] = cfg.frame_gap
    if cfg.valid_prob < 1:
        gap += np.random.default_rng(cfg.seed).geometric(cfg.valid_prob, n_beats) - 1
    cycle = np.cumsum(gap + 1) - 1
    n_cycles = int(cycle[-1]) + 1
    out = BeatStream(
        np.zeros((n_cycles, cfg.lanes), np.int64),
        np.zeros(n_cycles, bool),
        np.zeros(n_cycles, bool),
        np.zeros(n_cycles, bool),
    )
    out.data[cycle] = data
    out.valid[cycle] = True
    out.user[cycle] = (in_line == 0) & (line % height == 0)
    out.last[cycle] = in_line == per_line - 1
    return out


def beats_to_frames(stream: BeatStream, width: int, height: int, lanes: int) -> list[np.ndarray]:
    """Reassemble frames (height, width) int64 from a stream; StreamError at the first malformed beat.

    Checks tuser on exactly the first beat of every frame and tlast on exactly the last beat of every
    line, and that the stream ends on a frame boundary.
    """
    if stream.lanes != lanes:
        raise StreamError(f"stream carries {stream.lanes} pixels per beat, expected {lanes} lanes")
    if width % lanes:
        raise StreamError(f"frame width {width} is not a multiple of {lanes} lanes")
    per_line = width // lanes
    per_frame = per_line * height
    cycles = np.flatnonzero(stream.valid)
    user, last = stream.user[cycles], stream.last[cycles]
    idx = np.arange(cycles.size)
    want_user = idx % per_frame == 0
    want_last = idx % per_line == per_line - 1
    bad = np.flatnonzero((user != want_user) | (last != want_last))
    if bad.size:
        i = int(bad[0])
        frame, line, beat = i // per_frame, (i % per_frame) // per_line, i % per_line
        where = f"frame {frame}, line {line}, beat {beat} (cycle {int(cycles[i])})"
        if user[i] and not want_user[i]:
            problem = "start of frame (tuser) inside a frame: the frame before it was cut short"
        elif want_user[i] and not user[i]:
            problem = "missing start of frame (tuser) on a frame's first beat"
        elif last[i] and not want_last[i]:
            problem = f"short line: end of line (tlast) after {beat + 1} beats, expected {per_line}"
        else:
            problem = f"long line: no end of line (tlast) on beat {beat}, the line's last of {per_line}"
        raise StreamError(f"malformed stream at {where}: {problem}")
    if cycles.size % per_frame:
        i = cycles.size
        frame, line, beat = i // per_frame, (i % per_frame) // per_line, i % per_line
        raise StreamError(
            f"malformed stream at frame {frame}, line {line}, beat {beat}: the stream ended "
            f"there, frame cut short ({cycles.size % per_frame} of {per_frame} beats)"
        )
    pixels = stream.data[cycles].reshape(-1, height, width)
    return list(pixels)


def ready_pattern(
    n_cycles: int, ready_prob: float, seed: int = 0, mean_stall: float | None = None
) -> np.ndarray:
    """Consumer-side tready per cycle, seeded; True a fraction `ready_prob` of cycles (1.0 = never stalls).

    By default each cycle is independent. With `mean_stall` (cycles, >= 1) stalls come in bursts: a
    two-state Markov chain that leaves a stall with probability 1/mean_stall and enters one with
    probability (1 - ready_prob) / (ready_prob * mean_stall), so the long-run ready fraction is the same.
    Long bursts are what fill a design's FIFOs.
    """
    if not 0 < ready_prob <= 1:
        raise UserError(f"ready_prob must be in (0, 1], got {ready_prob}")
    if ready_prob == 1:
        return np.ones(n_cycles, dtype=bool)
    rng = np.random.default_rng(seed)
    if mean_stall is None:
        return rng.random(n_cycles) < ready_prob
    leave = 1 / mean_stall
    enter = leave * (1 - ready_prob) / ready_prob
    if mean_stall < 1 or enter > 1:
        raise UserError(f"mean_stall {mean_stall} is impossible with ready_prob {ready_prob}")
    u = rng.random(n_cycles)
    ready = np.empty(n_cycles, dtype=bool)
    state = bool(rng.random() < ready_prob)
    for i in range(n_cycles):
        ready[i] = state
        state = u[i] >= enter if state else u[i] < leave
    return ready


def pack_tdata(stream: BeatStream, pixel_bits: int, signed: bool = False) -> list[int]:
    """tdata words per cycle, lane i in bits [i*pixel_bits, (i+1)*pixel_bits) (two's complement if signed).

    `pixel_bits` comes from the camera preset (`adu_bits`) for raw camera streams. Python ints, so any
    lanes x bits width works; values outside the pixel range are a StreamError.
    """
    lo, hi = (-(2 ** (pixel_bits - 1)), 2 ** (pixel_bits - 1) - 1) if signed else (0, 2**pixel_bits - 1)
    if stream.data.size and (stream.data.min() < lo or stream.data.max() > hi):
        raise StreamError(
            f"pixel values {stream.data.min()}..{stream.data.max()} do not fit "
            f"{pixel_bits}-bit {'signed' if signed else 'unsigned'} lanes"
        )
    mask = (1 << pixel_bits) - 1
    return [sum((int(v) & mask) << (i * pixel_bits) for i, v in enumerate(row)) for row in stream.data]


def unpack_tdata(words: Sequence[int], lanes: int, pixel_bits: int, signed: bool = False) -> np.ndarray:
    """Inverse of `pack_tdata`: tdata words to (N, lanes) int64 pixels (sign-extended if `signed`)."""
    mask = (1 << pixel_bits) - 1
    out = np.array(
        [[(int(w) >> (i * pixel_bits)) & mask for i in range(lanes)] for w in words], dtype=np.int64
    ).reshape(-1, lanes)
    if signed:
        out = np.where(out >= 1 << (pixel_bits - 1), out - (1 << pixel_bits), out)
    return out


def pack_channels(stack: np.ndarray, bits: int) -> np.ndarray:
    """A (C, H, W) multi-frame pixel stack (e.g. sim3's 3 SIM frames) -> (H, W) int64 pixel words with
    channel c in bits [c*bits, (c+1)*bits): the layout of one pixel on s_axis for a C-channel input, so
    `frames_to_beats` streams it like any frame. Needs C * bits <= 63 (int64)."""
    stack = np.asarray(stack)
    if stack.ndim != 3 or not np.issubdtype(stack.dtype, np.integer):
        raise UserError(f"pack_channels wants a (C, H, W) integer stack, got {stack.dtype} {stack.shape}")
    if stack.shape[0] * bits > 63:
        raise UserError(f"{stack.shape[0]} channels x {bits} bits do not fit one 64-bit pixel word")
    if stack.size and (stack.min() < 0 or stack.max() >= 1 << bits):
        raise StreamError(
            f"pixel values {stack.min()}..{stack.max()} do not fit {bits}-bit unsigned channels"
        )
    return sum(stack[c].astype(np.int64) << (c * bits) for c in range(stack.shape[0]))
