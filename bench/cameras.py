"""Which cameras a streaming design keeps up with: pixel rates against clock rate, lanes and pixels per clock.

Each task names the camera modes it is used with (`TaskSpec.cameras`, names of `CAMERAS` entries): the
denoiser the full-frame sCMOS modes, sr2x and sim3 an sCMOS sub-array, smlm an EMCCD. Where the numbers
come from and how sure they are: docs/tasks.md, "Cameras per task".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fluorogate.errors import UserError


@dataclass(frozen=True)
class CameraTarget:
    """A camera mode's frame and frame rate: what the data path must accept, sustained."""

    name: str
    width: int
    height: int
    fps: float

    @property
    def pixel_rate(self) -> float:
        return self.width * self.height * self.fps

    @property
    def frame(self) -> str:
        return f"{self.width}x{self.height}"


# The full-frame targets: scientific sCMOS at full frame and full rate (the denoiser's cameras).
CAMERA_TARGETS = (
    CameraTarget("ORCA-Flash4.0 V3 (2048x2048 @ 100 fps)", 2048, 2048, 100.0),
    CameraTarget("CoaXPress sCMOS (2048x2048 @ 74 fps)", 2048, 2048, 74.0),
    CameraTarget("large sCMOS (4128x4104 @ 54 fps)", 4128, 4104, 54.0),
)
# Sub-arrays and slower sensors. sCMOS rows are read at a fixed line time, so a sub-array's frame rate
# follows its height (ORCA-Flash4.0 V3, Camera Link, standard scan: 256 lines 801 fps, 512 lines 400 fps)
# and a narrow ROI's pixel rate is its width per line time. EMCCD: Andor iXon Ultra 897, full frame at 17 MHz.
SUBARRAY_TARGETS = (
    CameraTarget("ORCA-Flash4.0 V3 sub-array (256x256 @ 801 fps)", 256, 256, 801.0),
    CameraTarget("ORCA-Flash4.0 V3 sub-array (512x512 @ 400 fps)", 512, 512, 400.0),
    CameraTarget("iXon Ultra 897 EMCCD (512x512 @ 56 fps)", 512, 512, 56.0),
)
CAMERAS = {cam.name: cam for cam in (*CAMERA_TARGETS, *SUBARRAY_TARGETS)}


def task_cameras(task: str) -> tuple[CameraTarget, ...]:
    """The camera modes task `task` is used with (its `TaskSpec.cameras`; none named: the full-frame targets)."""
    from fluorogate.models.tasks import get_task

    names = get_task(task).cameras
    unknown = [n for n in names if n not in CAMERAS]
    if unknown:
        raise UserError(f"task {task!r}: camera {unknown[0]!r} is not in bench/cameras.py CAMERAS")
    return tuple(CAMERAS[n] for n in names) or CAMERA_TARGETS


def keep_up(fmax_hz: float, pixels_per_clock: float, max_lanes: int = 4, out_per_in: int = 1,
            cameras: tuple[CameraTarget, ...] = CAMERA_TARGETS, built: tuple[int, int, int] | None = None) -> list[dict]:
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
        row = {"camera": cam.name, "frame": cam.frame, "pixel_rate_mpx_s": round(cam.pixel_rate / 1e6, 1),
               "lanes_needed": lanes, "within_max_lanes": lanes <= max_lanes}
        if out_per_in != 1:
            row |= {"out_pixel_rate_mpx_s": round(out_per_in * cam.pixel_rate / 1e6, 1),
                    "out_lanes": lanes * out_per_in}
        if built is not None:
            row |= _verdict(cam, lanes, *built)
        rows.append(row)
    return rows


def _verdict(cam: CameraTarget, lanes_needed: float, width: int, height: int, lanes: int) -> dict:
    if (cam.width, cam.height) != (width, height):
        return {"keeps_up": False, "verdict": f"not built for {cam.frame} (built {width}x{height}); lanes: arithmetic"}
    if lanes_needed <= lanes:
        return {"keeps_up": True, "verdict": f"yes: the built {lanes} lane(s) carry it"}
    return {"keeps_up": False, "verdict": f"no: needs {lanes_needed} lanes, built {lanes}"}
