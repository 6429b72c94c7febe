"""The self-test board top: generated for any AXI4-Stream core, and its checksum is predictable.

The simulation runs the real board top around the smoke core under Icarus; only the PLL (an ECP5
primitive Icarus does not have) is replaced by a pass-through clock model.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fluorogate.errors import UserError
from fluorogate.firmware.board_top import (
    SELFTEST_RTL,
    CorePorts,
    Port,
    board_top_verilog,
    frame_checksum,
    pattern_frames,
)
from fluorogate.firmware.boards import get_board

RTL = Path(__file__).resolve().parents[1] / "firmware" / "rtl"
BOARD = get_board("ulx3s-85f")


def _ports(module: str, spec: dict[str, tuple[str, int]]) -> CorePorts:
    return CorePorts(module, {n: Port(n, d, w) for n, (d, w) in spec.items()})


def _stream(in_bits: int, out_bits: int) -> dict[str, tuple[str, int]]:
    spec = {"clk": ("input", 1), "rst": ("input", 1)}
    for prefix, bits, d_in, d_out in (("s_axis", in_bits, "input", "output"), ("m_axis", out_bits, "output", "input")):
        spec |= {f"{prefix}_tdata": (d_in, bits), f"{prefix}_tvalid": (d_in, 1), f"{prefix}_tready": (d_out, 1),
                 f"{prefix}_tuser": (d_in, 1), f"{prefix}_tlast": (d_in, 1)}
    return spec


SMOKE = _ports("smoke_box3x3", _stream(16, 20))
GENERATED_LIKE = _ports("fluorogate_top", _stream(16, 8) | {
    "clear_errors": ("input", 1), "err_line_length": ("output", 1), "err_missing_sof": ("output", 1),
    "frames_in": ("output", 32), "frames_out": ("output", 32)})

PLL_MODEL = """module fg_pll (input wire clkin, output wire clkout0, output wire locked);
    assign clkout0 = clkin;  // simulation stand-in for the EHXPLLL that ecppll writes
    assign locked = 1'b1;
endmodule
"""

TB = """`timescale 1ns/1ps
module tb;
    reg clk = 0;
    always #5 clk = !clk;
    wire [7:0] led;
    fg_board_top dut (.clk_25mhz(clk), .btn_reset(1'b0), .sw(4'b0110), .led(led));
    initial begin
        wait (dut.frames == 4);
        $display("CHECKSUM %0d", dut.checksum);
        $finish;
    end
    initial begin #2000000 $display("TIMEOUT"); $finish; end
endmodule
"""


def box3x3_causal(frame: np.ndarray) -> np.ndarray:
    padded = np.pad(frame.astype(np.int64), ((2, 0), (2, 0)))
    h, w = frame.shape
    return sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (iverilog)")
def test_board_top_checksum_matches_the_python_model(tmp_path):
    beats, lines = 8, 4
    (tmp_path / "top.v").write_text(board_top_verilog(SMOKE, BOARD, beats, lines))
    (tmp_path / "pll.v").write_text(PLL_MODEL)
    (tmp_path / "tb.v").write_text(TB)
    files = [str(tmp_path / f) for f in ("tb.v", "top.v", "pll.v")] + [str(SELFTEST_RTL), str(RTL / "smoke_box3x3.v")]
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "sim.vvp"), *files], check=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "sim.vvp")], check=True, capture_output=True, text=True).stdout
    match = re.search(r"CHECKSUM (\d+)", out)
    assert match, out
    # Four frames started, so the sink has latched frame 3's checksum (with random gaps and backpressure on).
    frames = pattern_frames(16, beats, lines, 3)
    want = frame_checksum(box3x3_causal(frames[2]))
    assert int(match.group(1)) == want
    assert want != frame_checksum(box3x3_causal(frames[1]))  # the checksum tells frames apart


def test_generated_core_ports_are_wired():
    text = board_top_verilog(GENERATED_LIKE, BOARD, 2048, 2048)
    assert "(* keep_hierarchy *) fluorogate_top core (" in text
    assert ".clear_errors(sw_s[3])" in text  # 1-bit control inputs follow switch 3
    # Flags shown directly, the two 32-bit counters folded into the remaining 6 LEDs.
    assert "{o_err_line_length, o_err_missing_sof, (fold6(o_frames_in) ^ fold6(o_frames_out))}" in text
    assert ".LINE_BEATS(2048), .LINES(2048)" in text and ".DATA_BITS(16)" in text and ".DATA_BITS(8)" in text


def test_active_low_reset_is_inverted():
    spec = _stream(8, 8)
    del spec["rst"]
    text = board_top_verilog(_ports("c", spec | {"aresetn": ("input", 1)}), BOARD, 8, 4)
    assert ".aresetn(!rst)" in text


@pytest.mark.parametrize(("change", "message"), [
    ({"drop": "m_axis_tlast"}, "no port m_axis_tlast"),
    ({"add": ("gain", ("input", 4))}, "input gain is 4 bits wide"),
    ({"drop": "clk"}, "no clock port"),
])
def test_unusable_cores_are_user_errors(change, message):
    spec = _stream(8, 8)
    if "drop" in change:
        del spec[change["drop"]]
    else:
        name, value = change["add"]
        spec[name] = value
    with pytest.raises(UserError, match=message):
        board_top_verilog(_ports("c", spec), BOARD, 8, 4)


def test_pattern_frames_are_the_lfsr_sequence():
    frames = pattern_frames(16, 4, 3, 2)
    assert frames.shape == (2, 3, 4)
    assert frames[0, 0, 0] == 0x1F0A7E55 & 0xFFFF
    assert len({int(v) for v in frames.ravel()}) == frames.size  # no repeats this early
    wide = pattern_frames(40, 4, 3, 1)  # wider than the LFSR: the 32-bit word repeats upwards
    assert wide[0, 0, 0] == (0x1F0A7E55 | (0x1F0A7E55 << 32)) & (2**40 - 1)


def test_ice40_board_uses_its_pins_pll_ports_and_three_switches():
    text = board_top_verilog(GENERATED_LIKE, get_board("icebreaker-up5k"), 64, 32)
    assert "input  wire clk_12mhz," in text and "input  wire btn_n," in text
    assert "fg_pll pll (.clock_in(clk_12mhz), .clock_out(clk), .locked(locked));" in text  # icepll's ports
    assert "if (!locked || !btn_s[1]) begin" in text  # the active-low button
    assert ".clear_errors(1'b0)" in text  # no fourth switch on this board
    # 5 LEDs: the two flags and a 3-bit fold of the counters.
    assert "{o_err_line_length, o_err_missing_sof, (fold3(o_frames_in) ^ fold3(o_frames_out))}" in text
