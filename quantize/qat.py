"""Brevitas quantizers for the QAT twin: power-of-two per-tensor scales and one recorded rounding.

Only what keeps Brevitas, QONNX, the integer reference, hls4ml and FINN bit-exact is offered:
fixed-point (power-of-two) per-tensor scales, unsigned activations after every ReLU, narrow signed
weights, `Int16Bias` (exact on the accumulator grid), and a rounding rule chosen per model:
- `half_even`: Brevitas's default `RoundSte` (torch.round) = QONNX `ROUND` = hls4ml AP_RND_CONV;
- `half_up`: `floor(x + 0.5)` (`HalfUpSte` below) = FINN's thresholds = ap_fixed AP_RND. QONNX's
  `HALF_UP` is sign-symmetric (half away from zero) and equals this only for x >= 0; the networks in
  `fluorogate.models.nets` feed every rounding quantizer non-negative values only, so the exported
  `HALF_UP` executes identically (see docs/quantization.md).
The input quantizer has a constant scale `2**-act_bits`: the camera front end (`models.camera`)
produces integer codes on exactly that grid, so the input is never rounded inside the network.

Weight scales (`ModelConfig.weight_scale`, recorded in config.json): `max` (Brevitas's FixedPoint default)
takes `2**ceil(log2(max|w| / (2**(bits-1) - 1)))` on every forward, so one large weight sets the grid
of the whole tensor: in the trained 4-bit denoiser most body weights then fell on codes -1, 0, +1.
`mse` is Brevitas's `Int8WeightPerTensorFixedPointMSE`: a learned power-of-two scale (a parameter in
log2, rounded up to an integer exponent by `CeilSte`) initialised at the power of two with the least
quantization MSE, so outliers saturate instead. Both export as power-of-two Quant scales: the IR and
every back end take them unchanged. Measured in docs/models.md ("Diagnosis").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from brevitas.core.scaling import ScalingImplType
from brevitas.quant import (
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerTensorFixedPointMSE,
    Int16Bias,
    Uint8ActPerTensorFixedPoint,
)
from torch import nn

from fluorogate.quantize.ir import Rounding

# QONNX `rounding_mode` of every Quant node, by recorded rounding (see the module docstring).
QONNX_ROUNDING_MODE: dict[str, str] = {"half_even": "ROUND", "half_up": "HALF_UP"}

# How a weight tensor's power-of-two scale is chosen (module docstring; `ModelConfig.weight_scale`).
WEIGHT_QUANT: dict[str, type] = {
    "max": Int8WeightPerTensorFixedPoint,
    "mse": Int8WeightPerTensorFixedPointMSE,
}


class HalfUpSte(nn.Module):
    """`floor(x + 0.5)` forward, identity gradient (straight-through), like Brevitas's `RoundSte`."""

    def __init__(self) -> None:  # dependency injection rejects the inherited *args/**kwargs
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (torch.floor(x + 0.5) - x).detach()


def round_like(x: torch.Tensor, rounding: Rounding) -> torch.Tensor:
    """Round a float tensor the way the model's quantizers do (no gradient)."""
    return torch.floor(x + 0.5) if rounding == "half_up" else torch.round(x)


@dataclass(frozen=True)
class Quantizers:
    """The quantizer classes one network uses, all with the same rounding."""

    input: type
    relu: type
    bias: type
    rounding: Rounding
    act_bits: int
    weight_scale: str = "max"  # a key of WEIGHT_QUANT

    def weight(self, bits: int) -> type:
        return _with_rounding(WEIGHT_QUANT[self.weight_scale].let(bit_width=bits), self.rounding)

    def input_grid(self, extra_bits: int = 0) -> type:
        """The input's constant grid `2**-act_bits`, refined by `extra_bits` fractional bits (same range).

        A finer output grid is worth 0.3-0.9 dB at low photon counts (the input grid is 1 ADU; see
        docs/models.md); the input still passes such a quantizer exactly (a left shift).
        """
        return self.input if extra_bits == 0 else self.input.let(bit_width=self.act_bits + extra_bits)


def _with_rounding(quant: type, rounding: Rounding) -> type:
    if rounding == "half_up":
        return quant.let(float_to_int_impl=HalfUpSte)
    if rounding == "half_even":
        return quant  # Brevitas's RoundSte is torch.round: half to even
    raise ValueError(f"unknown rounding {rounding!r}")


def make_quantizers(act_bits: int, rounding: Rounding, weight_scale: str = "max") -> Quantizers:
    relu = Uint8ActPerTensorFixedPoint.let(bit_width=act_bits)
    camera_input = relu.let(scaling_impl_type=ScalingImplType.CONST, scaling_init=1.0)  # scale 2**-bits
    return Quantizers(
        input=_with_rounding(camera_input, rounding),
        relu=_with_rounding(relu, rounding),
        bias=_with_rounding(Int16Bias, rounding),
        rounding=rounding,
        act_bits=act_bits,
        weight_scale=weight_scale,
    )
