"""maxpool2 and upsample2: rate-changing fronts (firmware/rtl/fg_maxpool2*.v, fg_upsample2*.v).

One lane in and out, the rate changes inside the block; with lanes, the pool takes 4N lanes to N
(`fg_maxpool2_lanes`) and the upsample N to 4N (`fg_upsample2_lanes`), so every stage keeps the input's
beat rate.
"""

from __future__ import annotations

from fluorogate.errors import UserError
from fluorogate.firmware.schedule import BeatStep
from fluorogate.firmware.stages.base import STAGES, StageBuilder
from fluorogate.quantize.ir import OpNode


class _RateStage(StageBuilder):
    def _rate_module(self, module: str, geo: str, params: str) -> list[str]:
        fin = self.in_fmts[0]
        return [
            f"    wire [{self.n * fin.width - 1}:0] xr0;",
            f"    {module} #({geo}, {params}) rate (.clk(clk), .rst(rst), "
            ".in_data(in0_data), .in_valid(in0_valid), .in_ready(in0_ready), .credit_ok(credit_ok), "
            ".emit_fire(emit_fire), .out_valid(fv), .out_data(xr0));",
        ]

    @classmethod
    def _lanes_error(cls, node: OpNode, n_in: int, n_out: int, width: int) -> UserError:
        return UserError(
            f"{node.op} {node.name!r}: {n_in} lane(s) in, {n_out} out at width {width} is not built; "
            "upsample2 takes N lanes to 4N (output width a multiple of 4N), maxpool2 4N to N "
            "(output width a multiple of 2N) or 1 to 1: use --lanes 1 or 4, or another width"
        )


@STAGES.register("maxpool2")
class MaxPoolStage(_RateStage):
    kind = "maxpool2"

    @classmethod
    def check_size(cls, node: OpNode, width: int, height: int) -> None:
        if width < 6 or height < 6:
            raise UserError(
                f"maxpool2 {node.name!r}: its input is {width}x{height}; frame sizes must be even "
                "(and >= 6) at every pool"
            )

    @classmethod
    def check_lanes(cls, node: OpNode, n_in: int, n_out: int, width: int) -> None:
        if n_in == 4 * n_out and width % n_out == 0 and width >= 2 * n_out:
            return  # fg_maxpool2_lanes (at least two beats per input line)
        if n_in == n_out == 1:
            return  # fg_maxpool2: one lane, the rate changes inside
        raise cls._lanes_error(node, n_in, n_out, width)

    def front(self) -> list[str]:
        fin = self.in_fmts[0]
        params = f".CH({fin.channels}), .B({fin.bits}), .SIGNED({int(fin.signed)})"
        if self.n != self.n_in:
            return self._rate_module("fg_maxpool2_lanes", f".W({self.w})", f"{params}, .N({self.n_in})")
        return self._rate_module("fg_maxpool2", f".W({self.w}), .H({self.h})", params)

    def capacity(self, upstream: float) -> float:
        w = self.wb
        if self.n_in == 4 * self.n:  # beats 1:1: a line of maxima, two of results
            return upstream + 5 * w + 4 + self.depth
        return (upstream + w + 2) / 4 + self.depth

    def beat_step(self) -> BeatStep | None:
        return None  # when the first output leaves depends on how the two rates interleave: measure it


@STAGES.register("upsample2")
class UpsampleStage(_RateStage):
    kind = "upsample2"

    @classmethod
    def check_lanes(cls, node: OpNode, n_in: int, n_out: int, width: int) -> None:
        if n_out == 4 * n_in and width % n_out == 0:
            return  # fg_upsample2_lanes
        if n_in == n_out == 1:
            return  # fg_upsample2: one lane, the rate changes inside
        raise cls._lanes_error(node, n_in, n_out, width)

    def front(self) -> list[str]:
        fin = self.in_fmts[0]
        if self.n == self.n_in:
            return self._rate_module("fg_upsample2", f".W({self.w}), .H({self.h})", f".DW({fin.width})")
        return self._rate_module("fg_upsample2_lanes", f".W({self.w})", f".DW({fin.width}), .N({self.n_in})")

    def capacity(self, upstream: float) -> float:
        w = self.wb
        if self.n == 4 * self.n_in:  # beats 1:1, two lines of pairs buffered
            return upstream + 2 * w + 2 + self.depth
        return 4 * (upstream + w + 2) + self.depth

    def beat_step(self) -> BeatStep | None:
        """With lanes, output beat m shows input line m // wb, pair m % (wb/2): it waits for that pair's
        second beat, and the pair's write adds a cycle. One lane: the rates interleave, None (measure)."""
        if self.n == self.n_in:
            return None
        wb, p = self.wb, self.wb // 2
        here = self.latency + self.front_cycles + 1
        return BeatStep(self.st.output, self.st.inputs, lambda m: (m // wb) * wb + 2 * (m % p) + 1, here + 1)
