"""cocotb bench for the SMLM peak finder: density-map codes in (random valid gaps), localization words
out (random backpressure), compared word for word, TLAST included, with `quantize.peaks.frame_words`."""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from fluorogate.quantize.peaks import PeakConfig, frame_words


@cocotb.test()
async def peaks_match_the_reference(dut):
    data = np.load(os.environ["PEAKS_NPZ"])
    frames, cfg = data["frames"], PeakConfig.model_validate_json(str(data["config"]))
    want = [frame_words(f, cfg) for f in frames]
    want_words = np.concatenate([w for w, _ in want]).tolist()
    want_last = np.concatenate([last for _, last in want]).tolist()
    pixels = frames.reshape(-1).tolist()
    rng = np.random.default_rng(int(os.environ.get("PEAKS_SEED", "0")))
    p_valid, p_ready = float(os.environ.get("PEAKS_VALID", "0.8")), float(os.environ.get("PEAKS_READY", "0.7"))

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    got_words, got_last, sent = [], [], 0
    for _ in range(20 * len(pixels) + 200):
        offer = sent < len(pixels) and rng.random() < p_valid
        if offer:
            dut.s_axis_tdata.value = pixels[sent]
        dut.s_axis_tvalid.value = int(offer)
        dut.m_axis_tready.value = int(rng.random() < p_ready)
        await ReadOnly()
        if offer and dut.s_axis_tready.value:
            sent += 1
        if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
            got_words.append(int(dut.m_axis_tdata.value))
            got_last.append(bool(dut.m_axis_tlast.value))
        await RisingEdge(dut.clk)
        if len(got_words) == len(want_words):
            break
    assert len(got_words) == len(want_words), f"got {len(got_words)} of {len(want_words)} words"
    bad = [k for k, (g, w) in enumerate(zip(got_words, want_words, strict=True)) if g != w]
    assert not bad, f"{len(bad)} words differ, first #{bad[0]}: {got_words[bad[0]]:#x} != {want_words[bad[0]]:#x}"
    assert got_last == want_last, "tlast differs"
