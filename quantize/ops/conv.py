"""`conv`: a dense k x k convolution, and what every convolution of the IR shares (`WindowConv`).

`acc = sum(w * x) + bias`, zero 'same' padding, stride 1, kernel 1, 3 or 5. Exact: the output exp is
`input.exp + weight_quant.exp`; the bias is stored already on that exp (Int16Bias guarantees it).
"""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar, Literal, get_args

import numpy as np
from pydantic import model_validator

from fluorogate.errors import UserError
from fluorogate.quantize.onnx_read import Builder, Const, attrs, onnx_reader
from fluorogate.quantize.ops.base import Exec, OpNode, RowWindow
from fluorogate.quantize.tensors import Rounding, TensorQuant, TensorRange

Kernel = Literal[1, 3, 5]


class WindowConv(OpNode):
    """A convolution over a k x k window: integer weights on one power-of-two grid, bias on the
    accumulator's grid, zero 'same' padding, stride 1. `weight` is (O, I / groups, k, k)."""

    kernel: int
    weight: list
    weight_quant: TensorQuant
    bias: list[int] | None = None  # on exp `input exp + weight_quant.exp`

    depthwise: ClassVar[bool] = False  # True: groups == channels, one k x k filter per channel

    @cached_property
    def weight_array(self) -> np.ndarray:
        return np.asarray(self.weight, dtype=np.int64)

    @property
    def out_channels(self) -> int:
        return len(self.weight)

    @property
    def in_channels(self) -> int:
        """Input channels each output reads (1 for a depthwise conv)."""
        return len(self.weight[0])

    @model_validator(mode="after")
    def _check_shapes(self) -> WindowConv:
        w = np.asarray(self.weight)
        if w.ndim != 4 or w.shape[2:] != (self.kernel, self.kernel):
            raise ValueError(
                f"{self.op} {self.name}: weight shape {w.shape} is not (O, I, {self.kernel}, {self.kernel})"
            )
        if self.bias is not None and len(self.bias) != w.shape[0]:
            raise ValueError(
                f"{self.op} {self.name}: {len(self.bias)} biases for {w.shape[0]} output channels"
            )
        return self

    def infer_exp(self, ins: list[int]) -> int:
        return ins[0] + self.weight_quant.exp

    def _bias(self) -> np.ndarray:
        return np.asarray(self.bias if self.bias is not None else [0] * self.out_channels, dtype=object)

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        """Per output channel `hi = sum_{w>0} w * x_hi + sum_{w<0} w * x_lo + b` (and `lo` likewise), the
        union over channels. A window wider than 1 also sees the zero padding: 0 joins the input interval."""
        x = ins[0]
        lo, hi = (min(x.lo, 0), max(x.hi, 0)) if self.kernel > 1 else (x.lo, x.hi)
        w = self.weight_array.reshape(self.out_channels, -1)
        pos, neg = np.where(w > 0, w, 0).astype(object), np.where(w < 0, w, 0).astype(object)
        # Python ints (dtype=object): exact whatever the widths.
        ch_hi = (pos * hi).sum(axis=1) + (neg * lo).sum(axis=1) + self._bias()
        ch_lo = (pos * lo).sum(axis=1) + (neg * hi).sum(axis=1) + self._bias()
        return int(min(ch_lo)), int(max(ch_hi))

    def product_bounds(self, x: TensorRange) -> np.ndarray:
        """Per output channel, `sum|w| * max|x|`: bounds every partial sum of the products, in any order."""
        w = np.abs(self.weight_array.reshape(self.out_channels, -1)).astype(object)
        return (w * x.magnitude).sum(axis=1)

    def accumulator_bound(self, ins: list[TensorRange]) -> int:
        """`max over channels of sum|w| * max|x| + |b|`: every partial sum of `b + sum(w_i * x_i)` stays
        within it, whatever order a BLAS kernel (or an adder tree) adds in."""
        return int(max(self.product_bounds(ins[0]) + np.abs(self._bias())))

    def widest_operand(self, ins: list[TensorRange], out: TensorRange) -> int:
        return int(np.abs(self.weight_array).max(initial=0))

    def groups(self) -> int:
        return self.out_channels if self.depthwise else 1

    def constants(self, carrier):
        import torch

        wm = torch.from_numpy(self.weight_array).to(carrier)
        bias = None if self.bias is None else torch.tensor(self.bias, dtype=torch.int64).to(carrier)
        return wm, bias

    def execute(self, ins: list, run: Exec):
        from fluorogate.quantize.exact import conv_frame

        wm, bias = run.plan.consts[self.name]
        return conv_frame(ins[0], wm, bias, self.kernel, run.pad_rows, self.groups())

    def row_window(self) -> RowWindow:
        return RowWindow(rows=self.kernel, stride=1, pad=self.kernel // 2)

    def arrival(self, ins: list[np.ndarray]) -> np.ndarray:
        if self.kernel == 1:
            return ins[0]
        from scipy.ndimage import maximum_filter

        return maximum_filter(ins[0], size=self.kernel, mode="constant", cval=-1)


class ConvNode(WindowConv):
    """Dense: every output channel sums over every input channel's k x k window."""

    op: Literal["conv"] = "conv"
    kernel: Kernel

    def infer_channels(self, ins: list[int]) -> int:
        if ins[0] != self.in_channels:
            raise ValueError(
                f"conv {self.name}: weights for {self.in_channels} input channels, input has {ins[0]}"
            )
        return self.out_channels


# --- QONNX -> IR --------------------------------------------------------------------------------------


def conv_weights(b: Builder, node) -> tuple[np.ndarray, TensorQuant]:
    """The conv's quantized weights: integer codes (O, I, k, k) and their grid."""
    w = b.get(node, 1)
    if not isinstance(w, Const) or w.exp is None:
        raise UserError(
            f"node {node.name} (Conv): weights are not quantized (Quant on the weight initializer "
            "with a power-of-two scale, e.g. Int8WeightPerTensorFixedPoint)"
        )
    if not w.quant.signed:
        raise UserError(
            f"node {node.name} (Conv): unsigned weight quantizer; the hardware takes signed weights"
        )
    return w.value, w.quant


def conv_bias(b: Builder, node, out_exp: int, out_channels: int) -> list[int] | None:
    """The bias codes on the accumulator grid `2**out_exp` (exact left shifts), or None."""
    if len(node.input) < 3 or not node.input[2]:
        return None
    bias = b.get(node, 2)
    if not isinstance(bias, Const):
        raise UserError(f"node {node.name} (Conv): bias is not a constant")
    if bias.exp is None:  # a float initializer: accept it only if it lies exactly on the accumulator grid
        ints = bias.value.astype(np.float64) / 2.0**out_exp
        if np.any(ints != np.rint(ints)):
            raise UserError(
                f"node {node.name} (Conv): float bias is not on the accumulator grid 2**{out_exp}; "
                "quantize it (Int16Bias)"
            )
        codes, exp = np.rint(ints).astype(np.int64), out_exp
    else:
        codes, exp = bias.value, bias.exp
    if exp < out_exp:
        raise UserError(
            f"node {node.name} (Conv): bias scale 2**{exp} is finer than the accumulator's "
            f"2**{out_exp}; it would need rounding (use Int16Bias: scale = input scale * weight scale)"
        )
    codes = codes.ravel() << (exp - out_exp)  # exact alignment onto the accumulator grid
    if codes.size != out_channels:
        raise UserError(f"node {node.name} (Conv): {codes.size} biases for {out_channels} output channels")
    return [int(v) for v in codes]


def read_window_conv(b: Builder, node, cls: type[WindowConv], kernels: tuple[int, ...], problems: list[str]):
    """Emit `cls` for an ONNX Conv: weights, bias, the kernel and 'same' zero padding, stride 1, checked.
    `problems`: what the caller already found wrong (e.g. the groups)."""
    x = b.tensor(node)
    w, wq = conv_weights(b, node)
    a = attrs(node)
    if w.ndim != 4 or w.shape[2] != w.shape[3] or w.shape[2] not in kernels:
        sizes = ", ".join(f"{k}x{k}" for k in kernels)
        raise UserError(f"node {node.name} (Conv): kernel {w.shape[2:]} is not one of {sizes}")
    k = w.shape[2]
    pad = k // 2
    problems = list(problems)
    if list(a.get("strides", [1, 1])) != [1, 1]:
        problems.append(f"strides={list(a['strides'])}")
    if list(a.get("dilations", [1, 1])) != [1, 1]:
        problems.append(f"dilations={list(a['dilations'])}")
    auto_pad = a.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER") or (
        auto_pad == "NOTSET" and list(a.get("pads", [0] * 4)) != [pad] * 4
    ):
        problems.append(
            f"padding {list(a.get('pads', []))} auto_pad={auto_pad} (needs 'same': pads={[pad] * 4})"
        )
    if problems:
        raise UserError(
            f"node {node.name} (Conv): unsupported {', '.join(problems)}; "
            "the hardware does 'same' zero padding, stride 1, no dilation, groups only as a depthwise conv"
        )
    out_exp = x.exp + wq.exp
    bias = conv_bias(b, node, out_exp, w.shape[0])
    b.emit(
        node,
        cls(
            name=node.name,
            inputs=[x.node],
            kernel=k,
            weight=w.astype(np.int64).tolist(),
            weight_quant=wq,
            bias=bias,
        ),
    )


@onnx_reader("Conv", accepts=lambda node: attrs(node).get("group", 1) == 1)
def _read_conv(b: Builder, node) -> None:
    read_window_conv(b, node, ConvNode, get_args(Kernel), [])
