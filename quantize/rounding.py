"""The one rounding of the hardware: an arithmetic right shift with a rounding rule, then saturation.

Written once over anything with two's-complement integer operators (`>>`, `<<`, `&`, `+`): numpy
int64 arrays, numpy object arrays of Python ints (range analysis, exact at any width) and torch int64
tensors (the fast reference), so every user computes bit-identical results from the same lines.

With `q = x >> s` (floor) and `half = 2**(s-1)`:
- half_up   (`floor(x/2**s + 1/2)`, FINN thresholds, ap_fixed AP_RND): `(x + half) >> s`.
- half_even (QONNX ROUND, numpy/torch round, AP_RND_CONV): `(x + half - 1 + (q & 1)) >> s`; the
  remainder `r = x - q*2**s` rounds up iff `r + half - 1 + (q & 1) >= 2**s`, i.e. `r > half`, or
  `r == half` with `q` odd: ties go to the even neighbour.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fluorogate.quantize.tensors import TensorQuant


def round_shift(x: Any, shift: int, rounding: str, inplace: bool = False) -> Any:
    """`round(x / 2**shift)` with `rounding`; `shift <= 0` is an exact left shift.

    `inplace=True` overwrites `x` (an array nobody else reads): fewer large allocations, which on a
    busy machine cost more than the arithmetic.
    """
    y = x if inplace else x + 0
    if shift <= 0:
        y <<= -shift
        return y
    half = 1 << (shift - 1)
    if rounding == "half_up":
        y += half
    elif rounding == "half_even":
        odd = x >> shift  # read x before y (which may be x) changes
        odd &= 1
        y += odd
        y += half - 1
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    y >>= shift
    return y


def saturate(x: Any, lo: int, hi: int) -> Any:
    if hasattr(x, "clamp"):  # torch tensor
        return x.clamp(lo, hi)
    return np.clip(x, lo, hi)


def requant_int(
    x: Any, shift: int, quant: TensorQuant, rounding: str, relu: bool = False, inplace: bool = False
) -> Any:
    """The IR's `requant`: `sat(round(x / 2**shift))` onto `quant`'s integer range.

    `relu=True` computes `requant(relu(x))` in one pass: rounding is monotone and maps 0 to 0, so
    `sat(round(max(x, 0))) == clamp(round(x), max(min_int, 0), max_int)`.
    """
    lo, hi = (max(quant.min_int, 0) if relu else quant.min_int), quant.max_int
    y = round_shift(x, shift, rounding, inplace)  # y is ours now: saturate it in place
    if hasattr(y, "clamp_"):
        return y.clamp_(lo, hi)
    return np.clip(y, lo, hi, out=y) if isinstance(y, np.ndarray) else saturate(y, lo, hi)


def requant(
    x: Any, shift: int, quant: TensorQuant, rounding: str, relu: bool = False, inplace: bool = False
) -> Any:
    """`requant_int` on the reference's carrier: integer arrays as above; float tensors holding integers
    (the fast reference) by the same shifts written as exact float operations, in place:

    - half_up: `floor((X + half) * 2**-s)` == `(X + half) >> s`;
    - half_even: `round(X * 2**-s)` (IEEE round-to-integral, ties to even: torch.round);
    - left shift: `X * 2**k`.
    Exact because the caller proved `|X| + half <= 2**p` and `|X * 2**k| <= 2**p` (p = 24 for float32,
    53 for float64; `reference.widest_integer`): the sum is an integer below 2**p, so representable;
    scaling by a power of two only moves the exponent; floor and round return representable integers.
    """
    if not (hasattr(x, "is_floating_point") and x.is_floating_point()):
        return requant_int(x, shift, quant, rounding, relu, inplace)
    y = x if inplace else x.clone()
    if shift > 0 and rounding == "half_up":
        y.add_(1 << (shift - 1)).mul_(2.0**-shift).floor_()
    elif shift > 0 and rounding == "half_even":
        y.mul_(2.0**-shift).round_()
    elif shift > 0:
        raise ValueError(f"unknown rounding {rounding!r}")
    elif shift < 0:
        y.mul_(2.0**-shift)
    return y.clamp_(max(quant.min_int, 0) if relu else quant.min_int, quant.max_int)


def round_float(v: np.ndarray, rounding: str) -> np.ndarray:
    """Round float32 values as the input quantizer does in Brevitas, float32 arithmetic included.

    half_even: `torch.round` (exact). half_up: `HalfUpSte`'s `floor(v + 0.5)` in float32, which is
    *not* the exact floor(v + 1/2) within half an ulp below a tie where the sum crosses a power of
    two (the largest float32 below 0.5 gives 1): the reference must equal the quantizer, so it copies
    it. Camera codes never meet this (they are integers); only float images can.
    """
    v = np.asarray(v, dtype=np.float32)
    if rounding == "half_even":
        return np.rint(v)
    if rounding == "half_up":
        return np.floor(v + np.float32(0.5))
    raise ValueError(f"unknown rounding {rounding!r}")
