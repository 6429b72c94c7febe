"""`dwconv`: a depthwise k x k convolution, one filter per channel (with a 1x1 `conv` after it, the
depthwise-separable block: 9 + C MACs per pixel and channel where a dense 3x3 takes 9 C).

`acc[c] = sum(w[c] * x[c]) + bias[c]` over the k x k window of channel c, zero 'same' padding, stride 1.
Exact, like `conv`: output exp `input.exp + weight_quant.exp`, bias on that exp. `weight` is (C, 1, k, k).
"""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from fluorogate.quantize.onnx_read import Builder, attrs, onnx_reader
from fluorogate.quantize.ops.conv import WindowConv, read_window_conv

DepthwiseKernel = Literal[3, 5]


class DepthwiseConvNode(WindowConv):
    """Depthwise: output channel c reads input channel c only (ONNX `group` = channels, multiplier 1)."""

    op: Literal["dwconv"] = "dwconv"
    kernel: DepthwiseKernel

    depthwise: ClassVar[bool] = True

    def infer_channels(self, ins: list[int]) -> int:
        if self.in_channels != 1 or ins[0] != self.out_channels:
            raise ValueError(
                f"dwconv {self.name}: weights {self.weight_array.shape} are not one filter per channel "
                f"of its {ins[0]}-channel input"
            )
        return self.out_channels


@onnx_reader("Conv", accepts=lambda node: attrs(node).get("group", 1) != 1)
def _read_depthwise(b: Builder, node) -> None:
    group = attrs(node)["group"]
    w = b.get(node, 1)
    shape = getattr(w, "value", None)
    shape = None if shape is None else shape.shape
    problems = []
    if shape is None or len(shape) != 4 or shape[1] != 1 or shape[0] != group:
        problems.append(
            f"group={group} (a grouped conv, weights {shape}: only depthwise, group = channels "
            "with one filter each, is supported)"
        )
    read_window_conv(b, node, DepthwiseConvNode, get_args(DepthwiseKernel), problems)
