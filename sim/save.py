"""Writing a simulated movie: the OME-TIFF (uint16 ADU, pixel size), optional truth, and a PNG preview."""

from __future__ import annotations

import os
from pathlib import Path

from fluorogate.errors import UserError
from fluorogate.imageio import write_tiff
from fluorogate.outputs import check_writable
from fluorogate.sim.camera import camera_metadata
from fluorogate.sim.pairs import SimFrames
from fluorogate.sim.preview import preview_path, save_preview


def truth_path(tiff_path: str | os.PathLike) -> Path:
    """`movie.ome.tif` -> `movie.truth.ome.tif`, beside it."""
    path = Path(tiff_path)
    return preview_path(path).with_suffix(".truth.ome.tif")


def write_movie(
    movie: SimFrames, out: str | os.PathLike, title: str, force: bool = False, truth: bool = False
) -> list[Path]:
    """Write `movie` to `out` (OME-TIFF if named so; with its camera's offset, gain and read noise as
    metadata), its preview PNG and, if asked, the noise-free truth (float32 expected ADU). All targets
    are checked before anything is written: no partial set."""
    if not str(out).lower().endswith((".tif", ".tiff")):
        raise UserError(f"{out}: the movie is written as TIFF; name it *.ome.tif (with metadata) or *.tif")
    targets = [Path(out), preview_path(out)] + ([truth_path(out)] if truth else [])
    for target in targets:
        check_writable(target, force)
    pixel_um = movie.pixel_nm / 1000
    write_tiff(targets[0], movie.adu, pixel_um, force=force, metadata=camera_metadata(movie.preset))
    save_preview(
        targets[1],
        [("frame 0 (camera ADU)", movie.adu[0]), ("noise-free expected ADU", movie.expected_adu[0])],
        movie.pixel_nm,
        title,
        force,
    )
    if truth:
        write_tiff(targets[2], movie.expected_adu[:1].copy(), pixel_um, force=force)
    return targets
