"""Which cameras a streaming design keeps up with: pixel rates against clock rate, lanes and pixels per clock."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CameraTarget:
    """A camera's full-frame pixel rate: what the data path must accept, sustained."""

    name: str
    width: int
    height: int
    fps: float

    @property
    def pixel_rate(self) -> float:
        return self.width * self.height * self.fps


# The cameras quoted in the benchmark: scientific sCMOS at full frame and full rate.
CAMERA_TARGETS = (
    CameraTarget("ORCA-Flash4.0 V3 (2048x2048 @ 100 fps)", 2048, 2048, 100.0),
    CameraTarget("CoaXPress sCMOS (2048x2048 @ 74 fps)", 2048, 2048, 74.0),
    CameraTarget("large sCMOS (4128x4104 @ 54 fps)", 4128, 4104, 54.0),
)


def keep_up(fmax_hz: float, pixels_per_clock: float, max_lanes: int = 4, out_per_in: int = 1) -> list[dict]:
    """For each camera target: lanes needed (1, 2, 4, ...) at `fmax_hz`, and whether `max_lanes` suffice.

    `pixels_per_clock` is the measured sustained rate of one lane (1.0 ideal; below 1 with line bubbles).
    `out_per_in`: output pixels per input pixel (sr2x: 4). The output runs `out_per_in` times the input's
    lanes at the same clock, so the input lanes decide; the output rate and lanes are listed beside them
    (what the consumer of the output stream must take).
    """
    per_lane = fmax_hz * pixels_per_clock
    rows = []
    for cam in CAMERA_TARGETS:
        needed = cam.pixel_rate / per_lane if per_lane > 0 else math.inf
        lanes = 1 << max(0, math.ceil(math.log2(needed))) if needed != math.inf else math.inf
        rows.append({
            "camera": cam.name,
            "pixel_rate_mpx_s": round(cam.pixel_rate / 1e6, 1),
            "lanes_needed": lanes,
            "keeps_up": lanes <= max_lanes,
        })
        if out_per_in != 1:
            rows[-1] |= {"out_pixel_rate_mpx_s": round(out_per_in * cam.pixel_rate / 1e6, 1),
                         "out_lanes": lanes * out_per_in}
    return rows
