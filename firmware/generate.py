"""IntegerGraph -> synthesizable Verilog for the whole network, streaming one pixel per clock.

Architecture (docs/rtl.md has the diagram, the latency formula and resource numbers):
- `fg_frontend` checks the AXI4-Stream video input (tuser = start of frame, tlast = end of line) and
  hands the core exactly W x H pixels per frame; the IR's CameraConversion follows it;
- one module per stage (`plan.py`), built by its head op's stage type (`firmware/stages/`, one
  `StageBuilder` per IR op): a front (a k x k window generator with zero padding and end-of-frame
  flush, a rate-changing block, or a register for 1x1/element-wise), the constant-weight kernel
  (`kernels.py`), bias and the fused relu/requant chain, and an output FIFO. A credit counter admits a
  pixel only when the FIFO has room for everything in flight, so the kernel pipelines never need to stall;
- tensors read by several stages are forked (a beat leaves when every reader takes it); each add/concat
  input gets a delay FIFO sized from the buffering on the other, longer path, so the fork never blocks;
- output counters generate tuser/tlast; sticky error flags and frame counters are top-level ports;
- with `RtlConfig(peaks=PeakConfig(...))` (smlm) the output map feeds `fg_peaks3` and m_axis carries the
  localization list instead (64-bit words, TLAST on each frame's end word; `firmware/peaks.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorogate.errors import UserError
from fluorogate.firmware.library import LIBRARY, RTL_DIR
from fluorogate.firmware.plan import Stage, plan_stages, vname
from fluorogate.firmware.stages import STAGES
from fluorogate.firmware.stages import Fmt as _Fmt
from fluorogate.firmware.stages import StageBuilder as _StageBuilder
from fluorogate.firmware.stages import tensor_fmt as _fmt
from fluorogate.firmware.verilog import Emitter, sconst, sx
from fluorogate.outputs import check_writable
from fluorogate.quantize.ir import IntegerGraph
from fluorogate.quantize.peaks import PeakConfig, fifo_depth

KernelKind = Literal["mac", "da4ml"]
INPUT_SLICE = 2  # cycles of the register slices: fg_frontend's input, and before the first stages
CAMERA_SLICE = 1  # and between the camera conversion's subtraction and its rounding
SKIP_MARGIN = 4
BRAM_FIFO_MIN = 64  # skip FIFOs this deep use fg_fifo_bram (block RAM, every RAM pin at a flip-flop)


class RtlConfig(BaseModel):
    """What the generator needs beyond the IR: the frame geometry and the kernel form per layer."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(ge=3, le=65535)
    height: int = Field(ge=3, le=65535)
    lanes: Literal[1, 2, 4] = 1  # input pixels per clock (per beat); the width must be a multiple
    kernel: Literal["auto", "mac", "da4ml"] = "auto"
    kernel_overrides: dict[str, KernelKind] = Field(default_factory=dict)  # IR conv name -> form
    top: str = "fluorogate_top"
    peaks: PeakConfig | None = None  # the SMLM peak finder on the output map: localizations out

    @model_validator(mode="after")
    def _check_lanes(self) -> RtlConfig:
        if self.width % self.lanes:
            raise ValueError(f"width {self.width} is not a multiple of {self.lanes} lanes")
        return self


@dataclass
class RtlDesign:
    """Generated sources, the top module's name, and what the generator knows about the design."""

    top: str
    sources: dict[str, str]  # file name -> text
    static_sources: list[Path]
    report: dict = field(default_factory=dict)

    def file_names(self) -> list[str]:
        return sorted({p.name for p in self.static_sources} | set(self.sources))

    def write(self, out_dir: Path) -> list[Path]:
        """Write every source (generated and library) into `out_dir`, plus `design.json` and `files.f`."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in self.static_sources:
            shutil.copyfile(path, out_dir / path.name)
        for name, text in self.sources.items():
            (out_dir / name).write_text(text)
        (out_dir / "files.f").write_text("\n".join(self.file_names()) + "\n")
        (out_dir / "design.json").write_text(json.dumps(self.report, indent=1))
        return [out_dir / n for n in self.file_names()]


def _lanes(graph: IntegerGraph, cfg: RtlConfig, geo: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Pixels per beat of every tensor: the input's lanes scaled by the tensor's pixels per input pixel
    (x4 after an upsample, /4 after a pool, at least 1), so every stage keeps the input's beat rate. Each
    rate-changing op's stage type says which lane counts it builds (`StageBuilder.check_lanes`)."""
    w, h = cfg.width, cfg.height
    lanes = {t: max(1, cfg.lanes * tw * th // (w * h)) for t, (tw, th) in geo.items()}
    for n in graph.nodes:
        if n.inputs:
            STAGES.lookup(n).check_lanes(n, lanes[n.inputs[0]], lanes[n.name], geo[n.name][0])
    return lanes


def _geometry(graph: IntegerGraph, cfg: RtlConfig) -> dict[str, tuple[int, int]]:
    """(width, height) of every tensor, from the IR (`IntegerGraph.sizes`), each checked by the stage type
    that reads it (`StageBuilder.check_size`: a pool needs >= 6, a 5x5 window >= 5)."""
    sizes = graph.sizes(cfg.height, cfg.width)
    for n in graph.nodes:
        if n.inputs:
            h, w = sizes[n.inputs[0]]
            STAGES.lookup(n).check_size(n, w, h)
    return {name: (w, h) for name, (h, w) in sizes.items()}


def generate(graph: IntegerGraph, cfg: RtlConfig) -> RtlDesign:
    """Verilog for `graph` streaming `cfg.width` x `cfg.height` frames; see the module docstring."""
    channels = graph.channels()
    inp = graph.input
    stages = plan_stages(graph)
    geo = _geometry(graph, cfg)
    lanes = _lanes(graph, cfg, geo)
    builders = {
        s.output: STAGES.lookup(s.head)(graph, cfg, channels, s, geo[s.inputs[0]], lanes) for s in stages
    }
    sources: dict[str, str] = {}
    static = [RTL_DIR / name for name in LIBRARY]
    from tqdm import tqdm

    for b in tqdm(builders.values(), desc="RTL stages", unit="stage", leave=False):
        sources.update(b.build())
        static += [p for p in b.static_sources() if p not in static]

    # Buffering capacity from the input to each tensor, and the delay FIFOs on join inputs.
    cap: dict[str, float] = {inp.name: 0}
    skip: dict[tuple[str, int], int] = {}
    for s in stages:
        lead = max(cap[t] for t in s.inputs)
        if len(s.inputs) > 1:  # a join: each input waits in a delay FIFO for the other, longer path
            for k, t in enumerate(s.inputs):
                if lead - cap[t] > 0:
                    skip[(s.name, k)] = int(np.ceil(lead - cap[t])) + SKIP_MARGIN
        cap[s.output] = builders[s.output].capacity(lead)

    out_fmt = _fmt(graph, channels, graph.output)
    if cfg.peaks is not None:
        _check_peaks(out_fmt)
        static.append(RTL_DIR / "fg_peaks3.v")
    top = _top(graph, cfg, channels, stages, builders, skip, geo[graph.output], lanes)
    sources[f"{cfg.top}.v"] = top
    in_fmt = _fmt(graph, channels, inp.name)
    report = {
        "top": cfg.top,
        "ir": graph.name,
        "ir_sha256": graph.digest(),
        "rtl_config": cfg.model_dump(mode="json"),
        "width": cfg.width,
        "height": cfg.height,
        "lanes": cfg.lanes,
        "out_width": geo[graph.output][0],
        "out_height": geo[graph.output][1],
        "rounding": graph.rounding,
        "in_pixel_bits": _in_pixel_bits(inp, in_fmt),
        "s_axis_tdata_bits": cfg.lanes * _in_pixel_bits(inp, in_fmt),
        "out_lanes": lanes[graph.output],
        "m_axis_tdata_bits": 64 if cfg.peaks else lanes[graph.output] * out_fmt.width,
        "peaks": _peaks_report(cfg.peaks, geo[graph.output], lanes[graph.output]),
        "out_channels": out_fmt.channels,
        "out_bits": out_fmt.bits,
        "out_signed": out_fmt.signed,
        "stages": [
            {
                "name": s.name,
                "kind": s.kind,
                "nodes": [s.head.name] + [n.name for n in s.post],
                "kernel": builders[s.output].kernel_kind,
                "lanes": lanes[s.output],
                "pipeline_cycles": builders[s.output].latency + 1,
                "out_bits": builders[s.output].out_fmt.bits,
            }
            for s in stages
        ],
        "skip_fifos": {f"{name}.in{k}": depth for (name, k), depth in skip.items()},
        "latency_cycles_estimate": latency_estimate(
            cfg, stages, builders, INPUT_SLICE + (CAMERA_SLICE if inp.camera else 0)
        ),
    }
    return RtlDesign(cfg.top, sources, static, report)


def write_design(graph: IntegerGraph, cfg: RtlConfig, out_dir: Path, force: bool = False) -> RtlDesign:
    """Generate and write into `out_dir` as a whole: built in a temporary folder beside it, then moved."""
    out_dir = check_writable(out_dir, force)
    design = generate(graph, cfg)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        design.write(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return design


def latency_estimate(
    cfg: RtlConfig, stages: list[Stage], builders: dict[str, _StageBuilder], input_cycles: int = INPUT_SLICE
) -> int | None:
    """First pixel in to first pixel out, no stalls: the input slices, then per k x k stage its look-ahead
    (k//2 lines and k//2 pixels: W+1 for 3x3), plus each stage's register, kernel and FIFO cycles along the
    longest path; after a lanes upsample, the beat-time model of `schedule.py` (the first output line
    follows the input). Each stage type gives its step (`StageBuilder.beat_step`). None with one-lane
    rate changes (pool, upsample), where it depends on how the rates interleave: measure it."""
    from fluorogate.firmware.schedule import first_out_cycle

    steps = [builders[s.output].beat_step() for s in stages]
    if any(step is None for step in steps):
        return None
    if not steps:
        return input_cycles
    wb = cfg.width // cfg.lanes
    beats = min(cfg.height, 2 * len(steps) + 4) * wb
    return first_out_cycle(steps, stages[0].inputs[0], input_cycles, beats, stages[-1].output)


def _check_peaks(fmt: _Fmt) -> None:
    if fmt.channels != 1 or fmt.signed or fmt.bits > 12:
        raise UserError(
            f"peaks: the peak finder takes one unsigned channel of at most 12 bits; the graph's "
            f"output has {fmt.channels} channel(s) of {'signed ' if fmt.signed else ''}{fmt.bits} bits"
        )


def _peaks_report(peaks: PeakConfig | None, geo: tuple[int, int], lanes: int) -> dict | None:
    return None if peaks is None else {**peaks.model_dump(), "fifo_depth": fifo_depth(geo[0], lanes)}


def _in_pixel_bits(inp, fmt: _Fmt) -> int:
    """One input pixel on s_axis: every channel's camera ADU (multi-frame tasks: one frame per channel,
    channel c at bits [c*adu_bits, (c+1)*adu_bits)), or the input codes when there is no camera."""
    return fmt.channels * inp.camera.adu_bits if inp.camera else fmt.width


class _ResetTree:
    """The core's reset as a tree of registers: `rst` -> `rst_root` -> per block `rst_<block>_a` ->
    `rst_<block>`.

    Why: one reset net to every control flip-flop of a design spread over two thirds of an LFE5U-85F was the
    4-lane default denoiser's critical path (the board's reset register to `frames_in`: 19.1 ns, 18.2 ns of
    it routing, 0 logic levels, 52.3 MHz). Each block (a stage, a skip FIFO, the front end, the input
    slices, the output framing) gets its own copy, which the placer puts by its loads, so every reset net
    is short and drives one block's control state only (data pipelines and line buffers have no reset).
    Every copy is three registers behind `rst`, so all blocks leave reset in the same cycle; the
    front end holds `s_axis_tready` low until then. Each register is its own `(* keep *)` process: yosys
    would otherwise merge the copies (same input) back into one net. Copies start at 1 (FPGA power-up).
    """

    def __init__(self) -> None:
        self.blocks: list[str] = []

    def __call__(self, block: str) -> str:
        """The reset signal of `block` (made on first use)."""
        name = "rst_" + "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in block)
        if name not in self.blocks:
            self.blocks.append(name)
        return name

    def lines(self) -> list[str]:
        regs = ["rst_root"] + [r for b in self.blocks for r in (_first_level(b), b)]
        assert len(set(regs)) == len(regs), f"reset register names collide: {regs}"
        out = [
            "    // Reset tree (see generate._ResetTree): a registered copy per block, all 3 cycles late.",
            f"    reg {', '.join(f'{r} = 1{chr(39)}b1' for r in regs)};",
            "    (* keep *) always @(posedge clk) rst_root <= rst;",
        ]
        for b in self.blocks:
            out += [
                f"    (* keep *) always @(posedge clk) {_first_level(b)} <= rst_root;",
                f"    (* keep *) always @(posedge clk) {b} <= {_first_level(b)};",
            ]
        return out


def _first_level(block_reset: str) -> str:
    """`rst_<block>` -> `rst_<block>_a`, the copy between `rst_root` and it."""
    return block_reset + "_a"


def _top(
    graph: IntegerGraph,
    cfg: RtlConfig,
    channels: dict[str, int],
    stages: list[Stage],
    builders: dict[str, _StageBuilder],
    skip: dict[tuple[str, int], int],
    out_geo: tuple[int, int],
    lanes: dict[str, int],
) -> str:
    lines = _top_body(graph, cfg, channels, stages, builders, skip, out_geo, lanes, resets := _ResetTree())
    head = lines.index(");") + 1
    return "\n".join(lines[:head] + resets.lines() + lines[head:])


def _top_body(
    graph: IntegerGraph,
    cfg: RtlConfig,
    channels: dict[str, int],
    stages: list[Stage],
    builders: dict[str, _StageBuilder],
    skip: dict[tuple[str, int], int],
    out_geo: tuple[int, int],
    lanes: dict[str, int],
    resets: _ResetTree,
) -> list[str]:
    inp = graph.input
    fin = _fmt(graph, channels, inp.name)
    fout = _fmt(graph, channels, graph.output)
    n = cfg.lanes
    px_bits = _in_pixel_bits(inp, fin)
    adu_bits = n * px_bits  # s_axis tdata: lane l in bits [l*px_bits, (l+1)*px_bits), channel c within
    lines = [
        f"// {cfg.top}: generated by fluorogate from IR {graph.name!r} ({cfg.width}x{cfg.height}, "
        f"rounding {graph.rounding}). Do not edit: regenerate with `fluorogate rtl`.",
        "`timescale 1ns/1ps",
        f"module {cfg.top} (",
        "    input wire clk,",
        "    input wire rst,",
        f"    input wire [{adu_bits - 1}:0] s_axis_tdata,",
        "    input wire s_axis_tvalid,",
        "    input wire s_axis_tuser,",
        "    input wire s_axis_tlast,",
        "    output wire s_axis_tready,",
        f"    output wire [{63 if cfg.peaks else lanes[graph.output] * fout.width - 1}:0] m_axis_tdata,",
        "    output wire m_axis_tvalid,",
        "    output wire m_axis_tuser,",
        "    output wire m_axis_tlast,",
        "    input wire m_axis_tready,",
        "    input wire clear_errors,",
        "    output wire err_line_length,",
        "    output wire err_missing_sof,",
        "    output wire [31:0] frames_in,",
        *(["    output wire loc_overflow,", "    output wire [31:0] loc_dropped,"] if cfg.peaks else []),
        "    output reg [31:0] frames_out",
        ");",
        f"    wire [{adu_bits - 1}:0] px_data;",
        "    wire px_valid, px_ready;",
        f"    fg_frontend #(.W({cfg.width // n}), .H({cfg.height}), .DW({adu_bits})) fe (.clk(clk), "
        f".rst({resets('fe')}), .s_tdata(s_axis_tdata), .s_tvalid(s_axis_tvalid), .s_tuser(s_axis_tuser), "
        ".s_tlast(s_axis_tlast), .s_tready(s_axis_tready), .px_data(px_data), .px_valid(px_valid), "
        ".px_ready(px_ready), .clear_errors(clear_errors), .err_line_length(err_line_length), "
        ".err_missing_sof(err_missing_sof), .frames_in(frames_in));",
    ]
    # Camera conversion: codes = sat(round_shift(adu - offset, shift)), on the input quantizer's range, with
    # a register slice (a 2-word FIFO: full rate, ready and valid from registers) after the subtraction and
    # another after the requantization (CAMERA_SLICE + INPUT_SLICE cycles): the front end's state logic, the
    # subtraction, the rounding and the first stages' handshake each get a clock period of their own.
    t_in = vname(inp.name)
    lines += [
        f"    wire [{n * fin.width - 1}:0] {t_in}_data, cam_data;",
        f"    wire {t_in}_valid, {t_in}_ready;",
        "    wire cam_valid, cam_ready;",
        f"    fg_fifo #(.DW({n * fin.width}), .DEPTH(2)) in_slice (.clk(clk), .rst({resets('in')}), "
        f".in_data(cam_data), .in_valid(cam_valid), .in_ready(cam_ready), .out_data({t_in}_data), "
        f".out_valid({t_in}_valid), .out_ready({t_in}_ready));",
    ]
    if inp.camera:
        cam, e, fields = inp.camera, Emitter("cam_"), n * fin.channels  # every channel of every lane
        dw = cam.adu_bits + 2
        lines += [
            f"    wire [{fields * dw - 1}:0] cam_diff, cam_diff_r;",
            f"    fg_fifo #(.DW({fields * dw}), .DEPTH(2)) cam_slice (.clk(clk), .rst({resets('in')}), "
            ".in_data(cam_diff), .in_valid(px_valid), .in_ready(px_ready), .out_data(cam_diff_r), "
            ".out_valid(cam_valid), .out_ready(cam_ready));",
        ]
        for f in range(fields):
            adu = sx(f"px_data[{f * cam.adu_bits} +: {cam.adu_bits}]", False)
            e.lines.append(f"    assign cam_diff[{f * dw} +: {dw}] = {adu} - {sconst(cam.offset, dw)};")
            diff = e.wire(dw, f"cam_diff_r[{f * dw} +: {dw}]", "d")
            code = e.requant(diff, cam.shift, graph.rounding, inp.quant.min_int, inp.quant.max_int)
            e.lines.append(
                f"    assign cam_data[{f * fin.bits} +: {fin.bits}] = {code.name}[{fin.bits - 1}:0];"
            )
        lines += e.lines
    else:
        lines.append("    assign cam_data = px_data, cam_valid = px_valid, px_ready = cam_ready;")

    # Readers of each tensor: stage input ports (through a skip FIFO where planned) and the top output.
    readers: dict[str, list[str]] = {}
    for s in stages:
        b = builders[s.output]
        t_out = vname(s.output)
        lines += [
            f"    wire [{lanes[s.output] * b.out_fmt.width - 1}:0] {t_out}_data;",
            f"    wire {t_out}_valid, {t_out}_ready;",
        ]
    for s in stages:
        b = builders[s.output]
        conns = [".clk(clk)", f".rst({resets(s.name)})"]
        for k, t in enumerate(s.inputs):
            port = f"{s.name}_in{k}"
            bw = lanes[t] * b.in_fmts[k].width
            lines += [f"    wire [{bw - 1}:0] {port}_data;", f"    wire {port}_valid, {port}_ready;"]
            if (s.name, k) in skip:
                lines += [
                    f"    wire [{bw - 1}:0] {port}_q_data;",
                    f"    wire {port}_q_valid, {port}_q_ready;",
                    f"    {'fg_fifo_bram' if skip[(s.name, k)] >= BRAM_FIFO_MIN else 'fg_fifo'} "
                    f"#(.DW({bw}), .DEPTH({skip[(s.name, k)]})) {port}_skip (.clk(clk), "
                    f".rst({resets(port)}), .in_data({port}_q_data), .in_valid({port}_q_valid), "
                    f".in_ready({port}_q_ready), .out_data({port}_data), .out_valid({port}_valid), "
                    f".out_ready({port}_ready));",
                ]
                readers.setdefault(t, []).append(f"{port}_q")
            else:
                readers.setdefault(t, []).append(port)
            conns += [
                f".in{k}_data({port}_data)",
                f".in{k}_valid({port}_valid)",
                f".in{k}_ready({port}_ready)",
            ]
        t_out = vname(s.output)
        conns += [f".out_data({t_out}_data)", f".out_valid({t_out}_valid)", f".out_ready({t_out}_ready)"]
        lines.append(f"    {s.name} u_{s.name} ({', '.join(conns)});")
    sink = "loc_in" if cfg.peaks else "m_axis"
    readers.setdefault(graph.output, []).append(sink)
    lines += [
        f"    wire [{lanes[graph.output] * fout.width - 1}:0] {sink}_data;",
        f"    wire {sink}_valid, {sink}_ready;",
    ]
    if not cfg.peaks:
        lines += [
            "    assign m_axis_ready = m_axis_tready;",
            "    assign m_axis_tdata = m_axis_data;",
            "    assign m_axis_tvalid = m_axis_valid;",
        ]
    # Forks: a beat leaves a tensor when every reader takes it (readers' ready never depends on valid).
    for t, rs in readers.items():
        src = vname(t)
        lines.append(f"    assign {src}_ready = {' && '.join(f'{r}_ready' for r in rs)};")
        for r in rs:
            others = [f"{o}_ready" for o in rs if o != r]
            lines += [
                f"    assign {r}_data = {src}_data;",
                f"    assign {r}_valid = {' && '.join([f'{src}_valid', *others])};",
            ]
    if cfg.peaks:
        return lines + _peaks_tail(cfg.peaks, out_geo, lanes[graph.output], fout.bits, resets("out"))
    # Output framing and counters.
    ow, oh = out_geo[0] // lanes[graph.output], out_geo[1]  # output counters count beats
    cw, rw = ow.bit_length(), oh.bit_length()
    lines += [
        f"    reg [{cw - 1}:0] ocol;",
        f"    reg [{rw - 1}:0] orow;",
        "    reg frame_out_done;",
        "    assign m_axis_tuser = ocol == 0 && orow == 0;",
        f"    assign m_axis_tlast = ocol == {ow - 1};",
        "    always @(posedge clk) begin",
        f"        if ({resets('out')}) begin",
        "            ocol <= 0; orow <= 0; frames_out <= 0; frame_out_done <= 1'b0;",
        "        end else begin",
        # frames_out counts a cycle later: the 32-bit counter sits by the board's pins, off the handshake
        f"            frame_out_done <= m_axis_tvalid && m_axis_tready && m_axis_tlast && orow == {oh - 1};",
        "            if (frame_out_done) frames_out <= frames_out + 1;",
        "        end",
        f"        if (!{resets('out')} && m_axis_tvalid && m_axis_tready) begin",
        "            ocol <= m_axis_tlast ? 0 : ocol + 1;",
        f"            if (m_axis_tlast) orow <= (orow == {oh - 1}) ? 0 : orow + 1;",
        "        end",
        "    end",
        "endmodule",
        "",
    ]
    return lines


def _peaks_tail(peaks: PeakConfig, out_geo: tuple[int, int], lanes: int, bits: int, rst: str) -> list[str]:
    """The peak finder on the output map, m_axis = its localization words: tuser on a frame's first word,
    tlast on its end word, frames_out counting end words (a cycle later, as the map's framing does)."""
    from fluorogate.firmware.peaks import peaks_instance

    return [
        peaks_instance(
            out_geo[0], out_geo[1], bits, lanes, peaks, "loc_in_", "m_axis_t", "clear_errors", rst
        ),
        "    reg sof, frame_out_done;",
        "    assign m_axis_tuser = sof;",
        "    always @(posedge clk) begin",
        f"        if ({rst}) begin",
        "            sof <= 1'b1; frames_out <= 0; frame_out_done <= 1'b0;",
        "        end else begin",
        "            if (m_axis_tvalid && m_axis_tready) sof <= m_axis_tlast;",
        "            frame_out_done <= m_axis_tvalid && m_axis_tready && m_axis_tlast;",
        "            if (frame_out_done) frames_out <= frames_out + 1;",
        "        end",
        "    end",
        "endmodule",
        "",
    ]
