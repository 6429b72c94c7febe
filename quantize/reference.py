"""The integer reference: the executable specification every hardware back end is judged against.

`run_graph(graph, codes)` evaluates an IntegerGraph on a whole frame, bit for bit as the hardware
must: node by node, each op computing itself (`OpNode.execute`, in the op's class in
`quantize/ops/`). It is fast because convolutions run as BLAS matrix products in floating point,
which is exact here, not approximately right. The proof, per conv node:

1. Every operand is an integer: input codes and weights by construction, bias aligned onto the
   accumulator grid when the graph was built.
2. `OpNode.accumulator_bound` gives B >= |b| + sum|w_i| * max|x|, which bounds |every partial sum| in
   any order of summation, |every product| and |every operand|.
3. An IEEE float with a p-bit significand represents every integer of magnitude <= 2**p exactly,
   and a correctly rounded +, * or fused multiply-add whose exact result is such an integer returns
   it unchanged. By induction over the summation, GEMM returns the exact integer sum when B <= 2**p:
   p = 24 for float32, 53 for float64. Past 2**53 we fall back to int64 (exact to 2**63, slow).
4. The algorithm must be a plain sum of products: a Winograd or FFT convolution transforms its
   operands with fractions and is not exact. See `exact.conv_frame` for which kernel runs where;
   `tests/test_quantize_reference.py` checks the bound at its extremes.

Everything else (requant, relu, add, concat, pooling, upsampling) runs on the same carrier with the
integer operators of `rounding.py`; `widest_integer` proves every value they meet is exact in it.

That torch path is the *spec path*. `run_graph` runs a graph on the *fast path* instead
(`quantize/fast`: fused, vectorised integer kernels compiled with g++) wherever that one proves every
node exact from the same range analysis, and the kernels are built; tests compare the two bit for bit.
`engine` (or the environment variable `FLUOROGATE_REFERENCE`): "auto" (the default), "spec" (force the
torch path, for debugging) or "fast" (require the fast path: a UserError saying why it cannot run).
"""

from __future__ import annotations

import os

import numpy as np

from fluorogate.errors import UserError
from fluorogate.quantize.exact import FLOAT32_EXACT, FLOAT64_EXACT, conv_frame, exact_dtype
from fluorogate.quantize.ir import InputNode, IntegerGraph, ReluNode, RequantNode
from fluorogate.quantize.ops import Exec
from fluorogate.quantize.ranges import analyze, conv_bounds
from fluorogate.quantize.rounding import round_float, saturate

__all__ = [
    "ENGINES",
    "FLOAT32_EXACT",
    "FLOAT64_EXACT",
    "Plan",
    "apply_node",
    "check_codes",
    "codes_from_adu",
    "conv_frame",
    "engine",
    "exact_dtype",
    "fast_program_for",
    "plan_for",
    "quantize_float_input",
    "run_graph",
    "run_graph_tensors",
    "to_real",
    "widest_integer",
]

ENGINES = ("auto", "spec", "fast")


def widest_integer(graph: IntegerGraph, ranges) -> int:
    """The largest magnitude any step of the reference computes, from the proven ranges: every tensor,
    every conv partial sum (`accumulator_bound`), and what each op computes on the way
    (`OpNode.widest_operand`: weights, operands aligned by a left shift for add, concat and requant to a
    finer grid, rounding offsets added before a right shift)."""
    widest = max([ranges[n.name].magnitude for n in graph.nodes] + list(conv_bounds(graph, ranges).values()))
    for n in graph.nodes:
        widest = max(widest, n.widest_operand([ranges[i] for i in n.inputs], ranges[n.name]))
    return widest


class Plan:
    """Per-graph constants prepared once: the carrier dtype, weights in it, fusions, tensor lifetimes.

    The *carrier* holds every tensor between nodes: float32 when `widest_integer` <= 2**24, float64
    when <= 2**53 (integers exact in either, see the module docstring), else int64. Floats feed the
    convolution without conversion; `rounding.requant` rounds them exactly.
    """

    def __init__(self, graph: IntegerGraph):
        self.graph = graph
        self.exps = graph.exps()
        ranges = graph.ranges or analyze(graph)
        self.widest = widest_integer(graph, ranges)
        self.carrier = exact_dtype(self.widest)
        # relu -> requant runs as one requant with a floor of 0 (rounding.requant, relu=True)
        self.fused_relu = {
            n.name
            for n in graph.nodes
            if isinstance(n, ReluNode)
            and n.name != graph.output
            and all(isinstance(c, RequantNode) for c in graph.consumers(n.name))
        }
        # requants that may overwrite their input in a whole-frame run: it (through a fused relu) is a
        # fresh tensor no other node reads
        self.inplace = set()
        for n in graph.nodes:
            if isinstance(n, RequantNode):
                chain = [n.inputs[0]]
                if chain[0] in self.fused_relu:
                    chain.append(graph.node(chain[0]).inputs[0])
                if all(len(graph.consumers(t)) == 1 and t != graph.output for t in chain) and not isinstance(
                    graph.node(chain[-1]), InputNode
                ):
                    self.inplace.add(n.name)
        self.last_use = {i: k for k, n in enumerate(graph.nodes) for i in n.inputs}  # free tensors early
        self.consts = {n.name: c for n in graph.nodes if (c := n.constants(self.carrier)) is not None}


_PLANS: dict[int, tuple[IntegerGraph, Plan]] = {}


def plan_for(graph: IntegerGraph) -> Plan:
    """The prepared constants of `graph` (cached for the last graph seen)."""
    hit = _PLANS.get(id(graph))
    if hit is None or hit[0] is not graph:
        hit = (graph, Plan(graph))
        _PLANS.clear()  # one graph at a time is the common case; keep memory flat
        _PLANS[id(graph)] = hit
    return hit[1]


def check_codes(graph: IntegerGraph, codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim == 2:
        codes = codes[None]
    inp = graph.input
    if codes.ndim != 3 or codes.shape[0] != inp.channels:
        raise UserError(
            f"input shape {codes.shape}: want (H, W) or ({inp.channels}, H, W) codes for graph {graph.name}"
        )
    if not np.issubdtype(codes.dtype, np.integer):
        raise UserError(
            f"input dtype {codes.dtype}: integer codes wanted (use quantize_float_input for float images)"
        )
    lo, hi = int(codes.min(initial=0)), int(codes.max(initial=0))
    if lo < inp.quant.min_int or hi > inp.quant.max_int:
        raise UserError(
            f"input codes span {lo}..{hi}, outside the input quantizer's "
            f"{inp.quant.min_int}..{inp.quant.max_int}"
        )
    return codes.astype(np.int64)


def apply_node(plan: Plan, n, ins: list, pad_rows: bool = True, fuse: bool = True, inplace: bool = False):
    """One IR node on int tensors (C, H, W): a whole frame, or rows in the streaming form (`ops.Exec`).

    `pad_rows=False` (streaming): a windowed op gets its rows with the borders already zero.
    `fuse=False`: a relu feeding only requants is computed too (else it passes its input through and
    the requant applies it), for when every intermediate tensor is wanted. `inplace=True`: a requant in
    `plan.inplace` overwrites its input (whole-frame runs, where that tensor is read by nobody else).
    """
    return n.execute(ins, Exec(plan, pad_rows=pad_rows, fuse=fuse, inplace=inplace))


def _run(graph: IntegerGraph, codes: np.ndarray, keep_all: bool) -> dict:
    import torch

    plan = plan_for(graph)
    vals: dict[str, torch.Tensor] = {}
    for k, n in enumerate(graph.nodes):
        if isinstance(n, InputNode):
            vals[n.name] = torch.from_numpy(check_codes(graph, codes)).to(plan.carrier)
        else:
            vals[n.name] = apply_node(
                plan, n, [vals[i] for i in n.inputs], fuse=not keep_all, inplace=not keep_all
            )
        for i in set(n.inputs):  # a node may read a tensor twice (add(x, x))
            if not keep_all and plan.last_use[i] == k and i != graph.output:
                del vals[i]  # free a tensor once its last reader has run
    return vals


def engine(choice: str | None = None) -> str:
    """The reference's engine: `choice`, else `FLUOROGATE_REFERENCE`, else "auto" (module docstring)."""
    choice = choice or os.environ.get("FLUOROGATE_REFERENCE") or "auto"
    if choice not in ENGINES:
        raise UserError(
            f"reference engine {choice!r}: want one of {', '.join(ENGINES)} (FLUOROGATE_REFERENCE)"
        )
    return choice


def fast_program_for(graph: IntegerGraph, choice: str | None = None):
    """The graph's fast program (`quantize.fast`) under engine `choice`, or None for the spec path."""
    from fluorogate.quantize.fast import fast_program

    choice = engine(choice)
    return None if choice == "spec" else fast_program(graph, required=choice == "fast")


def run_graph(graph: IntegerGraph, codes: np.ndarray, engine: str | None = None) -> np.ndarray:
    """Evaluate `graph` on one frame of input codes ((H, W) or (C, H, W) ints) -> (C_out, H', W') int64.

    On the fast path where it is proven exact, else the spec path; `engine` chooses (module docstring)."""
    program = fast_program_for(graph, engine)
    if program is not None:
        return program.run(check_codes(graph, codes))
    return _run(graph, codes, keep_all=False)[graph.output].numpy().astype(np.int64)


def run_graph_tensors(graph: IntegerGraph, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Every node's output tensor (int64), for locating the first node where a back end diverges."""
    return {k: v.numpy().astype(np.int64) for k, v in _run(graph, codes, keep_all=True).items()}


def quantize_float_input(graph: IntegerGraph, x: np.ndarray) -> np.ndarray:
    """Float image (real values) -> input codes, exactly as the input quantizer: sat(round(x / 2**exp)).

    The image is taken as float32, the dtype the network runs in (a float64 image is rounded to it).
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise UserError(f"float image wanted, got dtype {x.dtype} (integer codes go straight to run_graph)")
    if not np.all(np.isfinite(x)):
        raise UserError("float image contains NaN or infinity")
    q = graph.input.quant
    v = x.astype(np.float32) * np.float32(2.0 ** (-q.exp))  # the network's float32 input, scaled exactly
    return saturate(round_float(v, graph.rounding), q.min_int, q.max_int).astype(np.int64)


def codes_from_adu(graph: IntegerGraph, adu: np.ndarray) -> np.ndarray:
    """Raw camera ADU -> input codes through the IR's CameraConversion (`models.camera.adu_to_codes`)."""
    from fluorogate.quantize.camera import adu_to_codes

    cam, q = graph.input.camera, graph.input.quant
    if cam is None:
        raise UserError(
            f"graph {graph.name} has no camera conversion (input.camera); pass codes or a float image"
        )
    if q.signed:
        raise UserError(
            f"graph {graph.name}: the camera front end feeds an unsigned input quantizer, this one is signed"
        )
    adu = np.asarray(adu)
    if not np.issubdtype(adu.dtype, np.integer):
        raise UserError(f"raw ADU must be integers, got dtype {adu.dtype}")
    if adu.size and (adu.min() < 0 or adu.max() >= 2**cam.adu_bits):
        raise UserError(f"ADU values {adu.min()}..{adu.max()} do not fit the camera's {cam.adu_bits} bits")
    return adu_to_codes(adu, cam, graph.rounding, q.bits)


def to_real(graph: IntegerGraph, out: np.ndarray) -> np.ndarray:
    """Output integers -> real values `out * 2**exp` (float64, exact)."""
    return np.asarray(out, dtype=np.float64) * 2.0 ** graph.exps()[graph.output]
