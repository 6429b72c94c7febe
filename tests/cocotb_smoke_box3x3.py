"""cocotb testbench for the flow's smoke core `smoke_box3x3` (run by tests/test_cosim_simulators.py).

A thin AXI4-Stream driver (`fluorogate.bench.cosim.tb.handshake`, no stream model), on purpose: this checks
the simulator set-up, independently of the project's stream model and generated-design bench, on frames with
random valid gaps and backpressure.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np

from fluorogate.bench.cosim.tb.handshake import exchange, start


def box3x3_causal(frame: np.ndarray) -> np.ndarray:
    """out[y, x] = sum of in[y-2..y, x-2..x], pixels outside the frame counted as 0."""
    padded = np.pad(frame.astype(np.int64), ((2, 0), (2, 0)))
    h, w = frame.shape
    return sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))


@cocotb.test()
async def random_frames_with_gaps_and_backpressure(dut):
    width, height, n_frames = int(os.environ["BOX_WIDTH"]), int(os.environ["BOX_HEIGHT"]), 3
    rng = np.random.default_rng(int(os.environ.get("BOX_SEED", "0")))
    frames = [rng.integers(0, 2**16, size=(height, width)) for _ in range(n_frames)]
    beats = [
        (int(f[y, x]), x == 0 and y == 0, x == width - 1)
        for f in frames
        for y in range(height)
        for x in range(width)
    ]

    await start(dut)
    traffic = await exchange(
        dut,
        beats,
        ("tdata", "tuser", "tlast"),
        ("tdata", "tuser", "tlast"),
        0.8,
        0.7,
        rng,
        10 * len(beats) + 100,
        lambda t, _: len(t.received) == len(beats),
    )
    received = [(d, bool(u), bool(la)) for d, u, la in traffic.received]
    assert len(received) == len(beats), f"got {len(received)} of {len(beats)} output beats"
    got = np.array([r[0] for r in received]).reshape(n_frames, height, width)
    for i, frame in enumerate(frames):
        want = box3x3_causal(frame)
        bad = np.argwhere(got[i] != want)
        assert bad.size == 0, f"frame {i}: {len(bad)} pixels differ, first at (y, x) = {tuple(bad[0])}"
    assert [r[1] for r in received] == [b[1] for b in beats], "tuser differs from the input's"
    assert [r[2] for r in received] == [b[2] for b in beats], "tlast differs from the input's"
