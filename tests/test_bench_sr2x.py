"""Bench pieces for a rate-changing design (sr2x: 4 output pixels per input pixel)."""

from __future__ import annotations

from fluorogate.bench.keep_up import FULL_FRAME_MODES, keep_up


def test_keep_up_lists_the_output_rate_and_lanes():
    rows = keep_up(fmax_hz=62.5e6, pixels_per_clock=1.0, out_per_in=4)
    cam = FULL_FRAME_MODES[0]
    assert (
        rows[0]["lanes_needed"] == 8 and not rows[0]["within_max_lanes"]
    )  # 419 Mpx/s in at 62.5 Mpx/s per lane
    assert rows[0]["out_pixel_rate_mpx_s"] == round(4 * cam.pixel_rate / 1e6, 1)
    assert [r["out_lanes"] for r in rows] == [4 * r["lanes_needed"] for r in rows]
    assert "out_lanes" not in keep_up(62.5e6, 1.0)[0]  # a 1:1 design's report is unchanged
