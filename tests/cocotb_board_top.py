"""cocotb bench for the self-test board top (run by tests/test_firmware_board_top.py): clock the board's
oscillator, hold no button, set the switches from BT_SW, and record the checksum the sink latches at every
frame start until BT_FRAMES frames have started. Writes them to BT_OUT (JSON) for the test to compare."""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge


@cocotb.test()
async def checksums_per_frame(dut):
    n_frames, limit = int(os.environ["BT_FRAMES"]), int(os.environ["BT_CYCLES"])
    clock, reset = getattr(dut, os.environ["BT_CLOCK"]), getattr(dut, os.environ["BT_RESET"])
    cocotb.start_soon(Clock(clock, 10, unit="ns").start())
    reset.value = int(os.environ["BT_RESET_IDLE"])
    dut.sw.value = int(os.environ["BT_SW"])
    got, seen = [], 0
    for _ in range(limit):
        await RisingEdge(clock)
        if not dut.frames.value.is_resolvable:  # before the board's reset reached the sink
            continue
        frames = int(dut.frames.value)
        if frames != seen:
            seen = frames
            got.append(int(dut.checksum.value))
            if len(got) == n_frames:
                break
    with open(os.environ["BT_OUT"], "w") as fh:
        json.dump({"checksums": got}, fh)
    assert len(got) == n_frames, f"only {len(got)} of {n_frames} frames started within {limit} cycles"
