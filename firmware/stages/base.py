"""The RTL's stage builder: what every stage module shares, and the hooks an op's stage type fills in.

A stage (`Stage`) is one head node plus the element-wise nodes fused after it (`plan.plan_stages`).
Its module has a front (a window generator, a rate-changing block, or a register), the head's
arithmetic (`values`: a constant-weight kernel and its bias, an aligned sum, ...), the fused chain
(`fuse`, per fused op), and an output FIFO behind a credit counter, so the kernel pipelines never
stall. Each IR op has one `StageBuilder` subclass, registered in `STAGES` under its op name (FINN's
`HWCustomOp` subclass per layer, in spirit); its hooks also give the generator's buffering model
(`capacity`, for the skip FIFOs), its latency model (`beat_step`, `firmware/schedule.py`) and the
lane and frame sizes it can take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from fluorogate.errors import UserError
from fluorogate.firmware.kernels import Kernel
from fluorogate.firmware.schedule import BeatStep
from fluorogate.firmware.verilog import Emitter, Sig, fit, sx
from fluorogate.quantize.ir import IntegerGraph, OpNode, TensorRange
from fluorogate.quantize.ops.registry import Registry

CREDIT_MARGIN = 3  # FIFO words beyond the pipeline depth: lets a stage sustain one pixel per clock


@dataclass
class Stage:
    name: str  # Verilog-safe
    kind: str  # the stage type's name in the design report (conv3, conv1, join, pointwise, ...)
    head: OpNode
    post: list[OpNode] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # tensor names read

    @property
    def output(self) -> str:
        return (self.post[-1] if self.post else self.head).name


def vname(name: str) -> str:
    """A Verilog identifier for an IR node name."""
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def tensor_range(graph: IntegerGraph, name: str) -> TensorRange:
    try:
        return graph.ranges[name]
    except KeyError:
        raise UserError(
            f"IR {graph.name!r}: tensor {name!r} has no range; the RTL generator needs the "
            "range analysis (fluorogate.quantize.ranges) filled into graph.ranges"
        ) from None


@dataclass(frozen=True)
class Fmt:
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


def tensor_fmt(graph: IntegerGraph, channels: dict[str, int], name: str) -> Fmt:
    r = tensor_range(graph, name)
    return Fmt(channels[name], r.bits, r.signed, r.lo, r.hi, r.exp)


class StageBuilder:
    """Emits one stage module; records its depth (cycles front->FIFO) and buffering capacity.

    The defaults are a stage with a register front that passes its inputs, aligned, to the fused chain.
    """

    kind: ClassVar[str] = ""  # the report's name of the stage type (see `stage_kind`)
    head_fuses: ClassVar[bool] = False  # the head itself is an element-wise op run by `fuse`
    fusable: ClassVar[bool] = False  # may be fused after another stage's head (relu, requant)
    taps: int = 1  # input pixels per kernel evaluation (a k x k window: k * k)

    def __init__(
        self,
        graph: IntegerGraph,
        cfg,
        channels: dict[str, int],
        stage: Stage,
        geometry: tuple[int, int],
        lanes: dict[str, int],
    ):
        self.g, self.cfg, self.ch, self.st = graph, cfg, channels, stage
        self.w, self.h = geometry  # of the stage's input, in pixels
        self.n_in = lanes[stage.inputs[0]]  # pixels per input beat (every input of a join has the same)
        self.n = lanes[stage.output]  # pixels per output beat: differs from n_in after an upsample
        self.wb = self.w // self.n_in  # input beats per line
        self.in_fmts = [tensor_fmt(graph, channels, t) for t in stage.inputs]
        self.out_fmt = tensor_fmt(graph, channels, stage.output)
        self.kernel: Kernel | None = None
        self.kernel_kind: str = "-"

    # --- what the planner and the generator ask of the op, before any stage is built ---------------

    @classmethod
    def stage_kind(cls, node: OpNode) -> str:
        return cls.kind

    @classmethod
    def check_size(cls, node: OpNode, width: int, height: int) -> None:
        """UserError when the stage cannot take a `width` x `height` input tensor."""

    @classmethod
    def check_lanes(cls, node: OpNode, n_in: int, n_out: int, width: int) -> None:
        """UserError when the stage cannot take `n_in` input lanes to `n_out` at output width `width`."""

    @classmethod
    def fuse(cls, e: Emitter, node: OpNode, lanes: list[list[Sig]], exp: int, graph: IntegerGraph):
        """A fusable op on every value of every lane: (new lanes, their exp)."""
        raise NotImplementedError(f"IR op {node.op!r} cannot be fused into a stage")

    # --- the module ---------------------------------------------------------------------------------

    def build(self) -> dict[str, str]:
        st, e = self.st, Emitter("s_")
        sources: dict[str, str] = {}
        lanes, exp = self.values(e, sources)
        for node in ([st.head] if self.head_fuses else []) + st.post:
            lanes, exp = STAGES.lookup(node).fuse(e, node, lanes, exp, self.g)
        sources[f"{st.name}.v"] = self._module(e, lanes)
        return sources

    def values(self, e: Emitter, sources: dict[str, str]) -> tuple[list[list[Sig]], int]:
        """The head's values per output lane, and their exp (kernel sources go into `sources`)."""
        lanes, exp = [], 0
        for n in range(self.n):
            vals, exp = self.combine(e, self.aligned(e, n))
            lanes.append(vals)
        return lanes, exp

    def aligned(self, e: Emitter, lane: int) -> list[list[Sig]]:
        """Every channel of every input of pixel `lane`, brought onto the smallest input exp."""
        emin = min(f.exp for f in self.in_fmts)
        return [
            [
                e.wire(f.bits + 1 + f.exp - emin, f"{f.field(f'xr{k}', c, lane)} <<< {f.exp - emin}", "al")
                for c in range(f.channels)
            ]
            for k, f in enumerate(self.in_fmts)
        ]

    def combine(self, e: Emitter, aligned: list[list[Sig]]) -> tuple[list[Sig], int]:
        """The head's op on the aligned inputs (default: the channels in input order)."""
        return [v for col in aligned for v in col], min(f.exp for f in self.in_fmts)

    def front(self) -> list[str]:
        """The module's front: a register of every input, loaded when the credit allows (default)."""
        n, n_in = self.n, len(self.in_fmts)
        all_valid = " && ".join(f"in{k}_valid" for k in range(n_in))
        body = [f"    assign emit_fire = credit_ok && {all_valid};", "    reg fv_r;", "    assign fv = fv_r;"]
        for k, f in enumerate(self.in_fmts):
            others = " && ".join([f"in{m}_valid" for m in range(n_in) if m != k] or ["1'b1"])
            body += [
                f"    reg [{n * f.width - 1}:0] xr{k};",
                f"    assign in{k}_ready = credit_ok && {others};",
            ]
        # xr loads every cycle (fv_r marks the real ones): the handshake drives no data enables.
        return [
            *body,
            "    always @(posedge clk) begin",
            "        fv_r <= rst ? 1'b0 : emit_fire;",
            *[f"        xr{k} <= in{k}_data;" for k in range(n_in)],
            "    end",
        ]

    def static_sources(self) -> list[Path]:
        """Library files (firmware/rtl/) this stage instantiates beyond `library.LIBRARY`."""
        return list(self.kernel.static_sources) if self.kernel else []

    # --- timing and buffering ----------------------------------------------------------------------

    @property
    def latency(self) -> int:
        """Cycles from the front's register to the FIFO push: kernel, bias register, output register."""
        return (self.kernel.latency + 1 if self.kernel else 0) + 1

    @property
    def front_cycles(self) -> int:
        """Cycles from `emit_fire` to the front's `out_valid`."""
        return 1

    @property
    def depth(self) -> int:
        return self.latency + self.front_cycles + CREDIT_MARGIN

    @property
    def lookahead(self) -> int:
        """Input beats the stage needs past the one an output is centred on (a window's rows below it)."""
        return 0

    def capacity(self, upstream: float) -> float:
        """Pixels (at the output's resolution) held between the graph input and this stage's reader, given
        `upstream` held before it: FIFOs, a window's look-ahead, a pool's or upsampler's line."""
        return upstream + self.depth

    def beat_step(self) -> BeatStep | None:
        """This stage in the beat-time latency model (`schedule.py`); None where it does not apply."""
        here = self.latency + self.front_cycles + 1 + self.lookahead
        return BeatStep(self.st.output, self.st.inputs, lambda m: m, here)

    # --- the module text -----------------------------------------------------------------------------

    def _module(self, e: Emitter, lanes: list[list[Sig]]) -> str:
        st, fo, n = self.st, self.out_fmt, self.n
        ports = ["input wire clk", "input wire rst"]
        for k, f in enumerate(self.in_fmts):
            ports += [
                f"input wire [{self.n_in * f.width - 1}:0] in{k}_data",
                f"input wire in{k}_valid",
                f"output wire in{k}_ready",
            ]
        ports += [
            f"output wire [{n * fo.width - 1}:0] out_data",
            "output wire out_valid",
            "input wire out_ready",
        ]
        d, nw = self.latency, max(self.depth.bit_length(), 1)
        body = [
            f"    localparam integer DEPTH = {self.depth};",
            f"    reg [{nw - 1}:0] occ;",
            "    reg credit_ok;  // == occ < DEPTH, registered: every in_ready/tready is then a gate or two "
            "off FFs",
            "    wire pop = out_valid && out_ready;",
            f"    wire [{nw - 1}:0] occ_next = occ + emit_fire - pop;",
            "    wire emit_fire, fv;",
        ]
        body += self.front()
        if self.kernel:
            xw = self.taps * self.in_fmts[0].width  # one pixel's kernel input
            for m in range(n):
                body += [
                    f"    wire [{fo.channels * self.kernel.acc_bits - 1}:0] ky{m};",
                    f"    {self.kernel.module} kern{m} (.clk(clk), .x(xr0[{m * xw} +: {xw}]), .y(ky{m}));",
                ]
        body += e.lines
        body += [
            f"    reg [{d - 1}:0] vp;",
            f"    reg [{n * fo.width - 1}:0] pr;",
            "    always @(posedge clk) begin",
            f"        vp <= rst ? {d}'d0 : {{vp, fv}};" if d > 1 else "        vp <= rst ? 1'b0 : fv;",
            *[
                f"        pr[{(m * fo.channels + c) * fo.bits} +: {fo.bits}] <= {fit(v, fo.bits)};"
                for m, vals in enumerate(lanes)
                for c, v in enumerate(vals)
            ],
            "        occ <= rst ? 0 : occ_next;",
            # occ_next < DEPTH, from comparisons of the register (the handshake only selects; occ <= DEPTH)
            "        credit_ok <= rst || (emit_fire && !pop ? occ < DEPTH - 1 : pop || occ < DEPTH);",
            "    end",
            f"    fg_fifo #(.DW({n * fo.width}), .DEPTH(DEPTH)) q (.clk(clk), .rst(rst), .in_data(pr), "
            f".in_valid(vp[{d - 1}]), .in_ready(), .out_data(out_data), .out_valid(out_valid), "
            ".out_ready(out_ready));",
        ]
        head = f"// Stage {st.name}: {st.head.op} {st.head.name}" + "".join(
            f" -> {n.op} {n.name}" for n in st.post
        )
        return "\n".join(
            [
                head,
                "`timescale 1ns/1ps",
                f"module {st.name} (",
                "    " + ",\n    ".join(ports),
                ");",
                *body,
                "endmodule",
                "",
            ]
        )


STAGES: Registry[type[StageBuilder]] = Registry("the RTL generator")
