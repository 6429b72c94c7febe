"""cocotb bench of a generated design with the peak finder (`RtlConfig(peaks=...)`): camera frames in
(tuser/tlast, random valid gaps), localization words out (random backpressure), checked against the
integer reference's output codes through `quantize.peaks.compare_stream`; tuser on each frame's first
word, `frames_out`, and no record dropped (`loc_dropped` == 0). Writes the cycles it measured to
`LOCS_OUT` (json): per frame, its last input beat and its end word."""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from fluorogate.quantize.peaks import PeakConfig, compare_stream
from fluorogate.sim.tb.handshake import exchange, start


@cocotb.test()
async def localizations_match_the_reference(dut):
    data = np.load(os.environ["LOCS_NPZ"])
    adu, maps = data["adu"], data["maps"]
    cfg = PeakConfig.model_validate_json(str(data["config"]))
    p_valid, p_ready = float(data["p_valid"]), float(data["p_ready"])
    n, h, w = adu.shape
    beats = [(int(f[y, x]), x == 0 and y == 0, x == w - 1) for f in adu for y in range(h) for x in range(w)]
    rng = np.random.default_rng(0)

    dut.clear_errors.value = 0
    await start(dut)
    traffic = await exchange(dut, beats, ("tdata", "tuser", "tlast"), ("tdata", "tlast", "tuser"), p_valid, p_ready,
                             rng, int(4 * len(beats) / (p_valid * p_ready)) + 2000,
                             lambda t, _: sum(r[1] for r in t.received) == n)
    for _ in range(3):
        await RisingEdge(dut.clk)
    words, last, user = ([r[k] for r in traffic.received] for k in range(3))
    assert compare_stream(words, [bool(x) for x in last], maps, cfg) == 0
    assert int(dut.loc_dropped.value) == 0 and not dut.loc_overflow.value
    firsts = [0] + [k + 1 for k, x in enumerate(last[:-1]) if x]
    assert [k for k, u in enumerate(user) if u] == firsts, "tuser is not on each frame's first word"
    assert int(dut.frames_out.value) == n and int(dut.frames_in.value) == n
    assert not dut.err_line_length.value and not dut.err_missing_sof.value
    ends = [c for c, x in zip(traffic.received_at, last, strict=True) if x]
    in_last = traffic.sent_at[h * w - 1::h * w]
    with open(os.environ["LOCS_OUT"], "w") as fh:
        json.dump({"in_last": in_last, "end_word": ends, "words": len(words), "cycles": traffic.cycles}, fh)
