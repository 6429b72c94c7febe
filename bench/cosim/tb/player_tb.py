"""cocotb test of a generated top inside the HDL stream player (`fg_stream_player`, the fast bench).

The player (bench/cobench/cosim/tb/fg_stream_player.v) plays the stimulus and tready files that
`fluorogate.bench.cosim.cocotb_run.run_stream_test` wrote and logs every accepted input beat and every output
beat with its cycle, all inside the simulator. Python only runs the clock (cocotb's C clock), holds
reset for three cycles as the Python-driven bench does, waits for `done` and four more cycles (the error
flags settle), then checks the logs with the same rules as that bench (`report.check_and_report`).
"""

from __future__ import annotations

import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from fluorogate.bench.cosim.player import read_logs
from fluorogate.bench.cosim.tb.report import check_and_report, read_status


@cocotb.test()
async def stream_frames_player(dut):
    spec = np.load(os.environ["FG_TB_SPEC"])
    # The C clock needs no Python per edge; the player's inputs change only at edges it decides.
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns", impl="gpi").start())
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    if not dut.done.value:
        await RisingEdge(dut.done)
    for _ in range(4):  # let the error flags settle
        await RisingEdge(dut.clk)
    logs = read_logs(Path(cocotb.plusargs["fg_out_log"]).parent)
    check_and_report(spec, logs.words, logs.flags, logs.in_cycles, logs.out_cycles, int(dut.cycle.value),
                     read_status(dut))
