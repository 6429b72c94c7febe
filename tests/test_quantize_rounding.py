"""Unit tests of the one rounding (rounding.py): every array type computes the same exact integers."""

from fractions import Fraction
from math import floor

import numpy as np
import pytest
import torch

from fluorogate.quantize.ir import TensorQuant
from fluorogate.quantize.rounding import requant, requant_int, round_float, round_shift


def _exact(x: int, s: int, rounding: str) -> int:
    """The definition, on rationals: round(x / 2**s) with ties to even or towards +inf."""
    v = Fraction(x, 2**s)
    if rounding == "half_up":
        return floor(v + Fraction(1, 2))
    f = floor(v)
    r = v - f
    return f + (r > Fraction(1, 2) or (r == Fraction(1, 2) and f % 2 == 1))


@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
@pytest.mark.parametrize("shift", [-2, 0, 1, 2, 3, 7])
def test_round_shift_matches_definition_for_every_array_type(rounding, shift):
    xs = [*range(-300, 301), 2**30 - 1, -(2**30)]
    want = [_exact(x, shift, rounding) if shift > 0 else x << -shift for x in xs]
    assert list(round_shift(np.array(xs, dtype=object), shift, rounding)) == want
    assert round_shift(np.array(xs, dtype=np.int64), shift, rounding).tolist() == want
    assert round_shift(torch.tensor(xs, dtype=torch.int64), shift, rounding).tolist() == want
    small = [x for x in xs if abs(x) < 2**29]
    want_small = [w for x, w in zip(xs, want, strict=True) if abs(x) < 2**29]
    assert round_shift(torch.tensor(small, dtype=torch.int32), shift, rounding).tolist() == want_small


def test_ties_differ_between_roundings_as_documented():
    ties = np.array([-5, -3, -1, 1, 3, 5], dtype=np.int64)  # x / 2 = -2.5, -1.5, -0.5, 0.5, 1.5, 2.5
    assert round_shift(ties, 1, "half_even").tolist() == [-2, -2, 0, 0, 2, 2]
    assert round_shift(ties, 1, "half_up").tolist() == [-2, -1, 0, 1, 2, 3]


@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
def test_requant_saturates_and_fused_relu_equals_relu_then_requant(rounding):
    q = TensorQuant(bits=4, signed=True, exp=0)
    x = torch.arange(-200, 201, dtype=torch.int64)
    y = requant_int(x, 3, q, rounding)
    assert y.min().item() == -8 and y.max().item() == 7
    assert torch.equal(requant_int(x, 3, q, rounding, relu=True), requant_int(x.clamp_min(0), 3, q, rounding))


def test_round_float_copies_the_input_quantizers_float32_arithmetic():
    from fluorogate.quantize.qat import HalfUpSte

    below_half = np.nextafter(np.float32(0.5), np.float32(0))
    v = np.array(
        [below_half, 0.5, -0.5, -1.5, 2.5, 254.5, np.nextafter(np.float32(254.5), np.float32(0))],
        dtype=np.float32,
    )
    assert round_float(v, "half_even").tolist() == torch.round(torch.from_numpy(v)).tolist()
    assert round_float(v, "half_up").tolist() == HalfUpSte()(torch.from_numpy(v)).tolist()
    assert round_float(v, "half_up")[0] == 1.0  # float32 floor(v + 0.5), not the exact 0


@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
@pytest.mark.parametrize("shift", [-3, 0, 1, 2, 5, 11])
def test_float_carrier_requant_equals_integer_requant_up_to_the_bound(rounding, shift):
    """The fast reference's float32 requant == the integer definition, up to |x| + half = 2**24."""
    q = TensorQuant(bits=32, signed=True, exp=0)
    limit = 2**24 - (1 << max(shift - 1, 0)) if shift > 0 else 2**24 >> -shift
    xs = np.concatenate(
        [np.arange(-3000, 3001), np.arange(limit - 3000, limit + 1), np.arange(-limit, -limit + 3000)]
    )
    want = requant_int(torch.tensor(xs, dtype=torch.int64), shift, q, rounding)
    got = requant(torch.tensor(xs, dtype=torch.float32), shift, q, rounding)
    assert torch.equal(got.to(torch.int64), want)
    relu_q = TensorQuant(bits=8, signed=False, exp=0)
    assert torch.equal(
        requant(torch.tensor(xs, dtype=torch.float64), shift, relu_q, rounding, relu=True).long(),
        requant_int(torch.tensor(xs).clamp_min(0), shift, relu_q, rounding),
    )
