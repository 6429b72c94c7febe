"""cocotb bench for the SMLM peak finder: density-map codes in (`PEAKS_LANES` per beat, random valid
gaps), localization words out (random backpressure), checked against `quantize.peaks` by
`compare_stream`: every frame end exact with TLAST, records the reference's in order; records missing
only as many as `loc_dropped` counts (and none where `PEAKS_DROPS` is 0)."""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from fluorogate.bench.cosim.tb.handshake import exchange, start
from fluorogate.quantize.peaks import PeakConfig, compare_stream


@cocotb.test()
async def peaks_match_the_reference(dut):
    data = np.load(os.environ["PEAKS_NPZ"])
    frames, cfg = data["frames"], PeakConfig.model_validate_json(str(data["config"]))
    lanes, bits = int(os.environ["PEAKS_LANES"]), 8
    px = frames.reshape(-1, lanes).astype(object)
    beats = [(int(sum(p << (bits * k) for k, p in enumerate(row))),) for row in px]
    rng = np.random.default_rng(int(os.environ.get("PEAKS_SEED", "0")))
    p_valid, p_ready = float(os.environ["PEAKS_VALID"]), float(os.environ["PEAKS_READY"])

    dut.clear.value = 0
    await start(dut)
    traffic = await exchange(
        dut,
        beats,
        ("tdata",),
        ("tdata", "tlast"),
        p_valid,
        p_ready,
        rng,
        int(20 * len(beats) / p_ready) + 400,
        lambda t, _: sum(la for _, la in t.received) == len(frames),
    )
    await RisingEdge(dut.clk)
    missing = compare_stream(
        [w for w, _ in traffic.received], [bool(la) for _, la in traffic.received], frames, cfg
    )
    dropped = int(dut.loc_dropped.value)
    assert missing == dropped, f"{missing} records missing, loc_dropped says {dropped}"
    assert bool(dut.loc_overflow.value) == (dropped > 0)
    if os.environ["PEAKS_DROPS"] == "0":
        assert dropped == 0, f"{dropped} records dropped"
    else:
        assert dropped > 0, "the FIFO never filled: the drop path is untested"
    dut._log.info("%d words, %d dropped, %d cycles", len(traffic.received), dropped, traffic.cycles)
