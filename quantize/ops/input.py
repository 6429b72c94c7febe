"""`input`: the camera codes, already on the input quantizer's grid."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from fluorogate.quantize.ops.base import OpNode
from fluorogate.quantize.tensors import CameraConversion, Rounding, TensorQuant, TensorRange


class InputNode(OpNode):
    """Input codes (`quant`: bits, signed, exp). `camera` says how raw ADU become them in hardware:
    `sat(round_shift(adu - offset, shift))` (`quantize.camera.adu_to_codes`)."""

    op: Literal["input"] = "input"
    channels: int = Field(ge=1)
    quant: TensorQuant
    camera: CameraConversion | None = None

    arity: ClassVar[int | None] = 0

    def infer_channels(self, ins: list[int]) -> int:
        return self.channels

    def infer_exp(self, ins: list[int]) -> int:
        return self.quant.exp

    def infer_range(self, ins: list[TensorRange], exp: int, rounding: Rounding) -> tuple[int, int]:
        return self.quant.min_int, self.quant.max_int
