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

from fluorogate.quantize.ir import TensorQuant


def round_shift(x: Any, shift: int, rounding: str) -> Any:
    """`round(x / 2**shift)` with `rounding`; `shift <= 0` is an exact left shift."""
    if shift <= 0:
        return x << -shift
    half = 1 << (shift - 1)
    if rounding == "half_up":
        y = x + half
    elif rounding == "half_even":
        y = x >> shift
        y &= 1
        y += x
        y += half - 1
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    y >>= shift  # in place on the fresh y: one allocation per call (the reference's hot loop)
    return y


def saturate(x: Any, lo: int, hi: int) -> Any:
    if hasattr(x, "clamp"):  # torch tensor
        return x.clamp(lo, hi)
    return np.clip(x, lo, hi)


def requant_int(x: Any, shift: int, quant: TensorQuant, rounding: str, relu: bool = False) -> Any:
    """The IR's `requant`: `sat(round(x / 2**shift))` onto `quant`'s integer range.

    `relu=True` computes `requant(relu(x))` in one pass: rounding is monotone and maps 0 to 0, so
    `sat(round(max(x, 0))) == clamp(round(x), max(min_int, 0), max_int)`.
    """
    lo, hi = (max(quant.min_int, 0) if relu else quant.min_int), quant.max_int
    y = round_shift(x, shift, rounding)  # always a fresh array: saturate it in place
    if hasattr(y, "clamp_"):
        return y.clamp_(lo, hi)
    return np.clip(y, lo, hi, out=y) if isinstance(y, np.ndarray) else saturate(y, lo, hi)


def round_float(v: np.ndarray, rounding: str) -> np.ndarray:
    """Round float64 values to integers with `rounding` (exact: |v| < 2**52 where it matters)."""
    if rounding == "half_even":
        return np.rint(v)
    if rounding == "half_up":  # not floor(v + 0.5): that sum rounds up for the largest double below 0.5
        f = np.floor(v)
        return f + (v - f >= 0.5)  # v - floor(v) is exact
    raise ValueError(f"unknown rounding {rounding!r}")
