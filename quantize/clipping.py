"""Clipping, counted (the arithmetic; `models.clipping` applies it to runs): input codes the camera
conversion saturates and output codes at the network's ceiling.

The camera front end `codes = sat(round_shift(adu - offset, shift))` clips twice: below (ADU under the
conversion offset, i.e. more than the read-noise pedestal under the camera offset) and above (ADU whose
code would pass 2**bits - 1). In a sparse-spot movie the brightest pixels are the spots, so a shift
chosen from a high percentile cuts exactly the signal (measured on a real movie: 388 spot peaks cut at
156.75 ADU). So the shift is chosen from the largest ADU the data hold (`no_clip_shift`), and whatever is
still clipped is counted at training, export and reference time and reported; a shift that would clip
the signal is refused unless the user allows it (`--allow-clipping`).
"""

from __future__ import annotations

import math

import numpy as np

from fluorogate.errors import UserError
from fluorogate.quantize.ir import CameraConversion
from fluorogate.quantize.rounding import round_shift


def input_clipping(
    adu: np.ndarray, conv: CameraConversion, bits: int, rounding: str = "half_even"
) -> dict[str, int]:
    """{"low", "high", "pixels"}: how many of `adu` the conversion saturates at code 0 (from below zero)
    and at code 2**bits - 1 (from above it), by the front end's exact integer arithmetic before its
    saturation (`models.camera.adu_to_codes`)."""
    x = np.asarray(adu).astype(np.int64) - conv.offset
    codes = round_shift(x, conv.shift, rounding)
    return {
        "low": int(np.count_nonzero(codes < 0)),
        "high": int(np.count_nonzero(codes > 2**bits - 1)),
        "pixels": int(x.size),
    }


def no_clip_shift(peak_adu: float, offset: int, bits: int) -> int:
    """The smallest shift (negative: an exact left shift) that keeps `peak_adu` at or below the top code."""
    span = max(float(peak_adu) - offset, 1.0)
    shift = math.ceil(math.log2(span / (2**bits - 1)))
    while span > ((2**bits - 1) * 2.0**shift):
        shift += 1
    return shift


def check_input_clipping(counts: dict[str, int], what: str, allow: bool) -> None:
    """Refuse a conversion that clips the top of the data (the signal) unless `allow`."""
    if counts["high"] and not allow:
        raise UserError(
            f"{what}: {counts['high']} of {counts['pixels']} pixels would saturate the input codes "
            "(the brightest signal); leave --input-shift out (the default keeps them) or pass "
            "--allow-clipping"
        )


def output_saturation(codes: np.ndarray, top: int) -> int:
    """Output codes at the output quantizer's ceiling (`top`): the network's answer clipped there."""
    return int(np.count_nonzero(np.asarray(codes) >= top))


def describe(counts: dict[str, int], what: str) -> str:
    share = 100 * counts["high"] / max(counts["pixels"], 1)
    return (
        f"{what}: {counts['high']} of {counts['pixels']} pixels saturate the input codes at the top "
        f"({share:.4f} %), {counts['low']} at the bottom"
    )


def summary(report: dict) -> str:
    """One line from a `clipping.json`-style report (input_high / input_pixels / output_at_ceiling ...)."""
    line = (
        f"clipping: {report['input_high']} of {report['input_pixels']} input pixels saturate the top input "
        f"code, {report['input_low']} the bottom"
    )
    if report.get("output_at_ceiling") is not None:
        line += f"; {report['output_at_ceiling']} of {report['output_pixels']} output codes at the ceiling"
    return line + (f" ({report['frames']})" if report.get("frames") else "")


def camera_conversion(preset, peak_adu: float, bits: int, pedestal_sigmas: float = 5.0):
    """The ADU -> code conversion for a camera (`sim.camera.CameraPreset`, e.g. a camera file) whose data
    reach `peak_adu`: offset = camera offset - the read-noise pedestal, the no-clip shift."""
    pedestal = max(1, math.ceil(pedestal_sigmas * preset.read_noise_e * preset.gain_adu_per_e))
    offset = preset.offset_adu - pedestal
    return CameraConversion(
        adu_bits=preset.adu_bits, offset=offset, shift=no_clip_shift(peak_adu, offset, bits)
    )
