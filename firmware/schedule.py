"""Beat-time model of a generated design without stalls: when each beat of each tensor leaves its FIFO.

Why a model and not a sum of stage latencies: after a lanes upsample (`fg_upsample2_lanes`) the stream
is no longer one beat per clock from its first beat on. The first even output line can only follow its
input (one pair of input beats per output beat: every second clock), the odd line replays at one beat
per clock, so the first output of a 3x3 stage after it (which needs one output line + 1 beat of
look-ahead) is a line later than a sum of latencies says. The rules, per stage and output beat m:

  t_out[m] = max(t_in[dep(m)] + delay, t_out[m-1] + 1)      (in order, at most one beat per clock)

with dep(m) and delay given by each stage type (`StageBuilder.beat_step`, firmware/stages/): dep(m) = m
for element-wise and join stages (the latest input), m + look-ahead for a k x k window (k//2 lines and
k//2 pixels' beats: WB + 1 for 3x3), and for the upsample the second input beat of the pair that output
beat m shows. `delay` is the generator's own per-stage cycle count, the look-ahead taken out, +1 for
the upsample's pair write. Without rate changes it reduces to a sum of stage latencies exactly. The
recurrence is a running maximum (`t - m` is non-decreasing), so it is evaluated vectorised over the
first rows only: the first output beat never depends on more than a few lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BeatStep:
    """One stage as the model sees it: output beat m waits for input beat `dep(m)`, then `delay` cycles."""

    output: str
    inputs: list[str]
    dep: Callable[[np.ndarray], np.ndarray]
    delay: int


def _in_order(earliest: np.ndarray) -> np.ndarray:
    """t[m] = max(earliest[m], t[m-1] + 1)."""
    m = np.arange(earliest.size)
    return np.maximum.accumulate(earliest - m) + m


def first_out_cycle(steps: list[BeatStep], source: str, first: int, beats: int, output: str) -> int | None:
    """Cycle of `output`'s first beat when `source`'s beat m is there at cycle `first + m` (continuous input).

    `beats`: how many beats of each tensor to model (a few lines; beats are 1:1 across the upsample).
    None when the first output depends on more than that (e.g. on the end-of-frame flush).
    """
    t = {source: first + np.arange(beats, dtype=np.float64)}
    m = np.arange(beats)
    for s in steps:
        src = np.maximum.reduce([t[i] for i in s.inputs])
        dep = s.dep(m)
        earliest = np.where(dep < beats, src[np.minimum(dep, beats - 1)], np.inf) + s.delay
        t[s.output] = _in_order(earliest)
    first_beat = t[output][0]
    return None if not np.isfinite(first_beat) else int(first_beat)
