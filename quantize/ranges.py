"""Static range analysis of an IntegerGraph: proven integer bounds for every tensor, hence widths.

Interval arithmetic, node by node in topological order, each op bounding its output from its inputs'
bounds (`OpNode.infer_range`, in the op's class). For a conv, per output channel,
`hi = sum(w>0 * w * x_hi) + sum(w<0 * w * x_lo) + b` and symmetrically for `lo` (tight for the first
layer, where every input pixel may take any code; a sound over-approximation after it). A k x k 'same'
conv (k > 1) also sees the zero padding, so its input interval always includes 0. Requant is monotone,
so its output interval is the requant of the input interval (then it can never exceed the quantizer's).

Hardware back ends read `IntegerGraph.ranges[name].bits` for every tensor width; no overflow is
possible in a datapath of those widths because each bound is proven from the weights and the input
codes alone. `accumulator_bound` is the stronger bound on every partial sum of a conv in any
summation order, which is what makes float arithmetic exact in the reference (see reference.py), and
what the RTL's kernels are sized by.
"""

from __future__ import annotations

from fluorogate.quantize.ir import IntegerGraph, OpNode, TensorRange


def accumulator_bound(node: OpNode, x: TensorRange) -> int:
    """Largest |partial sum| a conv can reach, in any order of summation: `sum|w| * max|x| + |b|`.

    Every partial sum of `b + sum(w_i * x_i)` is bounded by this, whatever order a BLAS kernel adds in.
    """
    return node.accumulator_bound([x])


def analyze(graph: IntegerGraph) -> dict[str, TensorRange]:
    """Proven [lo, hi] and exp of every tensor of `graph`, keyed by node name."""
    exps = graph.exps()
    out: dict[str, TensorRange] = {}
    for node in graph.nodes:
        lo, hi = node.infer_range([out[i] for i in node.inputs], exps[node.name], graph.rounding)
        out[node.name] = TensorRange(lo=lo, hi=hi, exp=exps[node.name])
    return out


def conv_bounds(graph: IntegerGraph, ranges: dict[str, TensorRange] | None = None) -> dict[str, int]:
    """The accumulator bound of every node that sums products (convs), keyed by node name."""
    ranges = ranges if ranges is not None else (graph.ranges or analyze(graph))
    bounds = {n.name: n.accumulator_bound([ranges[i] for i in n.inputs]) for n in graph.nodes}
    return {name: b for name, b in bounds.items() if b is not None}
