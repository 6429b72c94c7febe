"""The vocabulary shared by hls4ml's types step and its per-op handlers: integer grids as ap_fixed
types, the IR-level pseudo ops an hls4ml layer performs, and the one error of a disagreement.

An ap_fixed<W, I> holds `int * 2**(I - W)`: a tensor of `bits` with exponent `exp` is
ap_fixed<bits, bits + exp>.
"""

from __future__ import annotations

from dataclasses import dataclass

from fluorogate.errors import VerificationError
from fluorogate.quantize.ir import TensorQuant, TensorRange

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

        p = FixedPrecisionType(
            self.bits,
            self.bits + self.exp,
            self.signed,
            RoundingMode.from_string(rounding) if rounding else None,
            SaturationMode.SAT if rounding else None,
        )
        return APTypeConverter().convert(p)


@dataclass
class PseudoOp:
    """One IR-level operation performed by (part of) an hls4ml layer."""

    op: str
    inputs: list[str]
    layer: object
    name: str


def output_grid(layer) -> Grid:
    return Grid.of_precision(layer.get_output_variable().type.precision)
