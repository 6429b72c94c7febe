"""Rate changes: `maxpool2` (2x2, stride 2) and `upsample2` (nearest, x2: a pixel repeat). Both keep exp."""

from __future__ import annotations

from typing import Literal

import numpy as np

from fluorogate.errors import UserError
from fluorogate.quantize.onnx_read import Builder, attrs, onnx_reader
from fluorogate.quantize.ops.base import Exec, OpNode, RowWindow
from fluorogate.quantize.tensors import Rounding, TensorRange


class MaxPoolNode(OpNode):
    """2x2 max, stride 2: frame sizes must be even at every pool."""

    op: Literal["maxpool2"] = "maxpool2"

    def infer_size(self, ins: list[tuple[int, int]]) -> tuple[int, int]:
        h, w = ins[0]
        if h % 2 or w % 2:
            raise UserError(
                f"maxpool2 {self.name}: tensor is {h}x{w}; frame sizes must be even at every pool"
            )
        return h // 2, w // 2

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        return ins[0].lo, ins[0].hi

    def execute(self, ins: list, run: Exec):
        c, h, w = ins[0].shape
        self.infer_size([(h, w)])
        return ins[0].reshape(c, h // 2, 2, w // 2, 2).amax(dim=(2, 4))

    def row_window(self) -> RowWindow:
        return RowWindow(rows=2, stride=2)

    def arrival(self, ins: list[np.ndarray]) -> np.ndarray:
        h, w = ins[0].shape
        return ins[0].reshape(h // 2, 2, w // 2, 2).max(axis=(1, 3))


class UpsampleNode(OpNode):
    """Nearest neighbour x2: every pixel becomes a 2x2 block (every input row releases two output rows)."""

    op: Literal["upsample2"] = "upsample2"

    def infer_size(self, ins: list[tuple[int, int]]) -> tuple[int, int]:
        h, w = ins[0]
        return 2 * h, 2 * w

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        return ins[0].lo, ins[0].hi

    def execute(self, ins: list, run: Exec):
        return ins[0].repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)

    def arrival(self, ins: list[np.ndarray]) -> np.ndarray:
        return ins[0].repeat(2, axis=0).repeat(2, axis=1)


@onnx_reader("MaxPool")
def _read_maxpool(b: Builder, node) -> None:
    a = attrs(node)
    ok = (
        list(a.get("kernel_shape", [])) == [2, 2]
        and list(a.get("strides", [1, 1])) == [2, 2]
        and not any(a.get("pads", [0] * 4))
        and not a.get("ceil_mode", 0)
        and list(a.get("dilations", [1, 1])) == [1, 1]
    )
    if not ok:
        raise UserError(f"node {node.name} (MaxPool): {a}; only 2x2 stride 2 without padding is supported")
    b.emit(node, MaxPoolNode(name=node.name, inputs=[b.tensor(node).node]))


# (coordinate_transformation_mode, nearest_mode) pairs that make nearest x2 a plain pixel repeat.
_REPEAT_MODES = {
    ("asymmetric", "floor"),
    ("asymmetric", "round_prefer_floor"),
    ("half_pixel", "round_prefer_floor"),
    ("half_pixel", "round_prefer_ceil"),
    ("pytorch_half_pixel", "round_prefer_floor"),
    ("pytorch_half_pixel", "round_prefer_ceil"),
}


@onnx_reader("Resize", "Upsample")
def _read_resize(b: Builder, node) -> None:
    a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs(node).items()}
    x = b.tensor(node)
    mode = a.get("mode", "nearest")
    ctm, nm = (
        a.get("coordinate_transformation_mode", "half_pixel"),
        a.get("nearest_mode", "round_prefer_floor"),
    )
    if node.op_type == "Upsample":
        ctm, nm = "asymmetric", "floor"
    in_shape, out_shape = b.model.get_tensor_shape(node.input[0]), b.model.get_tensor_shape(node.output[0])
    factor_ok = (
        in_shape is not None
        and out_shape is not None
        and len(in_shape) == 4
        and list(out_shape) == [in_shape[0], in_shape[1], 2 * in_shape[2], 2 * in_shape[3]]
    )
    if mode != "nearest" or (ctm, nm) not in _REPEAT_MODES or not factor_ok:
        raise UserError(
            f"node {node.name} ({node.op_type}): mode={mode} {ctm}/{nm} shape {in_shape}->{out_shape}; "
            "only nearest x2 upsampling (pixel repeat) is supported"
        )
    b.emit(node, UpsampleNode(name=node.name, inputs=[x.node]))
