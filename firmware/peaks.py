"""The SMLM peak finder's Verilog: `fg_peaks3` (library) instantiated with its integer parameters behind the
network (`generate.py`, `RtlConfig(peaks=...)`; the block test puts it under a top of its own).

The instance is generated (not passed as simulator parameters) because the bias-correction table is
a (2**(F+1)+1)-byte vector: as a sized hex literal it reaches every simulator and yosys unchanged.
"""

from __future__ import annotations

from fluorogate.quantize.peaks import PeakConfig, fifo_depth


def table_literal(cfg: PeakConfig) -> str:
    """The table as a Verilog hex literal, entry k in bits [8k +: 8] (two's complement bytes)."""
    table = cfg.table()
    value = sum((int(t) & 255) << (8 * k) for k, t in enumerate(table))
    return f"{8 * len(table)}'h{value:x}"


def peaks_instance(
    width: int,
    height: int,
    bits: int,
    lanes: int,
    cfg: PeakConfig,
    inp: str,
    out: str,
    clear: str,
    rst: str = "rst",
) -> str:
    """`fg_peaks3` on a `width` x `height` map of `bits`-bit codes, `lanes` per beat: input `{inp}data`,
    `valid`, `ready`; output `{out}data`, `valid`, `ready`, `last` (prefixes); status `loc_overflow`,
    `loc_dropped` (cleared by `clear`), reset by `rst`. The FIFO depth is `fifo_depth(width, lanes)`."""
    return (
        f"    fg_peaks3 #(.W({width}), .H({height}), .DW({bits}), .N({lanes}), .THRESH({cfg.threshold}), "
        f".BASE({cfg.baseline}), .F({cfg.frac_bits}), .TABLE({table_literal(cfg)}), "
        f".DEPTH({fifo_depth(width, lanes)})) peaks (\n"
        f"        .clk(clk), .rst({rst}),\n"
        f"        .in_data({inp}data), .in_valid({inp}valid), .in_ready({inp}ready),\n"
        f"        .out_data({out}data), .out_valid({out}valid), .out_ready({out}ready),\n"
        f"        .out_last({out}last),\n"
        f"        .clear({clear}), .overflow(loc_overflow), .dropped(loc_dropped));"
    )
