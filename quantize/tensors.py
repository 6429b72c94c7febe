"""The value types of the IR: a quantizer's integer grid, a proven range, the camera conversion.

They sit below the op classes (`quantize/ops/`) and the graph (`quantize/ir.py`, which re-exports them),
so every op and every integer operator (`rounding.py`) can name them without importing the graph.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Rounding = Literal["half_even", "half_up"]


class TensorQuant(BaseModel):
    """A quantizer's integer grid: `bits` wide, `signed` or not, real value `int * 2**exp`."""

    model_config = ConfigDict(frozen=True)

    bits: int = Field(ge=1, le=32)
    signed: bool
    narrow: bool = False  # signed narrow range: -(2**(b-1)-1) .. 2**(b-1)-1 (Brevitas weights)
    exp: int

    @property
    def min_int(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def max_int(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1


class TensorRange(BaseModel):
    """Result of static range analysis for one tensor: exact integer bounds and the width they need."""

    model_config = ConfigDict(frozen=True)

    lo: int
    hi: int
    exp: int

    @property
    def signed(self) -> bool:
        return self.lo < 0

    @property
    def bits(self) -> int:
        """Smallest two's-complement (if signed) or unsigned width holding [lo, hi]."""
        if self.signed:
            return max(self.hi.bit_length(), (-self.lo - 1).bit_length()) + 1
        return max(self.hi.bit_length(), 1)

    @property
    def magnitude(self) -> int:
        """max(|lo|, |hi|): the largest integer the tensor can hold, in absolute value."""
        return max(abs(self.lo), abs(self.hi))


class CameraConversion(BaseModel):
    """Raw camera ADU to input codes, in integer hardware: `sat(round_shift(adu - offset, shift))`."""

    adu_bits: int = Field(ge=1, le=32)
    offset: int
    shift: int  # right shift (>0) with the graph's rounding; negative means an exact left shift
