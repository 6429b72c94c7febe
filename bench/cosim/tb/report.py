"""What the cocotb Python-driven bench does after the run: compare every output pixel, check tuser/tlast,
report. The checks are `fluorogate.bench.cosim.check`, which the HDL frame player's runs use too, so
both benches check exactly the same things: every output pixel of every checked frame against the
expected frames, tuser on the first beat of each frame and tlast on the last beat of each line, and the
number of output beats. The JSON it writes (FG_TB_RESULT) becomes
`fluorogate.bench.cosim.cocotb_run.StreamResult`.
"""

from __future__ import annotations

import json
import os

import numpy as np

from fluorogate.bench.cosim.check import beats_to_frame, flag_errors, frame_mismatches
from fluorogate.sim.stream import unpack_tdata


def check_and_report(
    spec,
    words: list[int],
    flags: list[tuple[int, int]],
    in_cycles: list[int],
    out_cycles: list[int],
    cycles: int,
    status: dict[str, int],
) -> None:
    """Write the result JSON, then assert: every beat came, every pixel and every flag is right.

    `spec` is the loaded FG_TB_SPEC .npz; `words`/`flags`/`out_cycles` one entry per output beat,
    `in_cycles` one per accepted input beat; `status` the design's error flags and frame counters.
    """
    lanes = int(spec["out_lanes"])  # output pixels per beat
    expected, check = spec["expected"], spec["check"]  # (F, C, H, W), (F,) bool
    out_bits, out_signed = int(spec["out_bits"]), bool(spec["out_signed"])
    n_frames, channels, height, width = expected.shape
    n_out = n_frames * height * width // lanes  # output beats
    got = (
        unpack_tdata(words, lanes * channels, out_bits, out_signed).reshape(-1, channels)
        if words
        else np.zeros((0, channels), np.int64)
    )  # one row per pixel, raster order
    result = {
        "cycles": cycles,
        "out_beats": len(words),
        "in_cycles": in_cycles,
        "out_cycles": out_cycles,
        **status,
        "mismatches": [],
        "flag_errors": 0,
    }
    px = height * width
    for f in range(min(n_frames, len(got) // px)):
        if check[f]:
            frame = beats_to_frame(got[f * px : (f + 1) * px], channels, height, width)
            result["mismatches"] += frame_mismatches(f, frame, expected[f])
    flags = np.asarray(flags, int).reshape(-1, 2)
    result["flag_errors"] = flag_errors(flags[:, 0], flags[:, 1], px // lanes, width // lanes)
    with open(os.environ["FG_TB_RESULT"], "w") as fh:
        json.dump(result, fh)
    assert len(words) == n_out, f"{len(words)} of {n_out} output beats after {cycles} cycles"
    assert not result["mismatches"], f"output differs from the reference: {result['mismatches'][:3]}"
    assert result["flag_errors"] == 0, f"{result['flag_errors']} wrong tuser/tlast flags"


def read_status(dut) -> dict[str, int]:
    """The design's sticky error flags and frame counters (ports of the same names on `dut`)."""
    return {
        name: int(getattr(dut, name).value)
        for name in ("err_line_length", "err_missing_sof", "frames_in", "frames_out")
    }
