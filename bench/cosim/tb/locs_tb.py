"""cocotb bench of a generated design with the peak finder (`RtlConfig(peaks=...)`), run by
`fluorogate.bench.cosim.cocotb_run.run_locs_test`: camera frames in (one lane, tuser/tlast, random valid
gaps), localization words out (random backpressure), checked against the integer reference's output codes
through `quantize.peaks.compare_stream`; tuser on each frame's first word, the frame counters, the
front end's error flags and `loc_dropped` == 0 (the sink here keeps up on average). Writes
StreamResult's fields to FG_TB_RESULT (a failed check as a `mismatches` entry), then fails the test."""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from fluorogate.bench.cosim.tb.handshake import exchange, start
from fluorogate.quantize.peaks import PeakConfig, compare_stream


def _checks(
    dut, words: list[int], last: list[bool], user: list[int], maps: np.ndarray, cfg: PeakConfig
) -> list[str]:
    problems = []
    try:
        compare_stream(words, last, maps, cfg)
    except AssertionError as exc:
        problems.append(str(exc))
    if int(dut.loc_dropped.value) or dut.loc_overflow.value:
        problems.append(f"{int(dut.loc_dropped.value)} records dropped")
    firsts = [0] + [k + 1 for k, x in enumerate(last[:-1]) if x]
    if [k for k, u in enumerate(user) if u] != firsts:
        problems.append("tuser is not on each frame's first word")
    if (int(dut.frames_out.value), int(dut.frames_in.value)) != (len(maps), len(maps)):
        problems.append(f"frames_in {int(dut.frames_in.value)}, frames_out {int(dut.frames_out.value)}")
    return problems


@cocotb.test()
async def localizations_match_the_reference(dut):
    data = np.load(os.environ["FG_TB_SPEC"])
    adu, maps = data["adu"], data["maps"]
    cfg = PeakConfig.model_validate_json(str(data["config"]))
    p_valid, p_ready = float(data["p_valid"]), float(data["p_ready"])
    n, h, w = adu.shape
    beats = [(int(f[y, x]), x == 0 and y == 0, x == w - 1) for f in adu for y in range(h) for x in range(w)]

    dut.clear_errors.value = 0
    await start(dut)
    traffic = await exchange(
        dut,
        beats,
        ("tdata", "tuser", "tlast"),
        ("tdata", "tlast", "tuser"),
        p_valid,
        p_ready,
        np.random.default_rng(int(data["seed"])),
        int(4 * len(beats) / (p_valid * p_ready)) + 2000,
        lambda t, _: sum(r[1] for r in t.received) == n,
    )
    for _ in range(3):
        await RisingEdge(dut.clk)
    words, last, user = ([r[k] for r in traffic.received] for k in range(3))
    problems = _checks(dut, words, [bool(x) for x in last], user, maps, cfg)
    result = {
        "cycles": traffic.cycles,
        "out_beats": len(words),
        "in_cycles": traffic.sent_at,
        "out_cycles": traffic.received_at,
        "err_line_length": int(dut.err_line_length.value),
        "err_missing_sof": int(dut.err_missing_sof.value),
        "frames_in": int(dut.frames_in.value),
        "frames_out": int(dut.frames_out.value),
        "mismatches": [{"check": p} for p in problems],
        "flag_errors": 0,
    }
    with open(os.environ["FG_TB_RESULT"], "w") as fh:
        json.dump(result, fh)
    assert not problems and not result["err_line_length"] and not result["err_missing_sof"], problems
