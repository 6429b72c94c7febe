"""The user's movie as frames: the one place `fluorogate cosim` reads a TIFF.

Camera frames as stored, (H, W) or (T, H, W) integers, checked and read lazily by
`fluorogate.imageio.open_movie`; `--frames A:B` picks movie frames A..B-1.
"""

from __future__ import annotations

import os

from fluorogate.errors import UserError
from fluorogate.imageio import FrameSpan, open_movie


def parse_span(text: str | None, n_frames: int) -> range:
    """'A:B' (movie frames A..B-1, from 0; either side may be left out) or 'A' (one frame) -> a range
    inside the movie's `n_frames`."""
    if not text:
        return range(n_frames)
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            span = range(int(a) if a.strip() else 0, int(b) if b.strip() else n_frames)
        else:
            span = range(int(text), int(text) + 1)
    except ValueError:
        raise UserError(
            f"--frames {text!r}: expected A:B (frames A to B-1, from 0) or one frame number"
        ) from None
    if not len(span) or span.start < 0 or span.stop > n_frames:
        raise UserError(f"--frames {text}: the movie has frames 0..{n_frames - 1}")
    return span


def read_frames(path: str | os.PathLike, span: str | None = None) -> tuple[FrameSpan, list[int]]:
    """(frames (N, H, W) as stored, read from disk as they are used; their movie frame numbers) of the
    TIFF/OME-TIFF at `path`, checked where it enters (`fluorogate.imageio.open_movie`: grey integer camera
    frames, one sequence axis; one line for anything else)."""
    movie = open_movie(path, "ui")
    frames = parse_span(span, movie.frames)
    return FrameSpan(movie, frames.start, frames.stop), list(frames)
