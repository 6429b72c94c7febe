"""The hls4ml back end's knowledge of each op, in one place per op.

Two tables, filled by decorators (hls4ml's own `register_layer` and `@onnx_handler`, in spirit):

- `LAYERS`: hls4ml layer class name -> how that layer expands into IR-level pseudo ops (`Conv2D`,
  `PointwiseConv2D` -> conv [+ requant when hls4ml merged a quantizer into it]; `DepthwiseConv2D` ->
  dwconv [+ requant]; `Activation` relu -> relu + requant, linear -> requant; ...). `Clone`,
  `ZeroPadding2D` and `Transpose` are transparent. A class hls4ml may name a layer that is not here is a
  `TypeMismatch` naming the layer: the check is by class, never by a prefix of its name.
- `HLS4ML`: IR op -> an `Hls4mlOp`: its type check against the IR (`check`), the IR's types set on the
  layer (`apply`), and its timing in the line-buffer schedule that sizes the FIFOs (`schedule`, `fifo.py`).

hls4ml 1.3 names a conv by its kernel and groups: 1x1 `PointwiseConv2D` (its `OptimizePointwiseConv`),
any other k x k `Conv2D` (3x3 and 5x5 alike), group = channels `DepthwiseConv2D` (`ConvToDepthwiseConvXD`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fluorogate.hls.hls4ml.grid import ROUNDING_MODE, Grid, PseudoOp, TypeMismatch, output_grid
from fluorogate.quantize.ir import IntegerGraph, OpNode
from fluorogate.quantize.ops.registry import Registry

# --- the schedule's primitives (fifo.py drives them) --------------------------------------------------

FLOOR = np.iinfo(np.int64).min // 4  # "long before": a time every real one follows


def emit_times(need: np.ndarray) -> np.ndarray:
    """One beat per cycle at most: e[i] = max(need[i], e[i-1] + 1), in raster order."""
    flat = need.ravel().astype(np.int64)
    i = np.arange(flat.size, dtype=np.int64)
    return (i + np.maximum.accumulate(flat - i)).reshape(need.shape)


def pad_times(t_in: np.ndarray, pad: int = 1) -> np.ndarray:
    """Emission of hls4ml's ZeroPadding2D (`pad` pixels each side): a border beat needs the last real beat
    before it."""
    h, w = t_in.shape
    need = np.full((h + 2 * pad, w + 2 * pad), FLOOR, dtype=np.int64)
    need[pad:-pad, pad:-pad] = t_in
    need = np.maximum.accumulate(need.ravel()).reshape(need.shape)
    return emit_times(need)


# --- the tables ---------------------------------------------------------------------------------------

Emit = Callable[[object, str, list[str], str], str]  # (layer, IR op, inputs, suffix) -> pseudo op name
Expander = Callable[[object, list[str], Emit], str]  # (layer, input pseudo ops, emit) -> its last one
LAYERS: dict[str, Expander] = {}


def layer_classes(*class_names: str) -> Callable[[Expander], Expander]:
    """Register the decorated expander for hls4ml layers of these classes."""

    def add(expander: Expander) -> Expander:
        for name in class_names:
            if name in LAYERS:
                raise TypeError(f"hls4ml layer class {name!r} has two expanders")
            LAYERS[name] = expander
        return expander

    return add


class Hls4mlOp:
    """One IR op in the hls4ml back end. The defaults: nothing to check, hls4ml's types kept, and the
    timing of an element-wise layer (reads each beat as it writes it, `latency` cycles later)."""

    def check(self, graph: IntegerGraph, name: str, op: PseudoOp) -> None:
        """Raise `TypeMismatch` where hls4ml's inferred types or constants disagree with the IR."""

    def apply(self, graph: IntegerGraph, name: str, op: PseudoOp, merged_quant: bool) -> None:
        """Set the IR's types on the layer; `merged_quant`: a requant of the IR runs inside the same layer."""

    def schedule(
        self, node: OpNode, ins: list[np.ndarray], latency: int
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """(when each input's beats are read, when the output's are written), from the inputs' write
        times (H, W) per pixel (fifo.py's model of hls4ml's io_stream layers)."""
        return [ins[0]], emit_times(ins[0] + latency)


HLS4ML: Registry[type[Hls4mlOp]] = Registry("hls4ml")


def handler(node: OpNode) -> Hls4mlOp:
    """The hls4ml handler of `node`'s op (`UnsupportedOp` naming the node when there is none)."""
    return HLS4ML.lookup(node)()


def merged_quant(layer) -> bool:
    """hls4ml merged a quantizer into the layer: its output type is not its accumulator's."""
    acc, res = layer.types["accum_t"].precision, layer.get_output_variable().type.precision
    return Grid.of_precision(acc) != Grid.of_precision(res) or str(res.rounding_mode) != str(
        acc.rounding_mode
    )


def _weights(layer, key: str) -> np.ndarray:
    return np.asarray(layer.get_weights(key).data, dtype=np.float64)


def check_exact(graph: IntegerGraph, name: str, op: PseudoOp) -> None:
    """Ops that must not round (add, concat, pools, upsample): hls4ml's type holds the IR range."""
    r = graph.ranges[name]
    got = output_grid(op.layer)
    lo, hi = (-(2 ** (got.bits - 1)), 2 ** (got.bits - 1) - 1) if got.signed else (0, 2**got.bits - 1)
    shift = r.exp - got.exp
    if shift < 0 or (r.lo << shift) < lo or (r.hi << shift) > hi:
        raise TypeMismatch(
            f"hls4ml {op.layer.name}: type {got.ap_string()} cannot hold IR {name} "
            f"range [{r.lo}, {r.hi}] * 2**{r.exp} exactly"
        )


# --- the graph's boundary and the transparent layers ----------------------------------------------------


@layer_classes("Input")
def _input_layer(layer, ins: list[str], emit: Emit) -> str:
    return emit(layer, "input", [], "input")


@layer_classes("Clone", "ZeroPadding2D", "Transpose")
def _transparent(layer, ins: list[str], emit: Emit) -> str:
    return ins[0]


class _QuantGrid(Hls4mlOp):
    """An op whose output is a quantizer's grid (`node.quant`): hls4ml's output type must be exactly it."""

    def check(self, graph: IntegerGraph, name: str, op: PseudoOp) -> None:
        want, got = Grid.of_quant(graph.node(name).quant), output_grid(op.layer)
        if got != want:
            raise TypeMismatch(self.mismatch(name, op, got, want))

    def mismatch(self, name: str, op: PseudoOp, got: Grid, want: Grid) -> str:
        return (
            f"hls4ml {op.layer.name}: output type {got.ap_string()} but IR requant {name} is "
            f"{want.ap_string()}"
        )


@HLS4ML.register("input")
class Input(_QuantGrid):
    def mismatch(self, name: str, op: PseudoOp, got: Grid, want: Grid) -> str:
        return f"hls4ml input type {got.ap_string()} is not the input quantizer's {want.ap_string()}"


# --- convolutions ---------------------------------------------------------------------------------------


@layer_classes("Conv2D", "PointwiseConv2D")
def _conv_layer(layer, ins: list[str], emit: Emit) -> str:
    last = emit(layer, "conv", ins, "conv")
    return emit(layer, "requant", [last], "requant") if merged_quant(layer) else last


@layer_classes("DepthwiseConv2D")
def _depthwise_layer(layer, ins: list[str], emit: Emit) -> str:
    last = emit(layer, "dwconv", ins, "dwconv")
    return emit(layer, "requant", [last], "requant") if merged_quant(layer) else last


@HLS4ML.register("conv")
class Conv(Hls4mlOp):
    """hls4ml keeps a conv's weights as (k, k, I, O) (channels last, filters last)."""

    def hls4ml_weights(self, node) -> np.ndarray:
        """The IR's weights as real values, in hls4ml's layout."""
        return (node.weight_array.astype(np.float64) * 2.0**node.weight_quant.exp).transpose(2, 3, 1, 0)

    def check(self, graph: IntegerGraph, name: str, op: PseudoOp) -> None:
        node, layer = graph.node(name), op.layer
        wq, acc = node.weight_quant, graph.ranges[name]
        want_w = self.hls4ml_weights(node)
        if not np.array_equal(_weights(layer, "weight").reshape(want_w.shape), want_w):
            raise TypeMismatch(f"hls4ml {layer.name}: weights differ from IR {node.op} {name}")
        w_grid = Grid.of_precision(layer.types["weight_t"].precision)
        if w_grid.exp > wq.exp or w_grid.bits + w_grid.exp < wq.bits + wq.exp:
            raise TypeMismatch(
                f"hls4ml {layer.name}: weight type {w_grid.ap_string()} cannot hold the IR's "
                f"{Grid.of_quant(wq).ap_string()}"
            )
        bias = np.asarray(node.bias or [0] * node.out_channels, dtype=np.float64) * 2.0**acc.exp
        if not np.array_equal(_weights(layer, "bias").ravel(), bias):
            raise TypeMismatch(f"hls4ml {layer.name}: biases differ from IR {node.op} {name}")
        inferred = Grid.of_precision(layer.types["accum_t"].precision)
        # A conv without a bias gets a zero bias of hls4ml's default type, whose finer grid refines the
        # inferred accumulator's, and so the accumulators of every conv downstream of it (until a requant):
        # a finer grid still holds every value exactly (`apply_types` then sets the IR's). Weights and biases
        # are compared value for value above, so a finer grid cannot hide a wrong scale.
        if (
            inferred.exp > acc.exp
            or inferred.bits + inferred.exp < acc.bits + acc.exp
            or (acc.signed and not inferred.signed)
        ):
            raise TypeMismatch(
                f"hls4ml {layer.name}: accumulator {inferred.ap_string()} disagrees with the IR's "
                f"range [{acc.lo}, {acc.hi}] * 2**{acc.exp}"
            )

    def apply(self, graph: IntegerGraph, name: str, op: PseudoOp, merged_quant: bool) -> None:
        # Signed even when the sum is not: partial sums of signed weights can be negative. With
        # AP_WRAP the sum is exact modulo 2**bits, so any width holding the final range is exact.
        r = graph.ranges[name]
        acc = Grid(r.bits + (0 if r.signed else 1), True, r.exp).precision()
        op.layer.types["accum_t"].precision = acc
        if not merged_quant:
            op.layer.get_output_variable().type.precision = acc

    def schedule(self, node, ins: list[np.ndarray], latency: int) -> tuple[list[np.ndarray], np.ndarray]:
        """k > 1: hls4ml's ZeroPadding2D (k//2 each side) then a valid conv: output (y, x) needs padded
        beat (y + 2p, x + 2p); 1x1: element-wise."""
        p = node.kernel // 2
        if not p:
            return super().schedule(node, ins, latency)
        pad = pad_times(ins[0], p)
        return [pad[p:-p, p:-p]], emit_times(pad[2 * p :, 2 * p :] + latency)


@HLS4ML.register("dwconv")
class DepthwiseConv(Conv):
    """hls4ml's DepthwiseConv2D keeps one k x k filter per channel as (k, k, C) (`depthwise_data`)."""

    def hls4ml_weights(self, node) -> np.ndarray:
        return (node.weight_array[:, 0].astype(np.float64) * 2.0**node.weight_quant.exp).transpose(1, 2, 0)


# --- element-wise ---------------------------------------------------------------------------------------


@layer_classes("Activation")
def _activation_layer(layer, ins: list[str], emit: Emit) -> str:
    act = str(layer.get_attr("activation")).lower()
    if act == "relu":
        return emit(layer, "requant", [emit(layer, "relu", ins, "relu")], "requant")
    if act == "linear":
        same = Grid.of_precision(layer.get_input_variable().type.precision) == output_grid(layer)
        return ins[0] if same else emit(layer, "requant", ins, "requant")
    raise TypeMismatch(f"hls4ml layer {layer.name}: activation {act!r} has no IR counterpart")


HLS4ML.register("relu")(Hls4mlOp)


@HLS4ML.register("requant")
class Requant(_QuantGrid):
    def apply(self, graph: IntegerGraph, name: str, op: PseudoOp, merged_quant: bool) -> None:
        rnd = ROUNDING_MODE[graph.rounding]
        op.layer.get_output_variable().type.precision = Grid.of_quant(graph.node(name).quant).precision(rnd)


# --- joins ----------------------------------------------------------------------------------------------


@layer_classes("Merge")
def _merge_layer(layer, ins: list[str], emit: Emit) -> str:
    if layer.get_attr("op") != "add":
        raise TypeMismatch(f"hls4ml layer {layer.name} (Merge {layer.get_attr('op')}) has no IR counterpart")
    return emit(layer, "add", ins, "add")


@layer_classes("Concatenate")
def _concat_layer(layer, ins: list[str], emit: Emit) -> str:
    return emit(layer, "concat", ins, "concat")


class _Join(Hls4mlOp):
    def check(self, graph: IntegerGraph, name: str, op: PseudoOp) -> None:
        check_exact(graph, name, op)

    def schedule(self, node, ins: list[np.ndarray], latency: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Every input is read when the output beat is written."""
        out = emit_times(np.maximum.reduce(ins) + latency)
        return [out] * len(ins), out


@HLS4ML.register("add")
class Add(_Join):
    def apply(self, graph: IntegerGraph, name: str, op: PseudoOp, merged_quant: bool) -> None:
        op.layer.get_output_variable().type.precision = Grid.of_range(graph.ranges[name]).precision()


HLS4ML.register("concat")(_Join)


# --- rate changes ---------------------------------------------------------------------------------------


@layer_classes("Pooling2D")
def _pool_layer(layer, ins: list[str], emit: Emit) -> str:
    if "max" not in str(layer.get_attr("pool_op", "max")).lower():
        raise TypeMismatch(
            f"hls4ml layer {layer.name} (Pooling2D {layer.get_attr('pool_op')}) has no IR counterpart"
        )
    return emit(layer, "maxpool2", ins, "maxpool2")


@layer_classes("Resize")
def _resize_layer(layer, ins: list[str], emit: Emit) -> str:
    return emit(layer, "upsample2", ins, "upsample2")


@HLS4ML.register("maxpool2")
class MaxPool(Hls4mlOp):
    def check(self, graph: IntegerGraph, name: str, op: PseudoOp) -> None:
        check_exact(graph, name, op)

    def schedule(self, node, ins: list[np.ndarray], latency: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Output (y, x) needs input (2y+1, 2x+1), the last pixel of its block."""
        x = ins[0]
        h, w = x.shape
        return [x], emit_times(x[1::2, 1::2][: h // 2, : w // 2] + latency)


@HLS4ML.register("upsample2")
class Upsample(Hls4mlOp):
    def check(self, graph: IntegerGraph, name: str, op: PseudoOp) -> None:
        check_exact(graph, name, op)

    def apply(self, graph: IntegerGraph, name: str, op: PseudoOp, merged_quant: bool) -> None:
        """hls4ml's `resize_nearest` takes one type in and out: after the requant before it got the graph's
        rounding (a half_up model's AP_RND), the output must follow, or the project does not compile."""
        op.layer.get_output_variable().type.precision = op.layer.get_input_variable().type.precision

    def schedule(self, node, ins: list[np.ndarray], latency: int) -> tuple[list[np.ndarray], np.ndarray]:
        """hls4ml reads a whole input row, then writes two output rows: output row 2r needs input row r
        complete; its row loop is pipelined, so row r is read once it has started writing row r-1."""
        x = ins[0]
        h, w = x.shape
        row_done = x[:, -1]
        need = np.repeat(np.repeat(row_done[:, None], 2 * w, axis=1), 2, axis=0) + latency
        out = np.empty((2 * h, 2 * w), dtype=np.int64)
        read = np.empty_like(x)
        prev_read_end, prev_out_start, prev_out_end = FLOOR, FLOOR, FLOOR
        for r in range(h):
            read[r] = emit_times(np.maximum(x[r], max(prev_read_end, prev_out_start) + 1))
            rows = need[2 * r : 2 * r + 2].copy()
            rows[0, 0] = max(rows[0, 0], read[r, -1] + latency, prev_out_end + 1)
            out[2 * r : 2 * r + 2] = emit_times(rows)
            prev_read_end, prev_out_start, prev_out_end = read[r, -1], out[2 * r, 0], out[2 * r + 1, -1]
        return [read], out
