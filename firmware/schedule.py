"""Beat-time model of a generated design without stalls: when each beat of each tensor leaves its FIFO.

Why a model and not a sum of stage latencies: after a lanes upsample (`fg_upsample2_lanes`) the stream
is no longer one beat per clock from its first beat on. The first even output line can only follow its
input (one pair of input beats per output beat: every second clock), the odd line replays at one beat
per clock, so the first output of a 3x3 stage after it (which needs one output line + 1 beat of
look-ahead) is a line later than a sum of latencies says. The rules, per stage and output beat m:

  t_out[m] = max(t_in[dep(m)] + delay, t_out[m-1] + 1)      (in order, at most one beat per clock)

with dep(m) = m for element-wise and join stages (the latest input), m + WB + 1 for a 3x3 stage (its
look-ahead), and for the upsample the second input beat of the pair that output beat m shows. `delay`
is the generator's own per-stage cycle count (`here`, the look-ahead taken out), +1 for the upsample's
pair write. Without rate changes it reduces to the old sum exactly. The recurrence is a running maximum
(`t - m` is non-decreasing), so it is evaluated vectorised over the first rows only: the first output
beat never depends on more than a few lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BeatStep:
    """One stage as the model sees it; `here` as in the generator (3x3: look-ahead WB + 1 included)."""

    output: str
    inputs: list[str]
    kind: str  # conv3, conv1, join, pointwise, upsample2 (lanes: N in, 4N out)
    here: int
    wb: int  # input beats per line


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
        ins = [t[i] for i in s.inputs]
        if s.kind == "conv3":
            dep = m + s.wb + 1
            delay = s.here - s.wb - 1
        elif s.kind == "upsample2":  # output beat m: input line m // wb, pair (m % (wb/2)) -> its second beat
            p = s.wb // 2
            dep = (m // s.wb) * s.wb + 2 * (m % p) + 1
            delay = s.here + 1
        else:
            dep, delay = m, s.here
        src = np.maximum.reduce(ins)
        earliest = np.where(dep < beats, src[np.minimum(dep, beats - 1)], np.inf) + delay
        t[s.output] = _in_order(earliest)
    first_beat = t[output][0]
    return None if not np.isfinite(first_beat) else int(first_beat)
