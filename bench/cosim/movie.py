"""The user's movie as frames: the one place `fluorogate cosim` reads a TIFF.

Today through `fluorogate.imageio.read_tiff` (the whole stack in memory); when a lazy, validated
`open_movie` lands there, only `read_frames` changes. It takes camera frames as stored: (H, W) or
(T, H, W) integers (singleton axes squeezed away); `--frames A:B` picks movie frames A..B-1.
"""

from __future__ import annotations

import os

import numpy as np

from fluorogate.errors import UserError


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


def read_frames(path: str | os.PathLike, span: str | None = None) -> tuple[np.ndarray, list[int]]:
    """(frames (N, H, W) as stored, their movie frame numbers) of the TIFF/OME-TIFF at `path`."""
    from fluorogate.imageio import read_tiff

    image = read_tiff(path)
    data = np.squeeze(image.data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise UserError(
            f"{path}: expected a (frames, H, W) camera stack, got shape {image.data.shape} "
            "(colour or multi-channel images are not camera frames)"
        )
    if not np.issubdtype(data.dtype, np.integer):
        raise UserError(f"{path}: expected integer camera ADU, got dtype {data.dtype}")
    frames = parse_span(span, len(data))
    return data[frames.start : frames.stop], list(frames)
