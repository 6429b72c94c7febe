"""The checks every stream bench runs on what came out: pixels against the reference, tuser/tlast framing.

One place for both benches (the cocotb Python-driven `tb/stream_tb.py` through `tb/report.py`, and the
HDL frame player through `cocotb_run` and `rtl`), so they cannot check different things.
"""

from __future__ import annotations

import numpy as np

MAX_LISTED = 10  # mismatching pixels listed per frame (all are counted)


def beats_to_frame(pixels: np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
    """(H*W, C) output pixels in raster order (output lanes already split) -> (C, H, W)."""
    return pixels.reshape(height, width, channels).transpose(2, 0, 1)


def frame_mismatches(frame: int, got: np.ndarray, want: np.ndarray, limit: int = MAX_LISTED) -> list[dict]:
    """The first `limit` differing pixels of one (C, H, W) frame, in raster order (line, column, channel)."""
    bad = np.argwhere(got.transpose(1, 2, 0) != want.transpose(1, 2, 0))[:limit]
    return [
        {
            "frame": frame,
            "c": int(c),
            "y": int(y),
            "x": int(x),
            "got": int(got[c, y, x]),
            "want": int(want[c, y, x]),
        }
        for y, x, c in bad
    ]


def flag_errors(
    user: np.ndarray, last: np.ndarray, frame_beats: int, line_beats: int, first_beat: int = 0
) -> int:
    """Output beats whose tuser (first beat of a frame) or tlast (last beat of a line) is wrong; beat k of
    `user`/`last` is beat `first_beat + k` of the stream."""
    k = np.arange(first_beat, first_beat + len(user))
    want_user, want_last = k % frame_beats == 0, k % line_beats == line_beats - 1
    return int(
        np.count_nonzero(np.asarray(user, bool) != want_user)
        + np.count_nonzero(np.asarray(last, bool) != want_last)
    )
