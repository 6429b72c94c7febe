"""Small Verilog-2005 emission helpers for exact integer arithmetic.

Everything the generator computes is signed: Verilog makes an expression unsigned as soon as one
operand is (a part-select, an unsized 1-bit flag), which silently breaks sign extension, so every
operand goes through `sx` or `sconst` and every wire is declared `signed` with an explicit width.
"""

from __future__ import annotations

from dataclasses import dataclass

from fluorogate.quantize.ir import Rounding


def signed_bits(bound: int) -> int:
    """Two's-complement width holding every integer in [-bound, bound]."""
    return max(int(bound).bit_length() + 1, 2)


def range_bits(lo: int, hi: int) -> int:
    """Two's-complement width holding [lo, hi]."""
    return max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1


def sx(field: str, signed: bool) -> str:
    """A bit field as a signed operand (zero-extended by one bit when the field is unsigned)."""
    return f"$signed({field})" if signed else f"$signed({{1'b0, {field}}})"


def sconst(value: int, width: int) -> str:
    """A signed sized constant (negative values as the negation of a signed literal)."""
    width = max(width, range_bits(value, value))
    return f"{width}'sd{value}" if value >= 0 else f"-{width}'sd{-value}"


@dataclass(frozen=True)
class Sig:
    """A signed wire and its width."""

    name: str
    width: int


class Emitter:
    """Collects wire declarations for one module; each helper returns the new signal."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.lines: list[str] = []
        self._n = 0

    def _new(self, width: int, hint: str) -> Sig:
        self._n += 1
        return Sig(f"{self.prefix}{hint}{self._n}", max(width, 1))

    def wire(self, width: int, expr: str, hint: str = "t") -> Sig:
        sig = self._new(width, hint)
        self.lines.append(f"    wire signed [{sig.width - 1}:0] {sig.name} = {expr};")
        return sig

    def reg(self, width: int, expr: str, hint: str = "r") -> Sig:
        """A pipeline register (needs `clk`): cuts a long arithmetic path at the cost of one cycle."""
        sig = self._new(width, hint)
        self.lines += [
            f"    reg signed [{sig.width - 1}:0] {sig.name};",
            f"    always @(posedge clk) {sig.name} <= {expr};",
        ]
        return sig

    def relu(self, x: Sig) -> Sig:
        return self.wire(x.width, f"{x.name}[{x.width - 1}] ? {sconst(0, x.width)} : {x.name}", "relu")

    def shift(self, x: Sig, right: int, rounding: Rounding) -> Sig:
        """`round(x / 2**right)` with the graph's rounding; a negative `right` is an exact left shift."""
        if right <= 0:
            return self.wire(x.width - right, f"{x.name} <<< {-right}" if right else x.name, "sh")
        if right >= x.width:  # everything shifts out; only the rounding of the top bits can remain
            x = self.wire(right + 1, x.name, "ext")
        q = self.wire(x.width - right, f"{x.name} >>> {right}", "q")
        half = f"{x.name}[{right - 1}]"
        if rounding == "half_up":  # floor(x / 2**s + 1/2) = q + (remainder >= half)
            up = half
        else:  # ties (remainder exactly half) go to the even neighbour
            rest = f"(|{x.name}[{right - 2}:0])" if right > 1 else "1'b0"
            up = f"({half} & ({rest} | {q.name}[0]))"
        return self.wire(q.width + 1, f"{q.name} + $signed({{1'b0, {up}}})", "rnd")

    def saturate(self, x: Sig, lo: int, hi: int) -> Sig:
        width = max(x.width, range_bits(lo, hi))
        return self.wire(
            width,
            f"({x.name} < {sconst(lo, width)}) ? {sconst(lo, width)} : "
            f"({x.name} > {sconst(hi, width)}) ? {sconst(hi, width)} : {x.name}",
            "sat",
        )

    def requant(self, x: Sig, right: int, rounding: Rounding, lo: int, hi: int) -> Sig:
        return self.saturate(self.shift(x, right, rounding), lo, hi)


def fit(v: Sig, bits: int) -> str:
    """Signed `v` as exactly `bits` bits: its low bits (range analysis proves the value fits), or
    sign-extended when narrower (a concat's unsigned channel beside wider signed ones: selecting past a
    wire's width is X)."""
    if v.width >= bits:
        return f"{v.name}[{bits - 1}:0]"
    return f"{{{{{bits - v.width}{{{v.name}[{v.width - 1}]}}}}, {v.name}}}"
