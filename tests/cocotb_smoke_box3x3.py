"""cocotb testbench for the flow's smoke core `smoke_box3x3` (run by tests/test_sim_simulators.py).

A thin AXI4-Stream driver of its own, on purpose: this checks the simulator set-up, independently of
the project's stream model and testbench library, on frames with random valid gaps and backpressure.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


def box3x3_causal(frame: np.ndarray) -> np.ndarray:
    """out[y, x] = sum of in[y-2..y, x-2..x], pixels outside the frame counted as 0."""
    padded = np.pad(frame.astype(np.int64), ((2, 0), (2, 0)))
    h, w = frame.shape
    return sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))


@cocotb.test()
async def random_frames_with_gaps_and_backpressure(dut):
    width, height, n_frames = int(os.environ["BOX_WIDTH"]), int(os.environ["BOX_HEIGHT"]), 3
    rng = np.random.default_rng(int(os.environ.get("BOX_SEED", "0")))
    frames = [rng.integers(0, 2**16, size=(height, width)) for _ in range(n_frames)]
    beats = [(int(f[y, x]), x == 0 and y == 0, x == width - 1) for f in frames
             for y in range(height) for x in range(width)]

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    received: list[tuple[int, bool, bool]] = []
    sent = 0
    for _ in range(10 * len(beats) + 100):
        # Drive this cycle's inputs (valid with gaps, ready with backpressure), then sample the handshake.
        offer = sent < len(beats) and rng.random() < 0.8
        if offer:
            data, user, last = beats[sent]
            dut.s_axis_tdata.value = data
            dut.s_axis_tuser.value = int(user)
            dut.s_axis_tlast.value = int(last)
        dut.s_axis_tvalid.value = int(offer)
        dut.m_axis_tready.value = int(rng.random() < 0.7)
        await ReadOnly()
        if offer and dut.s_axis_tready.value:
            sent += 1
        if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
            received.append((int(dut.m_axis_tdata.value), bool(dut.m_axis_tuser.value),
                             bool(dut.m_axis_tlast.value)))
        await RisingEdge(dut.clk)
        if len(received) == len(beats):
            break

    assert len(received) == len(beats), f"got {len(received)} of {len(beats)} output beats"
    got = np.array([r[0] for r in received]).reshape(n_frames, height, width)
    for i, frame in enumerate(frames):
        want = box3x3_causal(frame)
        bad = np.argwhere(got[i] != want)
        assert bad.size == 0, f"frame {i}: {len(bad)} pixels differ, first at (y, x) = {tuple(bad[0])}"
    assert [r[1] for r in received] == [b[1] for b in beats], "tuser differs from the input's"
    assert [r[2] for r in received] == [b[2] for b in beats], "tlast differs from the input's"
