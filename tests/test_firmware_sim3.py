"""A 3-channel (sim3-shaped) IR through the open RTL back end: per-channel camera conversion, 3 camera
frames packed per pixel on s_axis, upsample to 2x, bit-exact with the integer reference under cocotb."""

import numpy as np
import pytest
from rtl_graphs import camera_input, conv, graph, requant

from fluorogate.errors import UserError
from fluorogate.sim.stream import pack_channels


def sim3_like(rounding: str = "half_even", seed: int = 0):
    """3 frames in, conv, concat with the input (global skip), nearest 2x, conv at 2x: sim3's shape."""
    rng = np.random.default_rng(seed)
    x = {**camera_input(), "channels": 3}
    nodes = [
        x,
        conv("c", "x", 3, 2, 3, rng),
        {"op": "relu", "name": "r", "inputs": ["c"]},
        requant("q", "r"),
        {"op": "concat", "name": "k", "inputs": ["x", "q"]},
        {"op": "upsample2", "name": "u", "inputs": ["k"]},
        conv("o", "u", 5, 1, 3, rng),
        requant("y", "o"),
    ]
    return graph(nodes, "y", rounding)


def test_pack_channels_layout_and_refusals():
    stack = np.arange(24).reshape(3, 2, 4)
    words = pack_channels(stack, 16)
    for c in range(3):
        np.testing.assert_array_equal((words >> (16 * c)) & 0xFFFF, stack[c])
    with pytest.raises(UserError, match="do not fit one 64-bit"):
        pack_channels(np.zeros((4, 2, 2), np.int64), 16)
    with pytest.raises(UserError, match="do not fit 8-bit"):
        pack_channels(np.full((3, 2, 2), 256), 8)


@pytest.mark.integration
def test_three_channel_design_bit_exact_in_cocotb(tmp_path):
    from fluorogate.bench.fpga import simulate_small_frame
    from fluorogate.firmware.generate import RtlConfig, generate

    g = sim3_like()
    rep = generate(g, RtlConfig(width=8, height=8)).report
    assert rep["in_pixel_bits"] == 3 * 16 and rep["out_width"] == 16
    res = simulate_small_frame(g, 8, 2, 1, tmp_path)
    assert res["bit_exact"] and res["pixels_compared"] == 2 * 16 * 16, res
    # one 3-frame pixel per clock in, 4 output pixels per beat out: the cycle model holds
    assert res["frame_cycles_measured"] == res["frame_cycles_model"] == 64, res
    assert res["latency_cycles_measured"] == res["latency_cycles_model"], res
