"""The self-test board top: generated for any AXI4-Stream core, and its checksum is predictable.

The simulation runs the real board top around the smoke core under Icarus; only the PLL (an ECP5
primitive Icarus does not have) is replaced by a pass-through clock model.
"""

from __future__ import annotations

import json
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
    for prefix, bits, d_in, d_out in (
        ("s_axis", in_bits, "input", "output"),
        ("m_axis", out_bits, "output", "input"),
    ):
        spec |= {
            f"{prefix}_tdata": (d_in, bits),
            f"{prefix}_tvalid": (d_in, 1),
            f"{prefix}_tready": (d_out, 1),
            f"{prefix}_tuser": (d_in, 1),
            f"{prefix}_tlast": (d_in, 1),
        }
    return spec


SMOKE = _ports("smoke_box3x3", _stream(16, 20))
GENERATED_LIKE = _ports(
    "fluorogate_top",
    _stream(16, 8)
    | {
        "clear_errors": ("input", 1),
        "err_line_length": ("output", 1),
        "err_missing_sof": ("output", 1),
        "frames_in": ("output", 32),
        "frames_out": ("output", 32),
    },
)

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
    return sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (iverilog)")
def test_board_top_checksum_matches_the_python_model(tmp_path):
    beats, lines = 8, 4
    (tmp_path / "top.v").write_text(board_top_verilog(SMOKE, BOARD, beats, lines))
    (tmp_path / "pll.v").write_text(PLL_MODEL)
    (tmp_path / "tb.v").write_text(TB)
    files = [str(tmp_path / f) for f in ("tb.v", "top.v", "pll.v")] + [
        str(SELFTEST_RTL),
        str(RTL / "smoke_box3x3.v"),
    ]
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "sim.vvp"), *files], check=True)
    out = subprocess.run(
        ["vvp", "-n", str(tmp_path / "sim.vvp")], check=True, capture_output=True, text=True
    ).stdout
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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": "m_axis_tlast"}, "no port m_axis_tlast"),
        ({"add": ("gain", ("input", 4))}, "input gain is 4 bits wide"),
        ({"drop": "clk"}, "no clock port"),
    ],
)
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
    wide = pattern_frames(40, 4, 3, 1)  # wider than the LFSR: word 1 is its own LFSR, seeded differently
    assert wide[0, 0, 0] == (0x1F0A7E55 | ((0x1F0A7E55 ^ 0x9E3779B9) << 32)) & (2**40 - 1)
    assert wide[0, 0, 1] >> 32 != wide[0, 0, 0] >> 32


def test_ice40_board_uses_its_pins_pll_ports_and_three_switches():
    text = board_top_verilog(GENERATED_LIKE, get_board("icebreaker-up5k"), 64, 32)
    assert "input  wire clk_12mhz," in text and "input  wire btn_n," in text
    assert "fg_pll pll (.clock_in(clk_12mhz), .clock_out(clk), .locked(locked));" in text  # icepll's ports
    assert "if (!locked || !btn_s[1]) begin" in text  # the active-low button
    assert ".clear_errors(1'b0)" in text  # no fourth switch on this board
    # 5 LEDs: the two flags and a 3-bit fold of the counters.
    assert "{o_err_line_length, o_err_missing_sof, (fold3(o_frames_in) ^ fold3(o_frames_out))}" in text


def _generated_core_ports(report: dict) -> CorePorts:
    """The generated top's ports, from its design.json (what yosys would read from the Verilog)."""
    return _ports(
        report["top"],
        _stream(report["s_axis_tdata_bits"], report["m_axis_tdata_bits"])
        | {
            "clear_errors": ("input", 1),
            "err_line_length": ("output", 1),
            "err_missing_sof": ("output", 1),
            "frames_in": ("output", 32),
            "frames_out": ("output", 32),
        },
    )


def _lanes_model(graph, frames: np.ndarray, lanes: int, adu_bits: int, out_bits: int) -> list[int]:
    """Checksums the sink must latch: each pattern frame split into its lanes' ADU, through the integer
    reference, the output codes packed `lanes` per beat."""
    from fluorogate.quantize.reference import codes_from_adu, run_graph

    sums = []
    for beats in frames:  # (lines, beats per line) of tdata ints
        adu = np.array(
            [
                [(int(b) >> (lane * adu_bits)) & (2**adu_bits - 1) for b in row for lane in range(lanes)]
                for row in beats
            ]
        )
        out = run_graph(graph, codes_from_adu(graph, adu))[0] & (2**out_bits - 1)
        packed = np.array(
            [
                [
                    sum(int(out[y, x * lanes + lane]) << (lane * out_bits) for lane in range(lanes))
                    for x in range(beats.shape[1])
                ]
                for y in range(beats.shape[0])
            ],
            dtype=object,
        )
        sums.append(frame_checksum(packed))
    return sums


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (iverilog)")
def test_board_top_drives_and_checks_four_lanes_of_a_generated_core(tmp_path):
    """The ULX3S self-test top around a generated 4-lane core (the design `fluorogate build` places), under
    cocotb with random valid gaps and backpressure (switches 1, 2): every frame's checksum equals the
    integer reference's output through the Python models of the source and sink. Each lane has its own
    pixels (its own LFSR word) and the sink's checksum depends on the lane order."""
    from cocotb_tools.runner import get_runner
    from rtl_graphs import residual_denoiser

    from fluorogate.bench.cosim.simulators import get_simulator, simulator_env
    from fluorogate.firmware.generate import RtlConfig, generate

    width, height, lanes, n_frames = 16, 6, 4, 5
    graph = residual_denoiser(seed=3)
    # The source's pixels are uniform 16-bit ADU: shift them down to the 8-bit codes' range instead of
    # saturating nearly all of them (constant frames would make the checksums equal).
    graph.input.camera = graph.input.camera.model_copy(update={"shift": 8, "offset": 0})
    design = generate(graph, RtlConfig(width=width, height=height, lanes=lanes))
    rep = design.report
    assert rep["out_lanes"] == lanes and rep["s_axis_tdata_bits"] == 64
    sources = design.write(tmp_path / "rtl")
    (tmp_path / "top.v").write_text(
        board_top_verilog(_generated_core_ports(rep), BOARD, width // lanes, height)
    )
    (tmp_path / "pll.v").write_text(PLL_MODEL)
    sim, env = get_simulator("icarus")
    with simulator_env(env):
        runner = get_runner(sim)
        runner.build(
            sources=[*sources, tmp_path / "top.v", tmp_path / "pll.v", SELFTEST_RTL],
            hdl_toplevel="fg_board_top",
            build_dir=tmp_path / "build",
            timescale=("1ns", "1ps"),
        )
        runner.test(
            test_module="cocotb_board_top",
            hdl_toplevel="fg_board_top",
            test_dir=tmp_path,
            extra_env={
                "BT_FRAMES": str(n_frames),
                "BT_CYCLES": "20000",
                "BT_SW": "6",
                "BT_OUT": str(tmp_path / "out.json"),
                "BT_CLOCK": BOARD.clock_port,
                "BT_RESET": BOARD.reset_port,
                "BT_RESET_IDLE": "0",
            },
        )
    got = json.loads((tmp_path / "out.json").read_text())["checksums"]
    frames = pattern_frames(rep["s_axis_tdata_bits"], width // lanes, height, n_frames - 1)
    want = _lanes_model(graph, frames, lanes, graph.input.camera.adu_bits, rep["out_bits"])
    # The checksum latched at frame k's first beat is frame k-1's (the first one: nothing received yet).
    assert got[1:] == want
    assert len(set(want)) == len(want)
    # A core that swapped two lanes would be caught: the same frames with lanes 0 and 3 exchanged sum
    # differently.
    assert _lanes_model(graph, _swap_lanes(frames, 0, 3, 16), lanes, 16, rep["out_bits"]) != want


def _swap_lanes(frames: np.ndarray, a: int, b: int, bits: int) -> np.ndarray:
    mask = 2**bits - 1
    out = frames.copy()
    for idx in np.ndindex(frames.shape):
        v = int(frames[idx])
        la, lb = (v >> (a * bits)) & mask, (v >> (b * bits)) & mask
        v &= ~((mask << (a * bits)) | (mask << (b * bits)))
        out[idx] = v | (lb << (a * bits)) | (la << (b * bits))
    return out


def test_gowin_boards_leds_low_and_fewer_switches():
    nano = board_top_verilog(GENERATED_LIKE, get_board("tangnano20k"), 64, 32)
    assert "input  wire [0:0] sw," in nano and "assign led = ~led_r;" in nano  # LEDs lit low
    assert ".gaps(1'b0)" in nano and ".backpressure(1'b0)" in nano and ".clear_errors(1'b0)" in nano
    assert "led_r <= sw_s[0] ?" in nano  # key S2 shows the status
    primer = board_top_verilog(GENERATED_LIKE, get_board("primer25k"), 64, 32)
    assert " sw" not in primer and "sw_s" not in primer and "assign led = led_r;" in primer
    assert "led_r <= 1'b0 ?" in primer  # one LED: the checksum's bit 0
