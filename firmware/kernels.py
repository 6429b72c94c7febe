"""Per-pixel constant-weight kernels: `y = M.T @ x` for one output pixel, as a free-running pipeline.

Two implementations of the same module interface, chosen per layer by the generator:
- `mac`: a plain sum of constant products, split into registered partial sums (synthesis maps the
  constant multiplies to LUTs or DSPs);
- `da4ml`: da4ml 0.6 turns the constant matrix into one shared shift-add adder graph (no multipliers),
  emitted in its pipelined form (its combinational form did not route on ECP5, issue #7).
Neither pipeline can stall: the generator wraps them with a credit counter and an output FIFO.

Module interface: `module NAME (input clk, input [K*B-1:0] x, output [O*AW-1:0] y)`; input k is the
B-bit field `x[k*B +: B]` (two's complement if `signed`, else unsigned), output o is the signed AW-bit
field `y[o*AW +: AW]`; `latency` cycles from x to y. The bias is not included (the stage adds it). `x` must
come from flip-flops (both forms start with logic, not a register): the stages feed it from their window
or front register.
AW holds `bound`, the largest |sum| of one output's products, which the IR proves
(`WindowConv.product_bounds`: the same bound the range analysis and the reference use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fluorogate.firmware.verilog import sconst, signed_bits, sx

DA4ML_LATENCY_CUTOFF = 2.0  # da4ml delay units (~adders) per pipeline stage: 72x8 3x3 conv -> 4-5 stages
MAC_GROUP = 24  # products per registered partial sum in the MAC form


@dataclass(frozen=True)
class Kernel:
    module: str
    sources: dict[str, str]  # file name -> Verilog text
    latency: int
    acc_bits: int
    static_sources: list[Path] = field(default_factory=list)  # library files to copy beside them


def mac_kernel(
    name: str, matrix: np.ndarray, bits: int, signed: bool, lo: int, hi: int, bound: int
) -> Kernel:
    """Sum of constant products in registered partial sums of MAC_GROUP terms, then their sum (2 cycles)."""
    k_in, n_out = matrix.shape
    acc = signed_bits(bound)
    groups = [range(s, min(s + MAC_GROUP, k_in)) for s in range(0, k_in, MAC_GROUP)]
    lines = [
        f"module {name} (input wire clk, input wire [{k_in * bits - 1}:0] x, output reg "
        f"[{n_out * acc - 1}:0] y);",
    ]
    seq = []
    for o in range(n_out):
        parts = []
        for g, rows in enumerate(groups):
            terms = []
            for k in rows:
                w = int(matrix[k, o])
                if w == 0:
                    continue
                xs = sx(f"x[{k * bits} +: {bits}]", signed)
                terms.append(f"{xs}" if w == 1 else f"-{xs}" if w == -1 else f"{sconst(w, acc)} * {xs}")
            if not terms:
                continue
            p = f"p{o}_{g}"
            lines.append(f"    reg signed [{acc - 1}:0] {p};")
            seq.append(f"        {p} <= {' + '.join(terms)};")
            parts.append(p)
        seq.append(f"        y[{o * acc} +: {acc}] <= {' + '.join(parts) if parts else 0};")
    lines += ["    always @(posedge clk) begin", *seq, "    end", "endmodule", ""]
    return Kernel(name, {f"{name}.v": "\n".join(lines)}, latency=2, acc_bits=acc)


def da4ml_kernel(
    name: str, matrix: np.ndarray, bits: int, signed: bool, lo: int, hi: int, bound: int
) -> Kernel:
    """da4ml's shared shift-add graph, pipelined, wrapped to the common kernel interface."""
    from da4ml.codegen.rtl.verilog import pipeline_logic_gen
    from da4ml.trace import FixedVariableArray, comb_trace, to_pipeline
    from da4ml.types import minimal_kif

    k_in, n_out = matrix.shape
    acc = signed_bits(bound)
    x = FixedVariableArray.from_lhs(
        np.full(k_in, float(min(lo, 0))), np.full(k_in, float(max(hi, 0))), np.ones(k_in)
    )
    comb = comb_trace(x, x @ matrix.astype(np.float64), keep_dead_inputs=True)
    pipe = to_pipeline(comb, DA4ML_LATENCY_CUTOFF, verbose=False)
    core = f"{name}_da"
    sources = {f"{k}.v": v for k, v in pipeline_logic_gen(pipe, core, timescale=None).items()}
    sources[f"{core}.v"] = _without_input_register(sources[f"{core}.v"])

    packed = []
    for k, q in enumerate(comb.inp_qint):
        width = sum(minimal_kif(q))
        if width > bits:
            raise ValueError(f"{name}: da4ml wants {width} bits for input {k}, the tensor has {bits}")
        if width:
            packed.append(f"x[{k * bits} +: {width}]")
    outs, offset = [], 0
    for o, q in enumerate(comb.out_qint):
        kif = minimal_kif(q)
        width = sum(kif)
        if kif.fractional > 0:
            raise ValueError(f"{name}: da4ml output {o} has fractional bits; weights must be integers")
        if width == 0:
            outs.append(f"    assign y[{o * acc} +: {acc}] = 0;")
        else:
            field_ = f"m[{offset} +: {width}]"
            val = f"$signed({field_})" if kif.keep_negative else f"$signed({{1'b0, {field_}}})"
            shift = f" <<< {-kif.fractional}" if kif.fractional < 0 else ""
            outs.append(f"    assign y[{o * acc} +: {acc}] = {val}{shift};")
        offset += width
    wrapper = "\n".join(
        [
            f"module {name} (input wire clk, input wire [{k_in * bits - 1}:0] x, output wire "
            f"[{n_out * acc - 1}:0] y);",
            f"    wire [{max(offset, 1) - 1}:0] m;",
            f"    {core} u (.clk(clk), .model_inp({{{', '.join(reversed(packed))}}}), .model_out(m));",
            *outs,
            "endmodule",
            "",
        ]
    )
    sources[f"{name}.v"] = wrapper
    import da4ml.codegen.rtl as rtl_pkg

    static = sorted((Path(rtl_pkg.__file__).parent / "verilog" / "source").glob("*.v"))
    return Kernel(name, sources, latency=len(pipe.solutions), acc_bits=acc, static_sources=static)


def _without_input_register(core: str) -> str:
    """da4ml's pipeline registers its input; every kernel's `x` is a flip-flop already (the window's output
    register, or the stage front's), so that register only delayed the same bits a cycle: placed, the
    4-lane default denoiser has 39,369 flip-flops without it, 43,109 with it (yosys had merged some of the
    copies), the one-lane core 11,886 instead of 13,754. The first stage's logic now starts at the window's
    register, as the MAC form's products do."""
    decl = re.search(r"^( *)reg (\[\d+:0\]) stage0_inp;$", core, re.M)
    load = re.search(r"^ *stage0_inp <= model_inp;\n", core, re.M)
    if not (decl and load):
        raise RuntimeError("da4ml's pipeline module changed: no `stage0_inp <= model_inp` to remove")
    core = core[: load.start()] + core[load.end() :]
    indent, bits = decl.groups()
    return core.replace(decl.group(0), f"{indent}wire {bits} stage0_inp = model_inp;", 1)
