"""Every hls4ml type from the IntegerGraph, and a loud check that hls4ml's own inference agrees.

hls4ml infers types from the QONNX by itself (weights, biases, quantizer outputs) and is
conservative elsewhere (accumulators 4-8 bits wider than needed, merge results from the operand
types). The IR's range analysis knows exact bounds, so here:

1. The hls4ml graph is matched to the IR structurally, walking back from the output: each hls4ml
   layer expands to the IR ops it performs, by its class (`handlers.LAYERS`: `Conv2D` and
   `PointwiseConv2D` -> conv [+ requant when a quantizer was merged into it]; `DepthwiseConv2D` ->
   dwconv; `Activation` relu -> relu + requant, linear -> requant; `Merge` add -> add; ...);
   `Clone`, `ZeroPadding2D` and identity requants are transparent.
2. `check_types` compares what hls4ml inferred with the IR, per IR op (`handlers.HLS4ML`): weights and
   biases value for value, every requant's grid (width, signedness, exponent), and that accumulators
   keep the IR's exponent and are at least as wide as the IR's range. Any disagreement raises
   `TypeMismatch` naming the layer: it means the QONNX, the IR or hls4ml's parser is wrong, and the
   C-sim would silently differ.
3. `apply_types` then sets the IR's types: exact-width accumulators and add results, and every
   requant rounding with the graph's rounding (half_even -> AP_RND_CONV, half_up -> AP_RND) and
   AP_SAT.

An ap_fixed<W, I> holds `int * 2**(I - W)`: a tensor of `bits` with exponent `exp` is
ap_fixed<bits, bits + exp>.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fluorogate.errors import UserError
from fluorogate.hls.hls4ml.grid import ROUNDING_MODE, Grid, PseudoOp, TypeMismatch
from fluorogate.hls.hls4ml.handlers import LAYERS, handler
from fluorogate.quantize.ir import IntegerGraph

__all__ = [
    "ROUNDING_MODE",
    "Expansion",
    "Grid",
    "Matching",
    "PseudoOp",
    "TypeMismatch",
    "apply_types",
    "check_types",
    "expand",
    "match",
]


@dataclass
class Matching:
    """IR node name -> the pseudo op of hls4ml that computes it."""

    pairs: dict[str, PseudoOp] = field(default_factory=dict)
    expansion: Expansion | None = None
    transparent: dict[str, str] = field(
        default_factory=dict
    )  # IR identity requant -> the IR node it passes on

    def ir_name(self, op_name: str) -> str | None:
        return next((ir for ir, op in self.pairs.items() if op.name == op_name), None)


@dataclass
class Expansion:
    """The hls4ml graph as IR-level pseudo ops."""

    ops: dict[str, PseudoOp]
    alias: dict[str, str]  # hls4ml tensor name -> the pseudo op whose value it carries
    first: dict[str, str]  # hls4ml layer name -> its first pseudo op (absent for transparent layers)
    output: str


def expand(model) -> Expansion:
    """The hls4ml graph as IR-level pseudo ops (see the module docstring)."""
    ops: dict[str, PseudoOp] = {}
    alias: dict[str, str] = {}
    first: dict[str, str] = {}

    def emit(layer, op: str, inputs: list[str], suffix: str) -> str:
        name = f"{layer.name}:{suffix}"
        ops[name] = PseudoOp(op, inputs, layer, name)
        first.setdefault(layer.name, name)
        return name

    for layer in model.get_layers():
        cls = layer.class_name
        expander = LAYERS.get(cls)
        if expander is None:
            raise TypeMismatch(f"hls4ml layer {layer.name} ({cls}) has no IR counterpart")
        last = expander(layer, [alias[i] for i in layer.inputs] if cls != "Input" else [], emit)
        for out in layer.outputs:
            alias[out] = last
    out_name = model.get_output_variables()[0].name
    producer = next(layer for layer in model.get_layers() if layer.get_output_variable().name == out_name)
    return Expansion(ops, alias, first, alias[producer.outputs[0]])


def match(graph: IntegerGraph, model) -> Matching:
    """Pair every IR node with the hls4ml pseudo op computing it; `TypeMismatch` if the shapes differ."""
    ex = expand(model)
    ops, out = ex.ops, ex.output
    m = Matching(expansion=ex)
    taken: dict[str, str] = {}

    def walk(ir_name: str, op_name: str) -> None:
        node, op = graph.node(ir_name), ops[op_name]
        if ir_name in m.pairs:
            if m.pairs[ir_name].name != op_name:
                raise TypeMismatch(f"IR node {ir_name} maps onto both {m.pairs[ir_name].name} and {op_name}")
            return
        if node.op == "requant" and op.op != "requant" and _identity_requant(graph, node):
            m.transparent[ir_name] = node.inputs[0]  # hls4ml leaves out a quantizer that changes nothing
            walk(node.inputs[0], op_name)
            return
        if node.op != op.op or len(node.inputs) != len(op.inputs):
            raise TypeMismatch(
                f"IR node {ir_name} ({node.op}) faces hls4ml {op.layer.name} ({op.op}): "
                "the hls4ml graph does not compute the IR"
            )
        if op_name in taken:
            raise TypeMismatch(f"hls4ml {op_name} computes both IR {taken[op_name]} and {ir_name}")
        m.pairs[ir_name], taken[op_name] = op, ir_name
        for a, b in zip(node.inputs, op.inputs, strict=True):
            walk(a, b)

    walk(graph.output, out)
    missing = [n.name for n in graph.nodes if n.name not in m.pairs and n.name not in m.transparent]
    if missing:
        raise TypeMismatch(f"IR nodes {missing} have no hls4ml counterpart")
    return m


def _identity_requant(graph: IntegerGraph, node) -> bool:
    """A requant onto its input's own exponent whose input range already fits: it changes no value."""
    r, q = graph.ranges[node.inputs[0]], node.quant
    return r.exp == q.exp and q.min_int <= r.lo and r.hi <= q.max_int


def check_types(graph: IntegerGraph, m: Matching) -> None:
    """Raise `TypeMismatch` where hls4ml's inferred types or constants disagree with the IR."""
    if not graph.ranges:
        raise UserError(f"IR {graph.name} has no range analysis; build it with build_integer_graph")
    for name, op in m.pairs.items():
        handler(graph.node(name)).check(graph, name, op)


def apply_types(graph: IntegerGraph, m: Matching) -> None:
    """Set the IR's types on the hls4ml layers (call `check_types` first), in the graph's order: a layer
    whose type follows its input's (an upsample) sees the input's final type."""
    requant_layers = {id(op.layer) for n, op in m.pairs.items() if graph.node(n).op == "requant"}
    for node in graph.nodes:
        if node.name in m.transparent:  # an identity requant hls4ml left out: nothing to set
            continue
        op = m.pairs[node.name]
        handler(node).apply(graph, node.name, op, id(op.layer) in requant_layers)
