"""The cocotb side shared by the hand-written benches of single blocks (tests/cocotb_*.py): clock and
reset, then a cycle loop that offers input beats with random valid gaps, takes output beats under
random backpressure and samples the handshake after the cycle's inputs settle (ReadOnly).

Why one helper: the benches of `smoke_box3x3`, `fg_framebuf3` and `fg_peaks3` repeated this preamble
and loop; they differ only in their port prefixes, fields and checks. The generated designs' bench
(`stream_tb`, `player_tb`) has its own driver for the project's `BeatStream`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


@dataclass
class Traffic:
    """What a run saw: the output beats (one tuple of ints per beat, `out_fields` order), the index of
    the input beat refused at each refused offer, the cycle (from 1) each input beat was taken and each
    output beat received, and the cycles it ran."""

    received: list[tuple[int, ...]] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    sent_at: list[int] = field(default_factory=list)
    received_at: list[int] = field(default_factory=list)
    cycles: int = 0


async def start(dut, s: str = "s_axis_", m: str = "m_axis_", reset_cycles: int = 3) -> None:
    """Start a 10 ns clock and hold `rst` for `reset_cycles` edges with the input's valid and the
    output's ready low."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    getattr(dut, f"{s}tvalid").value = 0
    getattr(dut, f"{m}tready").value = 0
    for _ in range(reset_cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def exchange(
    dut,
    beats: Sequence[Sequence[int]],
    in_fields: Sequence[str],
    out_fields: Sequence[str],
    p_valid: float,
    p_ready: float,
    rng: np.random.Generator,
    max_cycles: int,
    done: Callable[[Traffic, int], bool],
    s: str = "s_axis_",
    m: str = "m_axis_",
) -> Traffic:
    """Offer `beats` (values of `in_fields`, e.g. ("tdata", "tuser", "tlast")) each cycle with
    probability `p_valid`, raise ready with probability `p_ready`, until `done(traffic, sent)` or
    `max_cycles`."""
    t, sent = Traffic(), 0
    valid, ready = getattr(dut, f"{s}tvalid"), getattr(dut, f"{m}tready")
    ins = [getattr(dut, f"{s}{f}") for f in in_fields]
    outs = [getattr(dut, f"{m}{f}") for f in out_fields]
    for t.cycles in range(1, max_cycles + 1):
        offer = sent < len(beats) and rng.random() < p_valid
        if offer:
            for sig, v in zip(ins, beats[sent], strict=True):
                sig.value = int(v)
        valid.value = int(offer)
        ready.value = int(rng.random() < p_ready)
        await ReadOnly()
        if offer:
            if getattr(dut, f"{s}tready").value:
                sent += 1
                t.sent_at.append(t.cycles)
            else:
                t.refused.append(sent)
        if getattr(dut, f"{m}tvalid").value and ready.value:
            t.received.append(tuple(int(o.value) for o in outs))
            t.received_at.append(t.cycles)
        await RisingEdge(dut.clk)
        if done(t, sent):
            break
    return t
