"""Every hls4ml type from the IntegerGraph, and a loud check that hls4ml's own inference agrees.

hls4ml infers types from the QONNX by itself (weights, biases, quantizer outputs) and is
conservative elsewhere (accumulators 4-8 bits wider than needed, merge results from the operand
types). The IR's range analysis knows exact bounds, so here:

1. The hls4ml graph is matched to the IR structurally, walking back from the output: each hls4ml
   layer expands to the IR ops it performs (`Conv2D` -> conv [+ requant when a quantizer was merged
   into it]; `Activation` relu -> relu + requant, linear -> requant; `Merge` add -> add; ...);
   `Clone`, `ZeroPadding2D` and identity requants are transparent.
2. `check_types` compares what hls4ml inferred with the IR: weights and biases value for value, every
   requant's grid (width, signedness, exponent), and that accumulators keep the IR's exponent and are
   at least as wide as the IR's range. Any disagreement raises `TypeMismatch` naming the layer: it
   means the QONNX, the IR or hls4ml's parser is wrong, and the C-sim would silently differ.
3. `apply_types` then sets the IR's types: exact-width accumulators and add results, and every
   requant rounding with the graph's rounding (half_even -> AP_RND_CONV, half_up -> AP_RND) and
   AP_SAT.

An ap_fixed<W, I> holds `int * 2**(I - W)`: a tensor of `bits` with exponent `exp` is
ap_fixed<bits, bits + exp>.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fluorogate.errors import UserError, VerificationError
from fluorogate.quantize.ir import IntegerGraph, TensorQuant, TensorRange

ROUNDING_MODE = {"half_even": "RND_CONV", "half_up": "RND"}


class TypeMismatch(VerificationError):
    """hls4ml's view of the network disagrees with the IR's."""


@dataclass(frozen=True)
class Grid:
    """An integer grid: `bits` wide, `signed`, real value `int * 2**exp`."""

    bits: int
    signed: bool
    exp: int

    @classmethod
    def of_quant(cls, q: TensorQuant) -> Grid:
        return cls(q.bits, q.signed, q.exp)

    @classmethod
    def of_range(cls, r: TensorRange) -> Grid:
        return cls(r.bits, r.signed, r.exp)

    @classmethod
    def of_precision(cls, p) -> Grid:
        return cls(p.width, p.signed, p.integer - p.width)

    def ap_string(self, rounding: str | None = None) -> str:
        """'fixed<8,3,RND_CONV,SAT>' style, as hls4ml configs spell it (None: TRN, WRAP: exact)."""
        kind = "fixed" if self.signed else "ufixed"
        modes = f",{rounding},SAT" if rounding else ""
        return f"{kind}<{self.bits},{self.bits + self.exp}{modes}>"

    def precision(self, rounding: str | None = None):
        """An hls4ml precision object for the Vivado/Vitis writers (ap_fixed)."""
        from hls4ml.backends.fpga.fpga_types import APTypeConverter
        from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

        p = FixedPrecisionType(self.bits, self.bits + self.exp, self.signed,
                               RoundingMode.from_string(rounding) if rounding else None,
                               SaturationMode.SAT if rounding else None)
        return APTypeConverter().convert(p)


@dataclass
class PseudoOp:
    """One IR-level operation performed by (part of) an hls4ml layer."""

    op: str
    inputs: list[str]
    layer: object
    name: str


@dataclass
class Matching:
    """IR node name -> the pseudo op of hls4ml that computes it."""

    pairs: dict[str, PseudoOp] = field(default_factory=dict)
    expansion: Expansion | None = None
    transparent: dict[str, str] = field(default_factory=dict)  # IR identity requant -> the IR node it passes on

    def ir_name(self, op_name: str) -> str | None:
        return next((ir for ir, op in self.pairs.items() if op.name == op_name), None)


def _merged_quant(layer) -> bool:
    acc, res = layer.types["accum_t"].precision, layer.get_output_variable().type.precision
    return Grid.of_precision(acc) != Grid.of_precision(res) or str(res.rounding_mode) != str(acc.rounding_mode)


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

    def src(name: str) -> str:
        return alias[name]

    def emit(layer, op: str, inputs: list[str], suffix: str) -> str:
        name = f"{layer.name}:{suffix}"
        ops[name] = PseudoOp(op, inputs, layer, name)
        first.setdefault(layer.name, name)
        return name

    for layer in model.get_layers():
        cls = layer.class_name
        ins = [src(i) for i in layer.inputs] if cls != "Input" else []
        if cls == "Input":
            last = emit(layer, "input", [], "input")
        elif cls in ("Clone", "ZeroPadding2D", "Transpose"):
            last = ins[0]
        elif cls.startswith(("Conv", "PointwiseConv")):  # hls4ml's backends turn a 1x1 Conv2D into PointwiseConv2D
            last = emit(layer, "conv", ins, "conv")
            if _merged_quant(layer):
                last = emit(layer, "requant", [last], "requant")
        elif cls == "Activation":
            act = str(layer.get_attr("activation")).lower()
            if act == "relu":
                last = emit(layer, "relu", ins, "relu")
                last = emit(layer, "requant", [last], "requant")
            elif act == "linear":
                same = Grid.of_precision(layer.get_input_variable().type.precision) == Grid.of_precision(
                    layer.get_output_variable().type.precision)
                last = ins[0] if same else emit(layer, "requant", ins, "requant")
            else:
                raise TypeMismatch(f"hls4ml layer {layer.name}: activation {act!r} has no IR counterpart")
        elif cls == "Merge" and layer.get_attr("op") == "add":
            last = emit(layer, "add", ins, "add")
        elif cls == "Concatenate":
            last = emit(layer, "concat", ins, "concat")
        elif cls == "Pooling2D" and "max" in str(layer.get_attr("pool_op", "max")).lower():
            last = emit(layer, "maxpool2", ins, "maxpool2")
        elif cls == "Resize":
            last = emit(layer, "upsample2", ins, "upsample2")
        else:
            raise TypeMismatch(f"hls4ml layer {layer.name} ({cls}) has no IR counterpart")
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
            raise TypeMismatch(f"IR node {ir_name} ({node.op}) faces hls4ml {op.layer.name} ({op.op}): "
                               "the hls4ml graph does not compute the IR")
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


def _weights(layer, key: str) -> np.ndarray:
    return np.asarray(layer.get_weights(key).data, dtype=np.float64)


def _check_conv(graph: IntegerGraph, name: str, op: PseudoOp) -> None:
    node, layer = graph.node(name), op.layer
    wq, acc = node.weight_quant, graph.ranges[name]
    want_w = node.weight_array.astype(np.float64) * 2.0**wq.exp  # (O, I, kh, kw)
    got_w = _weights(layer, "weight").reshape(node.kernel, node.kernel, node.in_channels, node.out_channels)
    if not np.array_equal(got_w, want_w.transpose(2, 3, 1, 0)):
        raise TypeMismatch(f"hls4ml {layer.name}: weights differ from IR conv {name}")
    w_grid = Grid.of_precision(layer.types["weight_t"].precision)
    if w_grid.exp > wq.exp or w_grid.bits + w_grid.exp < wq.bits + wq.exp:
        raise TypeMismatch(f"hls4ml {layer.name}: weight type {w_grid.ap_string()} cannot hold the IR's "
                           f"{Grid.of_quant(wq).ap_string()}")
    bias = np.asarray(node.bias or [0] * node.out_channels, dtype=np.float64) * 2.0**acc.exp
    if not np.array_equal(_weights(layer, "bias").ravel(), bias):
        raise TypeMismatch(f"hls4ml {layer.name}: biases differ from IR conv {name}")
    inferred = Grid.of_precision(layer.types["accum_t"].precision)
    # A conv without a bias gets a zero bias of hls4ml's default type, whose finer grid refines the
    # inferred accumulator's, and so the accumulators of every conv downstream of it (until a requant):
    # a finer grid still holds every value exactly (`apply_types` then sets the IR's). Weights and biases
    # are compared value for value above, so a finer grid cannot hide a wrong scale.
    if (inferred.exp > acc.exp or inferred.bits + inferred.exp < acc.bits + acc.exp
            or (acc.signed and not inferred.signed)):
        raise TypeMismatch(f"hls4ml {layer.name}: accumulator {inferred.ap_string()} disagrees with the IR's "
                           f"range [{acc.lo}, {acc.hi}] * 2**{acc.exp}")


def _check_requant(graph: IntegerGraph, name: str, op: PseudoOp) -> None:
    want = Grid.of_quant(graph.node(name).quant)
    got = Grid.of_precision(op.layer.get_output_variable().type.precision)
    if got != want:
        raise TypeMismatch(f"hls4ml {op.layer.name}: output type {got.ap_string()} but IR requant {name} is "
                           f"{want.ap_string()}")


def _check_exact(graph: IntegerGraph, name: str, op: PseudoOp) -> None:
    """Ops that must not round (input, add, concat, pools, upsample): hls4ml's type holds the IR range."""
    r = graph.ranges[name]
    got = Grid.of_precision(op.layer.get_output_variable().type.precision)
    lo, hi = (-(2 ** (got.bits - 1)), 2 ** (got.bits - 1) - 1) if got.signed else (0, 2**got.bits - 1)
    shift = r.exp - got.exp
    if shift < 0 or (r.lo << shift) < lo or (r.hi << shift) > hi:
        raise TypeMismatch(f"hls4ml {op.layer.name}: type {got.ap_string()} cannot hold IR {name} "
                           f"range [{r.lo}, {r.hi}] * 2**{r.exp} exactly")


def check_types(graph: IntegerGraph, m: Matching) -> None:
    """Raise `TypeMismatch` where hls4ml's inferred types or constants disagree with the IR."""
    if not graph.ranges:
        raise UserError(f"IR {graph.name} has no range analysis; build it with build_integer_graph")
    for name, op in m.pairs.items():
        kind = graph.node(name).op
        if kind == "conv":
            _check_conv(graph, name, op)
        elif kind == "requant":
            _check_requant(graph, name, op)
        elif kind == "input":
            want = Grid.of_quant(graph.node(name).quant)
            got = Grid.of_precision(op.layer.get_output_variable().type.precision)
            if got != want:
                raise TypeMismatch(f"hls4ml input type {got.ap_string()} is not the input quantizer's "
                                   f"{want.ap_string()}")
        elif kind in ("add", "concat", "maxpool2", "upsample2"):
            _check_exact(graph, name, op)


def apply_types(graph: IntegerGraph, m: Matching) -> None:
    """Set the IR's types on the hls4ml layers (call `check_types` first)."""
    rnd = ROUNDING_MODE[graph.rounding]
    for name, op in m.pairs.items():
        kind, layer = graph.node(name).op, op.layer
        if kind == "conv":
            # Signed even when the sum is not: partial sums of signed weights can be negative. With
            # AP_WRAP the sum is exact modulo 2**bits, so any width holding the final range is exact.
            r = graph.ranges[name]
            acc = Grid(r.bits + (0 if r.signed else 1), True, r.exp).precision()
            layer.types["accum_t"].precision = acc
            if not _merged_quant_after(m, name, graph):
                layer.get_output_variable().type.precision = acc
        elif kind == "requant":
            layer.get_output_variable().type.precision = Grid.of_quant(graph.node(name).quant).precision(rnd)
        elif kind == "add":
            layer.get_output_variable().type.precision = Grid.of_range(graph.ranges[name]).precision()
    for node in graph.nodes:  # topological: a chain of upsamples takes its producer's new type in turn
        if node.op == "upsample2":  # nnet::resize_nearest streams one type in and out: follow the input's
            layer = m.pairs[node.name].layer
            layer.get_output_variable().type.precision = layer.get_input_variable().type.precision


def _merged_quant_after(m: Matching, conv_name: str, graph: IntegerGraph) -> bool:
    layer = m.pairs[conv_name].layer
    return any(op.layer is layer and graph.node(n).op == "requant" for n, op in m.pairs.items())
