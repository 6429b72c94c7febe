"""cocotb bench for fg_framebuf3 (run by tests/test_firmware_framebuf3.py): two triplets of frames in,
random valid gaps and backpressure; every output pixel must be (first, second, third) of its triplet."""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


@cocotb.test()
async def triplets_with_gaps_and_backpressure(dut):
    width, height, dw = int(os.environ["FB_W"]), int(os.environ["FB_H"]), int(os.environ["FB_DW"])
    n_frames = 6
    rng = np.random.default_rng(int(os.environ.get("FB_SEED", "0")))
    frames = rng.integers(0, 2**dw, size=(n_frames, height, width))
    beats = [(int(f[y, x]), x == 0 and y == 0, x == width - 1) for f in frames
             for y in range(height) for x in range(width)]
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_tvalid.value = 0
    dut.m_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    received, sent, stalled_first_two = [], 0, 0
    for _ in range(10 * len(beats) + 100):
        offer = sent < len(beats) and rng.random() < 0.8
        data, user, last = beats[sent] if offer else (0, False, False)
        dut.s_tdata.value, dut.s_tuser.value, dut.s_tlast.value = data, int(user), int(last)
        dut.s_tvalid.value = int(offer)
        dut.m_tready.value = int(rng.random() < 0.6)
        await ReadOnly()
        in_triplet = (sent // (width * height)) % 3
        if offer and not dut.s_tready.value and in_triplet < 2:
            stalled_first_two += 1
        if offer and dut.s_tready.value:
            sent += 1
        if dut.m_tvalid.value and dut.m_tready.value:
            word = int(dut.m_tdata.value)
            received.append(([(word >> (c * dw)) & (2**dw - 1) for c in range(3)],
                             bool(dut.m_tuser.value), bool(dut.m_tlast.value)))
        await RisingEdge(dut.clk)
        if sent == len(beats) and len(received) == 2 * width * height:
            break
    assert stalled_first_two == 0, "the first two frames of a triplet must never stall the camera"
    assert len(received) == 2 * width * height, f"got {len(received)} output beats"
    got = np.array([r[0] for r in received]).reshape(2, height, width, 3).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(got, frames.reshape(2, 3, height, width))
    flags = [b[1:] for b in beats[: width * height]] * 2
    assert [r[1:] for r in received] == flags, "tuser/tlast differ from the frames'"
