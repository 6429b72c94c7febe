"""IntegerGraph -> synthesizable Verilog for the whole network, streaming one pixel per clock.

Architecture (docs/rtl.md has the diagram, the latency formula and resource numbers):
- `fg_frontend` checks the AXI4-Stream video input (tuser = start of frame, tlast = end of line) and
  hands the core exactly W x H pixels per frame; the IR's CameraConversion follows it;
- one module per stage (`plan.py`): a front (3x3 window generator with zero padding and end-of-frame
  flush, or a register for 1x1/element-wise), the constant-weight kernel (`kernels.py`), bias and the
  fused relu/requant chain, and an output FIFO. A credit counter admits a pixel only when the FIFO has
  room for everything in flight, so the kernel pipelines never need to stall;
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
from fluorogate.firmware.kernels import Kernel, da4ml_kernel, mac_kernel
from fluorogate.firmware.library import LIBRARY, RTL_DIR
from fluorogate.firmware.plan import Stage, plan_stages, tensor_range, vname
from fluorogate.firmware.verilog import Emitter, Sig, sconst, sx
from fluorogate.outputs import check_writable
from fluorogate.quantize.ir import ConvNode, IntegerGraph, RequantNode
from fluorogate.quantize.peaks import PeakConfig, fifo_depth

KernelKind = Literal["mac", "da4ml"]
INPUT_SLICE = 2  # cycles of the register slices: fg_frontend's input, and before the first stages
CAMERA_SLICE = 1  # and between the camera conversion's subtraction and its rounding
CREDIT_MARGIN = 3  # FIFO words beyond the pipeline depth: lets a stage sustain one pixel per clock
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


@dataclass(frozen=True)
class _Fmt:
    """How a tensor travels between stages: `channels` fields of `bits` each, signed or not."""

    channels: int
    bits: int
    signed: bool
    lo: int
    hi: int
    exp: int

    @property
    def width(self) -> int:
        return self.channels * self.bits

    def field(self, sig: str, c: int, lane: int = 0) -> str:
        """Channel `c` of pixel `lane` in a beat of `sig` (lanes of `channels` fields each)."""
        return sx(f"{sig}[{(lane * self.channels + c) * self.bits} +: {self.bits}]", self.signed)


def _channels(graph: IntegerGraph) -> dict[str, int]:
    ch: dict[str, int] = {}
    for n in graph.nodes:
        if n.op == "input":
            ch[n.name] = n.channels
        elif isinstance(n, ConvNode):
            ch[n.name] = n.out_channels
        elif n.op == "concat":
            ch[n.name] = sum(ch[i] for i in n.inputs)
        else:
            ch[n.name] = ch[n.inputs[0]]
    return ch


def _lanes(graph: IntegerGraph, cfg: RtlConfig, geo: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Pixels per beat of every tensor: the input's lanes scaled by the tensor's pixels per input pixel
    (x4 after an upsample, /4 after a pool, at least 1), so every stage keeps the input's beat rate."""
    w, h = cfg.width, cfg.height
    lanes = {t: max(1, cfg.lanes * tw * th // (w * h)) for t, (tw, th) in geo.items()}
    for n in graph.nodes:
        if n.op not in ("maxpool2", "upsample2"):
            continue
        n_in, n_out, (tw, _) = lanes[n.inputs[0]], lanes[n.name], geo[n.name]
        if n.op == "upsample2" and n_out == 4 * n_in and tw % n_out == 0:
            continue  # fg_upsample2_lanes
        if n.op == "maxpool2" and n_in == 4 * n_out and tw % n_out == 0 and tw >= 2 * n_out:
            continue  # fg_maxpool2_lanes (at least two beats per input line)
        if n_in == n_out == 1:
            continue  # fg_upsample2 / fg_maxpool2: one lane, the rate changes inside
        raise UserError(f"{n.op} {n.name!r}: {n_in} lane(s) in, {n_out} out at width {tw} is not built; "
                        "upsample2 takes N lanes to 4N (output width a multiple of 4N), maxpool2 4N to N "
                        "(output width a multiple of 2N) or 1 to 1: use --lanes 1 or 4, or another width")
    return lanes


def _geometry(graph: IntegerGraph, cfg: RtlConfig) -> dict[str, tuple[int, int]]:
    """(width, height) of every tensor: pooling halves it (both must be even), upsampling doubles it."""
    geo: dict[str, tuple[int, int]] = {}
    for n in graph.nodes:
        if n.op == "input":
            geo[n.name] = (cfg.width, cfg.height)
            continue
        w, h = geo[n.inputs[0]]
        if n.op == "maxpool2":
            if w % 2 or h % 2 or w < 6 or h < 6:
                raise UserError(f"maxpool2 {n.name!r}: its input is {w}x{h}; frame sizes must be even (and >= 6) "
                                "at every pool")
            w, h = w // 2, h // 2
        elif n.op == "upsample2":
            w, h = 2 * w, 2 * h
        geo[n.name] = (w, h)
    return geo


def _fit(v: Sig, bits: int) -> str:
    """Signed `v` as exactly `bits` bits: its low bits (range analysis proves the value fits), or sign-extended
    when narrower (a concat's unsigned channel beside wider signed ones: selecting past a wire's width is X)."""
    if v.width >= bits:
        return f"{v.name}[{bits - 1}:0]"
    return f"{{{{{bits - v.width}{{{v.name}[{v.width - 1}]}}}}, {v.name}}}"


def _fmt(graph: IntegerGraph, channels: dict[str, int], name: str) -> _Fmt:
    r = tensor_range(graph, name)
    return _Fmt(channels[name], r.bits, r.signed, r.lo, r.hi, r.exp)


def _kernel_matrix(node: ConvNode) -> np.ndarray:
    """(K, O) matrix; row k = tap * C + channel, tap = 3*ky + kx (the window generator's layout)."""
    w = node.weight_array  # (O, C, k, k)
    return w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])


def _choose_kernel(cfg: RtlConfig, node: ConvNode) -> KernelKind:
    if node.name in cfg.kernel_overrides:
        return cfg.kernel_overrides[node.name]
    if cfg.kernel != "auto":
        return cfg.kernel
    # da4ml's shared adder graph wins once several outputs share inputs (measured on ECP5, docs/rtl.md);
    # a kernel of one or two products per output has nothing to share.
    return "da4ml" if np.count_nonzero(node.weight_array) > 2 * node.out_channels else "mac"


class _StageBuilder:
    """Emits one stage module; records its depth (cycles front->FIFO) and buffering capacity."""

    def __init__(self, graph: IntegerGraph, cfg: RtlConfig, channels: dict[str, int], stage: Stage,
                 geometry: tuple[int, int], lanes: dict[str, int]):
        self.g, self.cfg, self.ch, self.st = graph, cfg, channels, stage
        self.w, self.h = geometry  # of the stage's input, in pixels
        self.n_in = lanes[stage.inputs[0]]  # pixels per input beat (every input of a join has the same)
        self.n = lanes[stage.output]  # pixels per output beat: differs from n_in after an upsample
        self.wb = self.w // self.n_in  # input beats per line
        self.in_fmts = [_fmt(graph, channels, t) for t in stage.inputs]
        self.out_fmt = _fmt(graph, channels, stage.output)
        self.kernel: Kernel | None = None
        self.kernel_kind: str = "-"

    def build(self) -> dict[str, str]:
        st, e = self.st, Emitter("s_")
        head = st.head
        sources: dict[str, str] = {}
        if isinstance(head, ConvNode):
            fin = self.in_fmts[0]
            self.kernel_kind = _choose_kernel(self.cfg, head)
            make = da4ml_kernel if self.kernel_kind == "da4ml" else mac_kernel
            self.kernel = make(f"{st.name}_kernel", _kernel_matrix(head), fin.bits, fin.signed, fin.lo, fin.hi)
            sources.update(self.kernel.sources)
            acc = self.kernel.acc_bits
            bias = head.bias or [0] * head.out_channels
            # Registered bias sum: the relu/requant/saturate chain after it gets a clock period of its own.
            lanes = [[e.reg(acc + 1, f"$signed(ky{n}[{o * acc} +: {acc}]) + {sconst(b, acc + 1)}", "acc")
                      for o, b in enumerate(bias)] for n in range(self.n)]
            exp = tensor_range(self.g, head.name).exp
        else:
            lanes, exp = [], 0
            for n in range(self.n):
                vals, exp = self._join_values(e, n)
                lanes.append(vals)
        for node in ([head] if st.kind == "pointwise" else []) + st.post:
            if node.op == "relu":
                lanes = [[e.relu(v) for v in vals] for vals in lanes]
            else:
                assert isinstance(node, RequantNode)
                q = node.quant
                lanes = [[e.requant(v, q.exp - exp, self.g.rounding, q.min_int, q.max_int) for v in vals]
                         for vals in lanes]
                exp = q.exp
        sources[f"{st.name}.v"] = self._module(e, lanes)
        return sources

    def _join_values(self, e: Emitter, lane: int) -> tuple[list[Sig], int]:
        """add: aligned sum per channel; concat: aligned channels in input order; others: identity."""
        head = self.st.head
        emin = min(f.exp for f in self.in_fmts)
        aligned = [[e.wire(f.bits + 1 + f.exp - emin, f"{f.field(f'xr{k}', c, lane)} <<< {f.exp - emin}", "al")
                    for c in range(f.channels)] for k, f in enumerate(self.in_fmts)]
        if head.op == "add":
            width = max(v.width for col in aligned for v in col) + 1
            return [e.wire(width, " + ".join(col[c].name for col in aligned), "sum")
                    for c in range(self.in_fmts[0].channels)], emin
        return [v for col in aligned for v in col], emin

    @property
    def latency(self) -> int:
        """Cycles from the front's register to the FIFO push: kernel, bias register, output register."""
        return (self.kernel.latency + 1 if self.kernel else 0) + 1

    @property
    def front_cycles(self) -> int:
        """Cycles from `emit_fire` to the front's `out_valid` (fg_window3's line buffers and columns run
        three cycles behind its tick, so that every block-RAM pin meets a flip-flop)."""
        return 4 if self.st.kind == "conv3" else 1

    @property
    def depth(self) -> int:
        return self.latency + self.front_cycles + CREDIT_MARGIN

    def capacity(self, upstream: float) -> float:
        """Pixels (at the output's resolution) held between the graph input and this stage's reader, given
        `upstream` held before it: FIFOs, a window's line of look-ahead, a pool's or upsampler's line."""
        kind, w = self.st.kind, self.wb
        if kind == "maxpool2" and self.n_in == 4 * self.n:  # beats 1:1: a line of maxima, two of results
            return upstream + 5 * w + 4 + self.depth
        if kind == "maxpool2":
            return (upstream + w + 2) / 4 + self.depth
        if kind == "upsample2" and self.n == 4 * self.n_in:  # beats 1:1, two lines of pairs buffered
            return upstream + 2 * w + 2 + self.depth
        if kind == "upsample2":
            return 4 * (upstream + w + 2) + self.depth
        return upstream + self.depth + (w + 2 if kind == "conv3" else 0)

    def _module(self, e: Emitter, lanes: list[list[Sig]]) -> str:
        st, fo, n = self.st, self.out_fmt, self.n
        n_in = len(self.in_fmts)
        ports = ["input wire clk", "input wire rst"]
        for k, f in enumerate(self.in_fmts):
            ports += [f"input wire [{self.n_in * f.width - 1}:0] in{k}_data", f"input wire in{k}_valid",
                      f"output wire in{k}_ready"]
        ports += [f"output wire [{n * fo.width - 1}:0] out_data", "output wire out_valid", "input wire out_ready"]
        d, nw = self.latency, max(self.depth.bit_length(), 1)
        body = [
            f"    localparam integer DEPTH = {self.depth};",
            f"    reg [{nw - 1}:0] occ;",
            "    reg credit_ok;  // == occ < DEPTH, registered: every in_ready/tready is then a gate or two off FFs",
            "    wire pop = out_valid && out_ready;",
            f"    wire [{nw - 1}:0] occ_next = occ + emit_fire - pop;",
            "    wire emit_fire, fv;",
        ]
        if st.kind == "conv3":
            fin = self.in_fmts[0]
            body += [
                f"    wire [{n * 9 * fin.width - 1}:0] xr0;",
                f"    fg_window3 #(.W({self.w}), .H({self.h}), .DW({fin.width}), .N({n})) win (.clk(clk), "
                ".rst(rst), .in_data(in0_data), .in_valid(in0_valid), .in_ready(in0_ready), .credit_ok(credit_ok), "
                ".emit_fire(emit_fire), .out_valid(fv), .out_win(xr0));",
            ]
        elif st.kind in ("maxpool2", "upsample2"):
            fin = self.in_fmts[0]
            module, geo = f"fg_{st.kind}", f".W({self.w}), .H({self.h})"
            if st.kind == "maxpool2":
                params = f".CH({fin.channels}), .B({fin.bits}), .SIGNED({int(fin.signed)})"
                if n != self.n_in:
                    module, geo, params = "fg_maxpool2_lanes", f".W({self.w})", f"{params}, .N({self.n_in})"
            elif n == self.n_in:
                params = f".DW({fin.width})"
            else:
                module, geo, params = "fg_upsample2_lanes", f".W({self.w})", f".DW({fin.width}), .N({self.n_in})"
            body += [
                f"    wire [{n * fin.width - 1}:0] xr0;",
                f"    {module} #({geo}, {params}) rate (.clk(clk), .rst(rst), "
                ".in_data(in0_data), .in_valid(in0_valid), .in_ready(in0_ready), .credit_ok(credit_ok), "
                ".emit_fire(emit_fire), .out_valid(fv), .out_data(xr0));",
            ]
        else:
            all_valid = " && ".join(f"in{k}_valid" for k in range(n_in))
            body += [f"    assign emit_fire = credit_ok && {all_valid};", "    reg fv_r;", "    assign fv = fv_r;"]
            for k, f in enumerate(self.in_fmts):
                others = " && ".join([f"in{m}_valid" for m in range(n_in) if m != k] or ["1'b1"])
                body += [f"    reg [{n * f.width - 1}:0] xr{k};", f"    assign in{k}_ready = credit_ok && {others};"]
            # xr loads every cycle (fv_r marks the real ones): the handshake drives no data enables.
            body += ["    always @(posedge clk) begin", "        fv_r <= rst ? 1'b0 : emit_fire;",
                     *[f"        xr{k} <= in{k}_data;" for k in range(n_in)], "    end"]
        if self.kernel:
            xw = (9 if st.kind == "conv3" else 1) * self.in_fmts[0].width  # one pixel's kernel input
            for m in range(n):
                body += [f"    wire [{fo.channels * self.kernel.acc_bits - 1}:0] ky{m};",
                         f"    {self.kernel.module} kern{m} (.clk(clk), .x(xr0[{m * xw} +: {xw}]), .y(ky{m}));"]
        body += e.lines
        body += [
            f"    reg [{d - 1}:0] vp;",
            f"    reg [{n * fo.width - 1}:0] pr;",
            "    always @(posedge clk) begin",
            f"        vp <= rst ? {d}'d0 : {{vp, fv}};" if d > 1 else "        vp <= rst ? 1'b0 : fv;",
            *[f"        pr[{(m * fo.channels + c) * fo.bits} +: {fo.bits}] <= {_fit(v, fo.bits)};"
              for m, vals in enumerate(lanes) for c, v in enumerate(vals)],
            "        occ <= rst ? 0 : occ_next;",
            # occ_next < DEPTH, from comparisons of the register (the handshake only selects; occ <= DEPTH)
            "        credit_ok <= rst || (emit_fire && !pop ? occ < DEPTH - 1 : pop || occ < DEPTH);",
            "    end",
            f"    fg_fifo #(.DW({n * fo.width}), .DEPTH(DEPTH)) q (.clk(clk), .rst(rst), .in_data(pr), "
            f".in_valid(vp[{d - 1}]), .in_ready(), .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready));",
        ]
        head = f"// Stage {st.name}: {st.head.op} {st.head.name}" + "".join(f" -> {n.op} {n.name}" for n in st.post)
        return "\n".join([head, "`timescale 1ns/1ps", f"module {st.name} (", "    " + ",\n    ".join(ports),
                          ");", *body, "endmodule", ""])


def generate(graph: IntegerGraph, cfg: RtlConfig) -> RtlDesign:
    """Verilog for `graph` streaming `cfg.width` x `cfg.height` frames; see the module docstring."""
    channels = _channels(graph)
    inp = graph.input
    stages = plan_stages(graph)
    geo = _geometry(graph, cfg)
    lanes = _lanes(graph, cfg, geo)
    builders = {s.output: _StageBuilder(graph, cfg, channels, s, geo[s.inputs[0]], lanes) for s in stages}
    sources: dict[str, str] = {}
    static = [RTL_DIR / name for name in LIBRARY]
    from tqdm import tqdm

    for b in tqdm(builders.values(), desc="RTL stages", unit="stage", leave=False):
        sources.update(b.build())
        if b.kernel:
            static += [p for p in b.kernel.static_sources if p not in static]

    # Buffering capacity from the input to each tensor, and the delay FIFOs on join inputs.
    cap: dict[str, float] = {inp.name: 0}
    skip: dict[tuple[str, int], int] = {}
    for s in stages:
        lead = max(cap[t] for t in s.inputs)
        if s.kind == "join":
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
        "top": cfg.top, "ir": graph.name, "width": cfg.width, "height": cfg.height, "lanes": cfg.lanes,
        "out_width": geo[graph.output][0], "out_height": geo[graph.output][1],
        "rounding": graph.rounding,
        "in_pixel_bits": _in_pixel_bits(inp, in_fmt),
        "s_axis_tdata_bits": cfg.lanes * _in_pixel_bits(inp, in_fmt),
        "out_lanes": lanes[graph.output],
        "m_axis_tdata_bits": 64 if cfg.peaks else lanes[graph.output] * out_fmt.width,
        "peaks": _peaks_report(cfg.peaks, geo[graph.output], lanes[graph.output]),
        "out_channels": out_fmt.channels, "out_bits": out_fmt.bits,
        "out_signed": out_fmt.signed,
        "stages": [{"name": s.name, "kind": s.kind, "nodes": [s.head.name] + [n.name for n in s.post],
                    "kernel": builders[s.output].kernel_kind, "lanes": lanes[s.output],
                    "pipeline_cycles": builders[s.output].latency + 1,
                    "out_bits": builders[s.output].out_fmt.bits} for s in stages],
        "skip_fifos": {f"{name}.in{k}": depth for (name, k), depth in skip.items()},
        "latency_cycles_estimate": latency_estimate(cfg, stages, builders,
                                                    INPUT_SLICE + (CAMERA_SLICE if inp.camera else 0)),
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


def latency_estimate(cfg: RtlConfig, stages: list[Stage], builders: dict[str, _StageBuilder],
                     input_cycles: int = INPUT_SLICE) -> int | None:
    """First pixel in to first pixel out, no stalls: the input slices, then per 3x3 stage W+1 pixels of
    look-ahead, plus each stage's register, kernel and FIFO cycles along the longest path; after a lanes
    upsample, the beat-time model of `schedule.py` (the first output line follows the input). None with
    one-lane rate changes (pool, upsample), where it depends on how the rates interleave: measure it."""
    from fluorogate.firmware.schedule import BeatStep, first_out_cycle

    if any(s.kind == "maxpool2" or (s.kind == "upsample2" and builders[s.output].n == builders[s.output].n_in)
           for s in stages):
        return None
    steps = []
    for s in stages:
        b = builders[s.output]
        here = b.latency + b.front_cycles + 1 + (b.wb + 1 if s.kind == "conv3" else 0)
        steps.append(BeatStep(s.output, s.inputs, s.kind, here, b.wb))
    if not steps:
        return input_cycles
    wb = cfg.width // cfg.lanes
    beats = min(cfg.height, 2 * len(steps) + 4) * wb
    return first_out_cycle(steps, stages[0].inputs[0], input_cycles, beats, stages[-1].output)


def _check_peaks(fmt: _Fmt) -> None:
    if fmt.channels != 1 or fmt.signed or fmt.bits > 12:
        raise UserError(f"peaks: the peak finder takes one unsigned channel of at most 12 bits; the graph's "
                        f"output has {fmt.channels} channel(s) of {'signed ' if fmt.signed else ''}{fmt.bits} bits")


def _peaks_report(peaks: PeakConfig | None, geo: tuple[int, int], lanes: int) -> dict | None:
    return None if peaks is None else {**peaks.model_dump(), "fifo_depth": fifo_depth(geo[0], lanes)}


def _in_pixel_bits(inp, fmt: _Fmt) -> int:
    """One input pixel on s_axis: every channel's camera ADU (multi-frame tasks: one frame per channel,
    channel c at bits [c*adu_bits, (c+1)*adu_bits)), or the input codes when there is no camera."""
    return fmt.channels * inp.camera.adu_bits if inp.camera else fmt.width


def _top(graph: IntegerGraph, cfg: RtlConfig, channels: dict[str, int], stages: list[Stage],
         builders: dict[str, _StageBuilder], skip: dict[tuple[str, int], int], out_geo: tuple[int, int],
         lanes: dict[str, int]) -> str:
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
        f"    fg_frontend #(.W({cfg.width // n}), .H({cfg.height}), .DW({adu_bits})) fe (.clk(clk), .rst(rst), "
        ".s_tdata(s_axis_tdata), .s_tvalid(s_axis_tvalid), .s_tuser(s_axis_tuser), .s_tlast(s_axis_tlast), "
        ".s_tready(s_axis_tready), .px_data(px_data), .px_valid(px_valid), .px_ready(px_ready), "
        ".clear_errors(clear_errors), .err_line_length(err_line_length), .err_missing_sof(err_missing_sof), "
        ".frames_in(frames_in));",
    ]
    # Camera conversion: codes = sat(round_shift(adu - offset, shift)), on the input quantizer's range, with
    # a register slice (a 2-word FIFO: full rate, ready and valid from registers) after the subtraction and
    # another after the requantization (CAMERA_SLICE + INPUT_SLICE cycles): the front end's state logic, the
    # subtraction, the rounding and the first stages' handshake each get a clock period of their own.
    t_in = vname(inp.name)
    lines += [f"    wire [{n * fin.width - 1}:0] {t_in}_data, cam_data;", f"    wire {t_in}_valid, {t_in}_ready;",
              "    wire cam_valid, cam_ready;",
              f"    fg_fifo #(.DW({n * fin.width}), .DEPTH(2)) in_slice (.clk(clk), .rst(rst), .in_data(cam_data), "
              f".in_valid(cam_valid), .in_ready(cam_ready), .out_data({t_in}_data), .out_valid({t_in}_valid), "
              f".out_ready({t_in}_ready));"]
    if inp.camera:
        cam, e, fields = inp.camera, Emitter("cam_"), n * fin.channels  # every channel of every lane
        dw = cam.adu_bits + 2
        lines += [f"    wire [{fields * dw - 1}:0] cam_diff, cam_diff_r;",
                  f"    fg_fifo #(.DW({fields * dw}), .DEPTH(2)) cam_slice (.clk(clk), .rst(rst), .in_data(cam_diff), "
                  ".in_valid(px_valid), .in_ready(px_ready), .out_data(cam_diff_r), .out_valid(cam_valid), "
                  ".out_ready(cam_ready));"]
        for f in range(fields):
            adu = sx(f"px_data[{f * cam.adu_bits} +: {cam.adu_bits}]", False)
            e.lines.append(f"    assign cam_diff[{f * dw} +: {dw}] = {adu} - {sconst(cam.offset, dw)};")
            diff = e.wire(dw, f"cam_diff_r[{f * dw} +: {dw}]", "d")
            code = e.requant(diff, cam.shift, graph.rounding, inp.quant.min_int, inp.quant.max_int)
            e.lines.append(f"    assign cam_data[{f * fin.bits} +: {fin.bits}] = {code.name}[{fin.bits - 1}:0];")
        lines += e.lines
    else:
        lines.append("    assign cam_data = px_data, cam_valid = px_valid, px_ready = cam_ready;")

    # Readers of each tensor: stage input ports (through a skip FIFO where planned) and the top output.
    readers: dict[str, list[str]] = {}
    for s in stages:
        b = builders[s.output]
        t_out = vname(s.output)
        lines += [f"    wire [{lanes[s.output] * b.out_fmt.width - 1}:0] {t_out}_data;",
                  f"    wire {t_out}_valid, {t_out}_ready;"]
    for s in stages:
        b = builders[s.output]
        conns = [".clk(clk)", ".rst(rst)"]
        for k, t in enumerate(s.inputs):
            port = f"{s.name}_in{k}"
            bw = lanes[t] * b.in_fmts[k].width
            lines += [f"    wire [{bw - 1}:0] {port}_data;", f"    wire {port}_valid, {port}_ready;"]
            if (s.name, k) in skip:
                lines += [f"    wire [{bw - 1}:0] {port}_q_data;", f"    wire {port}_q_valid, {port}_q_ready;",
                          f"    {'fg_fifo_bram' if skip[(s.name, k)] >= BRAM_FIFO_MIN else 'fg_fifo'} "
                          f"#(.DW({bw}), .DEPTH({skip[(s.name, k)]})) {port}_skip (.clk(clk), "
                          f".rst(rst), .in_data({port}_q_data), .in_valid({port}_q_valid), .in_ready({port}_q_ready), "
                          f".out_data({port}_data), .out_valid({port}_valid), .out_ready({port}_ready));"]
                readers.setdefault(t, []).append(f"{port}_q")
            else:
                readers.setdefault(t, []).append(port)
            conns += [f".in{k}_data({port}_data)", f".in{k}_valid({port}_valid)", f".in{k}_ready({port}_ready)"]
        t_out = vname(s.output)
        conns += [f".out_data({t_out}_data)", f".out_valid({t_out}_valid)", f".out_ready({t_out}_ready)"]
        lines.append(f"    {s.name} u_{s.name} ({', '.join(conns)});")
    sink = "loc_in" if cfg.peaks else "m_axis"
    readers.setdefault(graph.output, []).append(sink)
    lines += [f"    wire [{lanes[graph.output] * fout.width - 1}:0] {sink}_data;", f"    wire {sink}_valid, {sink}_ready;"]
    if not cfg.peaks:
        lines += ["    assign m_axis_ready = m_axis_tready;", "    assign m_axis_tdata = m_axis_data;",
                  "    assign m_axis_tvalid = m_axis_valid;"]
    # Forks: a beat leaves a tensor when every reader takes it (readers' ready never depends on valid).
    for t, rs in readers.items():
        src = vname(t)
        lines.append(f"    assign {src}_ready = {' && '.join(f'{r}_ready' for r in rs)};")
        for r in rs:
            others = [f"{o}_ready" for o in rs if o != r]
            lines += [f"    assign {r}_data = {src}_data;",
                      f"    assign {r}_valid = {' && '.join([f'{src}_valid', *others])};"]
    if cfg.peaks:
        return "\n".join(lines + _peaks_tail(cfg.peaks, out_geo, lanes[graph.output], fout.bits))
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
        "        if (rst) begin",
        "            ocol <= 0; orow <= 0; frames_out <= 0; frame_out_done <= 1'b0;",
        "        end else begin",
        # frames_out counts a cycle later: the 32-bit counter sits by the board's pins, off the handshake
        f"            frame_out_done <= m_axis_tvalid && m_axis_tready && m_axis_tlast && orow == {oh - 1};",
        "            if (frame_out_done) frames_out <= frames_out + 1;",
        "        end",
        "        if (!rst && m_axis_tvalid && m_axis_tready) begin",
        "            ocol <= m_axis_tlast ? 0 : ocol + 1;",
        f"            if (m_axis_tlast) orow <= (orow == {oh - 1}) ? 0 : orow + 1;",
        "        end",
        "    end",
        "endmodule",
        "",
    ]
    return "\n".join(lines)


def _peaks_tail(peaks: PeakConfig, out_geo: tuple[int, int], lanes: int, bits: int) -> list[str]:
    """The peak finder on the output map, m_axis = its localization words: tuser on a frame's first word,
    tlast on its end word, frames_out counting end words (a cycle later, as the map's framing does)."""
    from fluorogate.firmware.peaks import peaks_instance

    return [
        peaks_instance(out_geo[0], out_geo[1], bits, lanes, peaks, "loc_in_", "m_axis_t", "clear_errors"),
        "    reg sof, frame_out_done;",
        "    assign m_axis_tuser = sof;",
        "    always @(posedge clk) begin",
        "        if (rst) begin",
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
