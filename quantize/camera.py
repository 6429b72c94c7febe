"""Camera front end: raw ADU -> the network's input codes, as one integer operation.

`codes = sat(round_shift(adu - offset, shift))` onto the input quantizer's unsigned `bits` range
(the IR's `CameraConversion`; hardware: one subtractor, a shift, a clamp). Training, evaluation and
the hardware all use exactly this, so the network never sees data the FPGA would not produce.

Choices, from the camera preset and the brightest pixel to expect (`peak_photons`):
- `offset = camera offset - pedestal`: the pedestal (`pedestal_sigmas` read-noise sigmas, in ADU)
  keeps dark pixels, whose noise swings below the camera offset, above code 0. The input is then
  unsigned like every other activation, so every rounding in the network sees values >= 0.
- `shift`: the smallest (possibly negative = exact left shift) that fits pedestal + peak signal +
  3 sigma of its shot noise into `2**bits - 1` codes.
The network's real input is `codes * 2**-bits` (the input quantizer's constant scale); targets are
put on the same scale without rounding (`adu_to_real`).

A camera's numbers also come as a JSON file (`CameraSettings`: what `fluorogate calibrate` measures
from a movie, and what `fluorogate import --camera FILE` reads), named as `sim.camera.CameraPreset`
names them, so a preset and a file choose their conversion alike.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fluorogate.errors import UserError
from fluorogate.quantize.ir import CameraConversion, Rounding
from fluorogate.quantize.rounding import round_shift, saturate


class CameraSettings(BaseModel):
    """One camera's numbers as a JSON file holds them, with `CameraPreset`'s names.

    Required: `offset_adu` (dark level, ADU), `gain_adu_per_e` (conversion gain), `read_noise_e` (rms
    electrons), `adu_bits` (ADC bit depth = the stream's pixel width). Optional: `qe` (default 1: photon
    counts are then photo-electrons) and `em_gain` (default 1). Other keys (the movie it was measured
    from, fit quality) are allowed and ignored here.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    offset_adu: float = Field(ge=0)
    gain_adu_per_e: float = Field(gt=0)
    read_noise_e: float = Field(ge=0)
    adu_bits: int = Field(ge=1, le=32)
    qe: float = Field(default=1.0, gt=0, le=1)
    em_gain: float = Field(default=1.0, ge=1)


def read_camera_settings(path: str | Path) -> CameraSettings:
    """A camera JSON file (`CameraSettings`); one line naming the file and the bad or missing field."""
    path = Path(path)
    try:
        return CameraSettings.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise UserError(f"{path}: no such camera file") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON ({exc})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"])) or "the file"
        raise UserError(
            f"{path}: camera {where}: {err['msg']} (needs offset_adu, gain_adu_per_e, read_noise_e, "
            "adu_bits; optional qe, em_gain)"
        ) from None


def adu_per_photon(preset) -> float:
    return preset.qe * preset.em_gain * preset.gain_adu_per_e


def choose_conversion(
    preset, peak_photons: float = 100.0, bits: int = 8, pedestal_sigmas: float = 5.0
) -> CameraConversion:
    """The ADU -> code conversion for camera `preset` (a `fluorogate.sim.camera.CameraPreset` or
    `CameraSettings`)."""
    gain = adu_per_photon(preset)
    pedestal = max(1, math.ceil(pedestal_sigmas * preset.read_noise_e * preset.gain_adu_per_e))
    span = pedestal + gain * (peak_photons + 3.0 * math.sqrt(peak_photons))
    shift = math.ceil(math.log2(span / (2**bits - 1)))
    return CameraConversion(adu_bits=preset.adu_bits, offset=round(preset.offset_adu) - pedestal, shift=shift)


def adu_to_codes(adu: np.ndarray, conv: CameraConversion, rounding: Rounding, bits: int) -> np.ndarray:
    """Raw integer ADU -> unsigned input codes (int64), bit-exact with the hardware front end."""
    x = np.asarray(adu).astype(np.int64) - conv.offset
    return saturate(round_shift(x, conv.shift, rounding), 0, 2**bits - 1)


def codes_to_real(codes: np.ndarray, bits: int) -> np.ndarray:
    """Input codes -> the network's real-valued input (exact in float32)."""
    return np.asarray(codes, dtype=np.float32) * np.float32(2.0**-bits)


def adu_to_real(adu: np.ndarray, conv: CameraConversion, bits: int) -> np.ndarray:
    """ADU (float, e.g. the noise-free truth) -> the network's real scale, without rounding or clipping."""
    return ((np.asarray(adu, dtype=np.float64) - conv.offset) * 2.0 ** (-conv.shift - bits)).astype(
        np.float32
    )


def real_to_adu(real: np.ndarray, conv: CameraConversion, bits: int) -> np.ndarray:
    """The network's real-valued output -> ADU (float64), the inverse of `adu_to_real`."""
    return np.asarray(real, dtype=np.float64) * 2.0 ** (conv.shift + bits) + conv.offset
