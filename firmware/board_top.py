"""The board-facing top level around any AXI4-Stream video core: PLL, reset, self-test source and sink.

A camera stream cannot reach a ULX3S over its pins, so the board top is a self-test: the core's input
comes from `board_pattern_source` (pseudo-random pixels in frames of `line_beats` x `lines`, random valid
gaps when switch 1 is on) and its output goes to `board_checksum_sink` (random backpressure when switch
2 is on, a per-frame checksum of every output bit). The LEDs show the checksum's low bits, or with
switch 0 on, the core's other outputs (1-bit flags first, wider counters folded). Switch 3 drives every
other 1-bit core input (the generated core's `clear_errors`; tied low on boards with three switches).
Both ends are in `rtl/board_selftest.v`.

The wrapper is generic: it reads the core's ports (yosys reads the sources as black boxes) and needs
only the AXI4-Stream names `s_axis_t{data,valid,ready,user,last}`, `m_axis_t{...}`, a clock and a reset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluorogate.errors import UserError
from fluorogate.firmware.boards import Board

CLOCK_NAMES = ("clk", "aclk", "clock")
RESET_NAMES = {"rst": True, "reset": True, "rst_n": False, "resetn": False, "aresetn": False}  # active high?
AXIS = ("tdata", "tvalid", "tready", "tuser", "tlast")
TOP_NAME = "fg_board_top"
PLL_NAME = "fg_pll"
SELFTEST_RTL = Path(__file__).parent / "rtl" / "board_selftest.v"
SOURCE_SEED = 0x1F0A7E55  # board_pattern_source's default SEED
LFSR_TAPS = 0x80200003  # the Galois LFSR of rtl/board_selftest.v
WORD_SEED_STEP = 0x9E3779B9  # word k of a wide beat starts at SEED ^ (k * this), mod 2**32


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # 'input' | 'output' | 'inout'
    width: int


@dataclass(frozen=True)
class CorePorts:
    """The core's interface, classified: clock, reset (and its polarity), stream ports, the rest."""

    module: str
    ports: dict[str, Port]

    def _find(self, names) -> str | None:
        found = [n for n in names if n in self.ports]
        return found[0] if found else None

    @property
    def clock(self) -> str:
        name = self._find(CLOCK_NAMES)
        if name is None:
            raise UserError(f"core {self.module}: no clock port (looked for {', '.join(CLOCK_NAMES)})")
        return name

    @property
    def reset(self) -> tuple[str, bool]:
        name = self._find(RESET_NAMES)
        if name is None:
            raise UserError(f"core {self.module}: no reset port (looked for {', '.join(RESET_NAMES)})")
        return name, RESET_NAMES[name]

    def stream_width(self, prefix: str) -> int:
        for sig in AXIS:
            if f"{prefix}_{sig}" not in self.ports:
                raise UserError(
                    f"core {self.module}: no port {prefix}_{sig}; the board top needs AXI4-Stream "
                    f"ports s_axis_t{{data,valid,ready,user,last}} and m_axis_t{{...}}"
                )
        return self.ports[f"{prefix}_tdata"].width

    @property
    def others(self) -> list[Port]:
        """Ports that are neither clock, reset nor stream: status outputs and control inputs."""
        known = {self.clock, self.reset[0]} | {f"{p}_{s}" for p in ("s_axis", "m_axis") for s in AXIS}
        return [p for n, p in self.ports.items() if n not in known]


def read_core_ports(yosys_json: Path, module: str) -> CorePorts:
    """Ports of `module` from `write_json` output of yosys (`read_verilog -lib` keeps only interfaces)."""
    modules = json.loads(Path(yosys_json).read_text())["modules"]
    if module not in modules:
        raise UserError(
            f"no module {module!r} in the sources (found: {', '.join(sorted(modules))}); "
            "name the core with --top"
        )
    ports = {name: Port(name, p["direction"], len(p["bits"])) for name, p in modules[module]["ports"].items()}
    return CorePorts(module, ports)


def board_top_verilog(core: CorePorts, board: Board, line_beats: int, lines: int) -> str:
    """Verilog of `fg_board_top` instantiating `core` between the self-test source and sink.

    Its ports are the board's (oscillator, reset button, `sw`, `led`), named as in its constraint file.
    """
    in_bits, out_bits = core.stream_width("s_axis"), core.stream_width("m_axis")
    reset, active_high = core.reset
    conns = [f".{core.clock}(clk)", f".{reset}({'rst' if active_high else '!rst'})"]
    conns += [f".s_axis_{s}(src_{s})" for s in AXIS] + [f".m_axis_{s}(snk_{s})" for s in AXIS]
    decls, flags, wide = [], [], []
    clear = _switch(board, 3)
    for p in core.others:
        if p.direction == "input":
            if p.width != 1:
                raise UserError(
                    f"core {core.module}: input {p.name} is {p.width} bits wide; the board top can "
                    "drive only 1-bit control inputs (from switch 3)"
                )
            conns.append(f".{p.name}({clear})")
        elif p.direction == "output":
            decls.append(f"    wire [{p.width - 1}:0] o_{p.name};")
            conns.append(f".{p.name}(o_{p.name})")
            (flags if p.width == 1 else wide).append(p)
        else:
            raise UserError(f"core {core.module}: inout port {p.name} cannot be driven by the board top")
    led_bits = board.leds
    flags = flags[:led_bits]
    fold_bits = led_bits - len(flags)
    status = [f"o_{p.name}" for p in flags]
    if fold_bits:
        folded = " ^ ".join(f"fold{fold_bits}(o_{p.name})" for p in wide) or f"{fold_bits}'d0"
        status.append(f"({folded})")
    rst_cycles = 16
    pll_in, pll_out, pll_locked = board.family.pll_ports
    pressed = "!btn_s[1]" if board.reset_active_low else "btn_s[1]"
    released = "2'b11" if board.reset_active_low else "2'b00"
    return "\n".join(
        [
            f"// {TOP_NAME}: self-test board top for {board.name} ({board.part}) around core {core.module}.",
            "// Generated by fluorogate.firmware.board_top; see docs/bitstream.md.",
            "`default_nettype none",
            f"module {TOP_NAME} (",
            f"    input  wire {board.clock_port},",
            f"    input  wire {board.reset_port},",
            *([f"    input  wire [{board.switches - 1}:0] sw,"] if board.switches else []),
            f"    output wire [{led_bits - 1}:0] led",
            ");",
            "    wire clk, locked;",
            f"    {PLL_NAME} pll (.{pll_in}({board.clock_port}), .{pll_out}(clk), .{pll_locked}(locked));",
            "",
            "    // Reset: held while the PLL is unlocked or the button is pressed, then for a few cycles "
            "more.",
            f"    reg [1:0] btn_s = {released};",
            f"    reg [{rst_cycles.bit_length() - 1}:0] rst_count = 0;",
            "    reg rst = 1'b1;",
            *([f"    reg [{board.switches - 1}:0] sw_m = 0, sw_s = 0;"] if board.switches else []),
            "    always @(posedge clk) begin",
            f"        btn_s <= {{btn_s[0], {board.reset_port}}};",
            *(["        {sw_s, sw_m} <= {sw_m, sw};"] if board.switches else []),
            f"        if (!locked || {pressed}) begin",
            "            rst_count <= 0;",
            "            rst <= 1'b1;",
            f"        end else if (rst_count != {rst_cycles}) begin",
            "            rst_count <= rst_count + 1'b1;",
            "        end else begin",
            "            rst <= 1'b0;",
            "        end",
            "    end",
            "",
            f"    wire [{in_bits - 1}:0] src_tdata;",
            "    wire src_tvalid, src_tready, src_tuser, src_tlast;",
            f"    wire [{out_bits - 1}:0] snk_tdata;",
            "    wire snk_tvalid, snk_tready, snk_tuser, snk_tlast;",
            *decls,
            f"    board_pattern_source #(.DATA_BITS({in_bits}), .LINE_BEATS({line_beats}), .LINES({lines})) "
            "src (",
            f"        .clk(clk), .rst(rst), .gaps({_switch(board, 1)}), .m_tdata(src_tdata), "
            ".m_tvalid(src_tvalid),",
            "        .m_tready(src_tready), .m_tuser(src_tuser), .m_tlast(src_tlast));",
            f"    (* keep_hierarchy *) {core.module} core (",
            "        " + ",\n        ".join(conns) + ");",
            "    wire [31:0] checksum;",
            "    wire [15:0] frames;",
            f"    board_checksum_sink #(.DATA_BITS({out_bits})) snk (",
            f"        .clk(clk), .rst(rst), .backpressure({_switch(board, 2)}), .s_tdata(snk_tdata), "
            ".s_tvalid(snk_tvalid),",
            "        .s_tready(snk_tready), .s_tuser(snk_tuser), .s_tlast(snk_tlast), .checksum(checksum),",
            "        .frames(frames));",
            "",
            *_fold_function(fold_bits, [p.width for p in wide]),
            f"    reg [{led_bits - 1}:0] led_r;",
            "    always @(posedge clk)",
            f"        led_r <= {_switch(board, 0)} ? {{{', '.join(status)}}} : checksum[{led_bits - 1}:0];",
            f"    assign led = {'~led_r' if board.led_active_low else 'led_r'};",
            "endmodule",
            "`default_nettype wire",
            "",
        ]
    )


def _switch(board: Board, k: int) -> str:
    """Switch `k` (synchronised), or a constant 0 where the board has fewer switches: that feature stays
    off."""
    return f"sw_s[{k}]" if board.switches > k else "1'b0"


def _fold_function(bits: int, widths: list[int]) -> list[str]:
    """A Verilog function XOR-folding a vector (zero-extended by the call) down to `bits`, if one is
    needed."""
    if not bits or not widths:
        return []
    widest = max(widths)
    chunks = -(-widest // bits)
    return [
        f"    function [{bits - 1}:0] fold{bits};",
        f"        input [{chunks * bits - 1}:0] v;",
        "        integer k;",
        "        begin",
        f"            fold{bits} = 0;",
        f"            for (k = 0; k < {chunks}; k = k + 1) fold{bits} = fold{bits} ^ v[k*{bits} +: {bits}];",
        "        end",
        "    endfunction",
    ]


def _lfsr_next(s: int) -> int:
    return (s >> 1) ^ (LFSR_TAPS if s & 1 else 0)


def pattern_frames(
    data_bits: int, line_beats: int, lines: int, n_frames: int, seed: int = SOURCE_SEED
) -> np.ndarray:
    """The beats `board_pattern_source` sends, (n_frames, lines, line_beats) of tdata as Python ints.

    Word k (32 bits) of a beat is its own LFSR, seeded `seed ^ (k * WORD_SEED_STEP)`. Valid gaps change when
    beats go, not what they carry: the same frames with or without switch 1.
    """
    words = -(-data_bits // 32)
    mask = (1 << data_bits) - 1
    out = np.empty(n_frames * lines * line_beats, dtype=object)
    state = [seed ^ ((k * WORD_SEED_STEP) & 0xFFFFFFFF) for k in range(words)]
    for i in range(out.size):
        out[i] = sum(s << (32 * k) for k, s in enumerate(state)) & mask
        state = [_lfsr_next(s) for s in state]
    return out.reshape(n_frames, lines, line_beats)


def frame_checksum(frame: np.ndarray) -> int:
    """What `board_checksum_sink` latches for one output frame (lines, line_beats) of tdata ints."""
    lines, beats = frame.shape
    acc = 0
    for y in range(lines):
        for x in range(beats):
            folded = ((x == 0 and y == 0) << 1) | (x == beats - 1)
            v, k = int(frame[y, x]), 0
            while v:  # word k rotated left by k (mod 32)
                w, r = v & 0xFFFFFFFF, k % 32
                folded ^= ((w << r) | (w >> (32 - r))) & 0xFFFFFFFF
                v, k = v >> 32, k + 1
            acc = folded if x == 0 and y == 0 else (((acc << 1) | (acc >> 31)) & 0xFFFFFFFF) ^ folded
    return acc
