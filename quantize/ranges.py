"""Static range analysis of an IntegerGraph: proven integer bounds for every tensor, hence widths.

Interval arithmetic, node by node in topological order. For a conv, per output channel,
`hi = sum(w>0 * w * x_hi) + sum(w<0 * w * x_lo) + b` and symmetrically for `lo` (tight for the first
layer, where every input pixel may take any code; a sound over-approximation after it). A 3x3 'same'
conv also sees the zero padding, so its input interval always includes 0. Requant is monotone, so
its output interval is the requant of the input interval (then it can never exceed the quantizer's).

Hardware back ends read `IntegerGraph.ranges[name].bits` for every tensor width; no overflow is
possible in a datapath of those widths because each bound is proven from the weights and the input
codes alone. `accumulator_bound` is the stronger bound on every partial sum of a conv in any
summation order, which is what makes float arithmetic exact in the reference (see reference.py).
"""

from __future__ import annotations

import numpy as np

from fluorogate.quantize.ir import (
    AddNode,
    ConcatNode,
    ConvNode,
    InputNode,
    IntegerGraph,
    MaxPoolNode,
    ReluNode,
    RequantNode,
    TensorQuant,
    TensorRange,
    UpsampleNode,
)
from fluorogate.quantize.rounding import requant_int


def _conv_range(node: ConvNode, x: TensorRange) -> tuple[int, int]:
    lo, hi = (min(x.lo, 0), max(x.hi, 0)) if node.kernel > 1 else (x.lo, x.hi)
    w = node.weight_array.reshape(node.out_channels, -1)
    pos, neg = np.where(w > 0, w, 0), np.where(w < 0, w, 0)
    bias = np.asarray(node.bias if node.bias is not None else [0] * node.out_channels, dtype=object)
    # Python ints (dtype=object): exact whatever the widths.
    ch_hi = (pos.astype(object) * hi).sum(axis=1) + (neg.astype(object) * lo).sum(axis=1) + bias
    ch_lo = (pos.astype(object) * lo).sum(axis=1) + (neg.astype(object) * hi).sum(axis=1) + bias
    return int(min(ch_lo)), int(max(ch_hi))


def accumulator_bound(node: ConvNode, x: TensorRange) -> int:
    """Largest |partial sum| a conv can reach, in any order of summation: `sum|w| * max|x| + |b|`.

    Every partial sum of `b + sum(w_i * x_i)` is bounded by this, whatever order a BLAS kernel adds in.
    """
    m = max(abs(x.lo), abs(x.hi))
    w = np.abs(node.weight_array.reshape(node.out_channels, -1)).astype(object)
    bias = np.abs(np.asarray(node.bias if node.bias is not None else [0] * node.out_channels, dtype=object))
    return int(max((w * m).sum(axis=1) + bias))


def _requant_range(x: TensorRange, quant: TensorQuant, rounding: str) -> tuple[int, int]:
    lo, hi = (int(v) for v in requant_int(np.array([x.lo, x.hi], dtype=object), quant.exp - x.exp, quant, rounding))
    return lo, hi


def analyze(graph: IntegerGraph) -> dict[str, TensorRange]:
    """Proven [lo, hi] and exp of every tensor of `graph`, keyed by node name."""
    exps = graph.exps()
    out: dict[str, TensorRange] = {}
    for node in graph.nodes:
        ins = [out[i] for i in node.inputs]
        e = exps[node.name]
        if isinstance(node, InputNode):
            lo, hi = node.quant.min_int, node.quant.max_int
        elif isinstance(node, ConvNode):
            lo, hi = _conv_range(node, ins[0])
        elif isinstance(node, ReluNode):
            lo, hi = max(ins[0].lo, 0), max(ins[0].hi, 0)
        elif isinstance(node, RequantNode):
            lo, hi = _requant_range(ins[0], node.quant, graph.rounding)
        elif isinstance(node, AddNode | ConcatNode):
            los = [r.lo << (r.exp - e) for r in ins]
            his = [r.hi << (r.exp - e) for r in ins]
            lo, hi = (sum(los), sum(his)) if isinstance(node, AddNode) else (min(los), max(his))
        elif isinstance(node, MaxPoolNode | UpsampleNode):
            lo, hi = ins[0].lo, ins[0].hi
        else:  # pragma: no cover - the IR's discriminated union has no other node types
            raise TypeError(f"range analysis does not know node type {node.op!r}")
        out[node.name] = TensorRange(lo=lo, hi=hi, exp=e)
    return out


def conv_bounds(graph: IntegerGraph, ranges: dict[str, TensorRange] | None = None) -> dict[str, int]:
    """`accumulator_bound` of every conv node, keyed by node name."""
    ranges = ranges if ranges is not None else (graph.ranges or analyze(graph))
    return {n.name: accumulator_bound(n, ranges[n.inputs[0]]) for n in graph.nodes if isinstance(n, ConvNode)}
