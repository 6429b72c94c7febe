"""Which cameras a streaming design keeps up with: pixel rates against clock rate, lanes and pixels per clock.

Each task names the camera modes it is used with (`TaskSpec.cameras`, names of `sim.camera.CAMERA_MODES`): the
denoiser the full-frame sCMOS modes, sr2x and sim3 an sCMOS sub-array, smlm an EMCCD. Where the numbers
come from and how sure they are: docs/tasks.md, "Cameras and hardware per task".
"""

from __future__ import annotations

import math

from fluorogate.errors import UserError
from fluorogate.sim.camera import CAMERA_MODES, FULL_FRAME_MODES, CameraMode


def task_cameras(task: str) -> tuple[CameraMode, ...]:
    """The camera modes task `task` is used with (its `TaskSpec.cameras`; none named: the full-frame
    targets)."""
    from fluorogate.models.tasks import get_task

    names = get_task(task).cameras
    unknown = [n for n in names if n not in CAMERA_MODES]
    if unknown:
        raise UserError(f"task {task!r}: camera {unknown[0]!r} is not in sim/camera.py CAMERA_MODES")
    return tuple(CAMERA_MODES[n] for n in names) or FULL_FRAME_MODES


def keep_up(
    fmax_hz: float,
    pixels_per_clock: float,
    max_lanes: int = 4,
    out_per_in: int = 1,
    cameras: tuple[CameraMode, ...] = FULL_FRAME_MODES,
    built: tuple[int, int, int] | None = None,
) -> list[dict]:
    """For each camera: lanes needed (1, 2, 4, ...) at `fmax_hz`, and whether the built design carries it.

    `pixels_per_clock` is the measured sustained rate of one lane (1.0 ideal; below 1 with line bubbles).
    `within_max_lanes` is arithmetic: `max_lanes` lanes at this Fmax would carry the rate (nobody built
    them). `built` = (width, height, lanes) of the routed design: `keeps_up` is True only when the camera's
    frame is the one that design was generated for and its own lanes carry the rate at its Fmax.
    `out_per_in`: output pixels per input pixel (sr2x: 4). The output runs `out_per_in` times the input's
    lanes at the same clock, so the input lanes decide; the output rate and lanes are listed beside them
    (what the consumer of the output stream must take).
    """
    per_lane = fmax_hz * pixels_per_clock
    rows = []
    for cam in cameras:
        needed = cam.pixel_rate / per_lane if per_lane > 0 else math.inf
        lanes = 1 << max(0, math.ceil(math.log2(needed))) if needed != math.inf else math.inf
        row = {
            "camera": cam.name,
            "frame": cam.frame,
            "pixel_rate_mpx_s": round(cam.pixel_rate / 1e6, 1),
            "lanes_needed": lanes,
            "within_max_lanes": lanes <= max_lanes,
        }
        if out_per_in != 1:
            row |= {
                "out_pixel_rate_mpx_s": round(out_per_in * cam.pixel_rate / 1e6, 1),
                "out_lanes": lanes * out_per_in,
            }
        if built is not None:
            row |= _verdict(cam, lanes, *built)
        rows.append(row)
    return rows


def _verdict(cam: CameraMode, lanes_needed: float, width: int, height: int, lanes: int) -> dict:
    if (cam.width, cam.height) != (width, height):
        return {
            "keeps_up": False,
            "verdict": f"not built for {cam.frame} (built {width}x{height}); lanes: arithmetic",
        }
    if lanes_needed <= lanes:
        return {"keeps_up": True, "verdict": f"yes: the built {lanes} lane(s) carry it"}
    return {"keeps_up": False, "verdict": f"no: needs {lanes_needed} lanes, built {lanes}"}
