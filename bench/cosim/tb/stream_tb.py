"""cocotb test of a generated fluorogate top level on a cycle-accurate camera stream.

Runs inside the simulator. The pytest side (`fluorogate.bench.cosim.cocotb_run.run_stream_test`) writes the
stimulus and the expected frames to an .npz file named by FG_TB_SPEC; this bench drives the AXI4-Stream
input cycle by cycle (holding a beat while tready is low), applies the consumer's tready pattern, checks
every output pixel, tuser and tlast, and writes what it measured to the JSON file named by FG_TB_RESULT.
The run_stream_test driver 'python': the reference protocol the HDL player (`player_tb`) reproduces.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from fluorogate.bench.cosim.tb.report import check_and_report, read_status


@cocotb.test()
async def stream_frames(dut):
    spec = np.load(os.environ["FG_TB_SPEC"])
    lanes_in, valid, user, last = (spec[k] for k in ("in_data", "in_valid", "in_user", "in_last"))
    lanes, in_bits = int(spec["out_lanes"]), int(spec["in_bits"])  # output pixels per beat
    data = [sum(int(v) << (k * in_bits) for k, v in enumerate(row)) for row in lanes_in]
    ready = spec["out_ready"]
    n_frames, _, height, width = spec["expected"].shape
    max_cycles = int(spec["max_cycles"])

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for sig in (
        "s_axis_tvalid",
        "s_axis_tuser",
        "s_axis_tlast",
        "s_axis_tdata",
        "m_axis_tready",
        "clear_errors",
    ):
        getattr(dut, sig).value = 0
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    words, flags, out_cycles, in_cycles = [], [], [], []
    i, cycle = 0, 0
    n_out = n_frames * height * width // lanes  # output beats
    # Handles, triggers and the previous drive looked up once: the per-cycle Python work bounds speed.
    s_valid, s_data, s_user, s_last, s_ready = (
        dut.s_axis_tvalid,
        dut.s_axis_tdata,
        dut.s_axis_tuser,
        dut.s_axis_tlast,
        dut.s_axis_tready,
    )
    m_valid, m_data, m_user, m_last, m_ready = (
        dut.m_axis_tvalid,
        dut.m_axis_tdata,
        dut.m_axis_tuser,
        dut.m_axis_tlast,
        dut.m_axis_tready,
    )
    fall, rise = FallingEdge(dut.clk), RisingEdge(dut.clk)
    n_in, n_ready = len(valid), len(ready)
    driven, r_prev = -1, None
    while len(words) < n_out and cycle < max_cycles:
        v = i < n_in and bool(valid[i])
        if v and driven != i:
            s_data.value = data[i]
            s_user.value = int(user[i])
            s_last.value = int(last[i])
            driven = i
        s_valid.value = int(v)
        r = bool(ready[cycle % n_ready])
        if r != r_prev:
            m_ready.value = int(r)
            r_prev = r
        await fall  # inputs applied, combinational paths settled: the edge's decisions
        took = v and bool(s_ready.value)
        if took:
            in_cycles.append(cycle)
        if took or not v:
            i += 1
        if r and m_valid.value:
            words.append(int(m_data.value))
            flags.append((int(m_user.value), int(m_last.value)))
            out_cycles.append(cycle)
        await rise
        cycle += 1
    dut.s_axis_tvalid.value = 0
    for _ in range(4):  # let the error flags settle
        await RisingEdge(dut.clk)

    check_and_report(spec, words, flags, in_cycles, out_cycles, cycle, read_status(dut))
