"""Convolutions: a window front (1x1: a register; 3x3: fg_window3; 5x5: fg_windowk), the constant-weight
kernel of the op's weights (`kernels.py`: shared shift-add da4ml or plain MAC), a registered bias sum.

`ConvStage` is the dense `conv`; `DepthwiseStage` the depthwise `dwconv`, the same stage with a kernel
matrix that reads each channel's own window only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fluorogate.errors import UserError
from fluorogate.firmware.kernels import da4ml_kernel, mac_kernel
from fluorogate.firmware.library import RTL_DIR
from fluorogate.firmware.schedule import BeatStep
from fluorogate.firmware.stages.base import STAGES, StageBuilder, tensor_range
from fluorogate.firmware.verilog import Emitter, Sig, sconst, signed_bits
from fluorogate.quantize.ops.conv import WindowConv

WINDOW_K = "fg_windowk.v"  # the k x k window generator for k other than 3 (fg_window3 is in LIBRARY)


@STAGES.register("conv")
class ConvStage(StageBuilder):
    """A k x k conv: its window (k > 1) from the input stream, one kernel per output lane."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.k = self.st.head.kernel
        self.taps = self.k * self.k
        self.pad = self.k // 2
        self.pad_beats = -(-self.pad // self.n_in)  # beats a window reaches left and right of its centre beat

    @classmethod
    def stage_kind(cls, node: WindowConv) -> str:
        return f"{node.op}{node.kernel}"

    @classmethod
    def check_size(cls, node: WindowConv, width: int, height: int) -> None:
        if node.kernel > 3 and (width < node.kernel or height < node.kernel):
            raise UserError(
                f"{node.op} {node.name!r}: its input is {width}x{height}; a {node.kernel}x{node.kernel} "
                f"window needs at least {node.kernel}x{node.kernel}"
            )

    @classmethod
    def check_lanes(cls, node: WindowConv, n_in: int, n_out: int, width: int) -> None:
        # One beat per line: the window's prefetched line-buffer read and its write meet at one address in
        # one cycle (measured: fg_window3 at width 4 with 4 lanes streams undefined data).
        if node.kernel > 1 and width // n_in < 2:
            raise UserError(
                f"{node.op} {node.name!r}: a {node.kernel}x{node.kernel} window needs at least two "
                f"beats per line; {width} pixels at {n_in} lanes is one: use fewer lanes"
            )

    def kernel_matrix(self) -> np.ndarray:
        """(K, O) matrix; row k = tap * C + channel, tap = k*ky + kx (the window generator's layout)."""
        w = self.st.head.weight_array  # (O, C, k, k)
        return w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])

    def choose_kernel(self) -> str:
        head, cfg = self.st.head, self.cfg
        if head.name in cfg.kernel_overrides:
            return cfg.kernel_overrides[head.name]
        if cfg.kernel != "auto":
            return cfg.kernel
        # da4ml's shared adder graph wins once several outputs share inputs (measured on ECP5, docs/rtl.md);
        # a kernel of one or two products per output has nothing to share.
        return "da4ml" if np.count_nonzero(head.weight_array) > 2 * head.out_channels else "mac"

    def values(self, e: Emitter, sources: dict[str, str]) -> tuple[list[list[Sig]], int]:
        st, head, fin = self.st, self.st.head, self.in_fmts[0]
        self.kernel_kind = self.choose_kernel()
        make = da4ml_kernel if self.kernel_kind == "da4ml" else mac_kernel
        bound = int(max(head.product_bounds(tensor_range(self.g, head.inputs[0])), default=0))
        self.kernel = make(
            f"{st.name}_kernel", self.kernel_matrix(), fin.bits, fin.signed, fin.lo, fin.hi, bound
        )
        sources.update(self.kernel.sources)
        acc = self.kernel.acc_bits
        bias = head.bias or [0] * head.out_channels
        # Registered bias sum: the relu/requant/saturate chain after it gets a clock period of its own. Its
        # width holds the kernel's sum plus the largest bias (a bias may exceed every product sum: a 1x1
        # conv of +-1 weights with a bias of 420 on 8-bit inputs needs 11 bits, not the kernel's 9 + 1).
        width = max(acc + 1, signed_bits(bound + max(map(abs, bias), default=0)))
        lanes = [
            [
                e.reg(width, f"$signed(ky{n}[{o * acc} +: {acc}]) + {sconst(b, width)}", "acc")
                for o, b in enumerate(bias)
            ]
            for n in range(self.n)
        ]
        return lanes, tensor_range(self.g, head.name).exp

    def front(self) -> list[str]:
        if self.k == 1:
            return super().front()
        fin, n = self.in_fmts[0], self.n
        if self.k == 3:
            module = f"fg_window3 #(.W({self.w}), .H({self.h}), .DW({fin.width}), .N({n}))"
        else:
            module = f"fg_windowk #(.K({self.k}), .W({self.w}), .H({self.h}), .DW({fin.width}), .N({n}))"
        return [
            f"    wire [{n * self.taps * fin.width - 1}:0] xr0;",
            f"    {module} win (.clk(clk), "
            ".rst(rst), .in_data(in0_data), .in_valid(in0_valid), .in_ready(in0_ready), "
            ".credit_ok(credit_ok), .emit_fire(emit_fire), .out_valid(fv), .out_win(xr0));",
        ]

    def static_sources(self) -> list[Path]:
        return super().static_sources() + ([RTL_DIR / WINDOW_K] if self.k > 3 else [])

    @property
    def front_cycles(self) -> int:
        """fg_window3's line buffers and columns run three cycles behind its tick (every block-RAM pin meets
        a flip-flop), then a register: 4; fg_windowk's k - 1 line buffers likewise: k + 1; 1x1: a register."""
        return 1 if self.k == 1 else 4 if self.k == 3 else self.k + 1

    @property
    def lookahead(self) -> int:
        """The window centred on beat m needs beat m + pad lines + pad beats (the bottom-right tap's beat)."""
        return self.pad * self.wb + self.pad_beats

    def capacity(self, upstream: float) -> float:
        if self.k == 1:
            return super().capacity(upstream)
        return upstream + self.depth + (self.pad * self.wb + 2 * self.pad_beats)

    def beat_step(self) -> BeatStep | None:
        step = super().beat_step()
        la = self.lookahead
        return BeatStep(step.output, step.inputs, lambda m: m + la, step.delay - la) if la else step


@STAGES.register("dwconv")
class DepthwiseStage(ConvStage):
    """Depthwise: output channel c sums channel c's k x k window only."""

    def kernel_matrix(self) -> np.ndarray:
        w = self.st.head.weight_array  # (C, 1, k, k)
        c = w.shape[0]
        taps = w[:, 0].reshape(c, -1).T  # (k*k, C): tap t of channel c
        m = np.zeros((taps.shape[0], c, c), dtype=np.int64)
        m[:, np.arange(c), np.arange(c)] = taps
        return m.reshape(-1, c)
