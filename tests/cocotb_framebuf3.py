"""cocotb bench for fg_framebuf3 (run by tests/test_firmware_framebuf3.py): two triplets of frames in,
random valid gaps and backpressure; every output pixel must be (first, second, third) of its triplet."""

from __future__ import annotations

import os

import cocotb
import numpy as np

from fluorogate.bench.cosim.tb.handshake import exchange, start


@cocotb.test()
async def triplets_with_gaps_and_backpressure(dut):
    width, height, dw = int(os.environ["FB_W"]), int(os.environ["FB_H"]), int(os.environ["FB_DW"])
    n_frames = 6
    rng = np.random.default_rng(int(os.environ.get("FB_SEED", "0")))
    frames = rng.integers(0, 2**dw, size=(n_frames, height, width))
    beats = [
        (int(f[y, x]), x == 0 and y == 0, x == width - 1)
        for f in frames
        for y in range(height)
        for x in range(width)
    ]
    await start(dut, "s_", "m_")
    n_out = 2 * width * height
    traffic = await exchange(
        dut,
        beats,
        ("tdata", "tuser", "tlast"),
        ("tdata", "tuser", "tlast"),
        0.8,
        0.6,
        rng,
        10 * len(beats) + 100,
        lambda t, sent: sent == len(beats) and len(t.received) == n_out,
        "s_",
        "m_",
    )
    stalled_first_two = sum((k // (width * height)) % 3 < 2 for k in traffic.refused)
    received = [
        ([(word >> (c * dw)) & (2**dw - 1) for c in range(3)], bool(u), bool(la))
        for word, u, la in traffic.received
    ]
    assert stalled_first_two == 0, "the first two frames of a triplet must never stall the camera"
    assert len(received) == 2 * width * height, f"got {len(received)} output beats"
    got = np.array([r[0] for r in received]).reshape(2, height, width, 3).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(got, frames.reshape(2, 3, height, width))
    flags = [b[1:] for b in beats[: width * height]] * 2
    assert [r[1:] for r in received] == flags, "tuser/tlast differ from the frames'"
