"""The one camera catalog: sensor presets (noise model, ADC) and the camera modes a data path must keep up
with.

`PRESETS`: the sensor numbers every simulated frame and every stream width come from. `CAMERA_MODES`:
the frame sizes and rates of real cameras (full frame and sub-arrays), each naming its sensor preset;
`bench.keep_up` judges a routed design against them and each task names the modes it is used with.

The numbers are data-sheet values for the camera class each preset stands for; they set the noise
model (`fluorogate.sim.sensor`), the ADC range (`adu_bits`, also the pixel width on the camera stream)
and the frame geometry/rate that the FPGA data path must keep up with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fluorogate.errors import UserError


class CameraPreset(BaseModel):
    """One camera: quantum efficiency, noise, conversion gain, ADC, geometry and rate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    qe: float = Field(gt=0, le=1, description="quantum efficiency at the emission wavelength")
    read_noise_e: float = Field(
        ge=0, description="Gaussian read noise, electrons rms (before EM gain: at the output)"
    )
    gain_adu_per_e: float = Field(gt=0, description="conversion gain, ADU per electron at the ADC")
    offset_adu: int = Field(ge=0, description="ADC offset (dark level) in ADU")
    adu_bits: int = Field(ge=8, le=16, description="ADC bit depth; also the pixel width on the camera stream")
    dark_current_e_per_s: float = Field(ge=0)
    exposure_s: float = Field(gt=0)
    em_gain: float = Field(default=1.0, ge=1, description="EMCCD electron-multiplying gain (1 = none)")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float = Field(gt=0)
    pixel_size_um: float = Field(gt=0, description="physical pixel pitch on the sensor")
    hot_pixel_fraction: float = Field(default=0.0, ge=0, le=0.01)
    hot_pixel_e_per_s: float = Field(default=200.0, ge=0, description="dark current of a hot pixel")

    @property
    def max_adu(self) -> int:
        return 2**self.adu_bits - 1

    @property
    def pixel_rate_hz(self) -> float:
        """Pixels per second the data path must accept at full frame and full rate."""
        return self.width * self.height * self.fps


PRESETS: dict[str, CameraPreset] = {
    p.name: p
    for p in (
        # Hamamatsu ORCA-Flash4.0 V3 (C13440-20CU): 0.46 e-/ADU, 1.4 e- rms (standard scan), 100 fps.
        CameraPreset(
            name="scmos",
            qe=0.8,
            read_noise_e=1.4,
            gain_adu_per_e=2.17,
            offset_adu=100,
            adu_bits=16,
            dark_current_e_per_s=0.06,
            exposure_s=0.01,
            width=2048,
            height=2048,
            fps=100.0,
            pixel_size_um=6.5,
            hot_pixel_fraction=1e-4,
        ),
        # Interline CCD, 12-bit (Sony ICX285 class, e.g. CoolSNAP HQ2): 4 e-/ADU, ~16 ke- full well.
        CameraPreset(
            name="ccd12",
            qe=0.65,
            read_noise_e=6.5,
            gain_adu_per_e=0.25,
            offset_adu=50,
            adu_bits=12,
            dark_current_e_per_s=0.05,
            exposure_s=0.05,
            width=1392,
            height=1040,
            fps=11.0,
            pixel_size_um=6.45,
            hot_pixel_fraction=5e-5,
        ),
        # Back-illuminated EMCCD (Andor iXon 897 class): EM gain 300, ~50 e- read noise before EM gain.
        CameraPreset(
            name="emccd",
            qe=0.9,
            read_noise_e=50.0,
            gain_adu_per_e=0.2,
            offset_adu=100,
            adu_bits=16,
            dark_current_e_per_s=0.001,
            exposure_s=0.03,
            em_gain=300.0,
            width=512,
            height=512,
            fps=56.0,
            pixel_size_um=16.0,
            hot_pixel_fraction=1e-4,
        ),
    )
}


def load_camera_file(path: str | Path) -> CameraPreset:
    """The preset in camera file `path`; a one-line UserError for a missing or malformed file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such camera file (make one with `fluorogate calibrate MOVIE --out {path}`)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a JSON camera file ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a camera file holds one JSON object")
    data.pop("calibration", None)
    try:
        return CameraPreset.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"{path}: camera field {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def get_preset(name: str | CameraPreset) -> CameraPreset:
    """The preset called `name` (a `CameraPreset` passes through, a `*.json` path is a camera file from
    `fluorogate calibrate`: `load_camera_file`); UserError naming the choices if unknown."""
    if isinstance(name, CameraPreset):
        return name
    if str(name).lower().endswith(".json"):
        return load_camera_file(name)
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(
            f"unknown camera preset {name!r}; choose one of {', '.join(sorted(PRESETS))} or a camera file "
            "(*.json)"
        ) from None


# The camera numbers a movie file carries (`write_movie`), so training on it (`fluorogate train --data`)
# can build the network's input conversion (quantize/camera.py) without being told them again.
CAMERA_KEYS = ("camera_offset_adu", "gain_adu_per_e", "read_noise_e")


def camera_metadata(preset: CameraPreset) -> dict:
    """{camera_offset_adu, gain_adu_per_e, read_noise_e, camera} of `preset`, for a TIFF's metadata."""
    return {
        "camera_offset_adu": preset.offset_adu,
        "gain_adu_per_e": preset.gain_adu_per_e,
        "read_noise_e": preset.read_noise_e,
        "camera": preset.name,
    }


@dataclass(frozen=True)
class CameraMode:
    """A camera mode's frame and frame rate (what the data path must accept, sustained) and its sensor
    preset."""

    name: str
    width: int
    height: int
    fps: float
    preset: str  # the `PRESETS` entry whose noise model the sensor has

    @property
    def pixel_rate(self) -> float:
        return self.width * self.height * self.fps

    @property
    def frame(self) -> str:
        return f"{self.width}x{self.height}"


# The full-frame targets: scientific sCMOS at full frame and full rate (the denoiser's cameras).
FULL_FRAME_MODES = (
    CameraMode("ORCA-Flash4.0 V3 (2048x2048 @ 100 fps)", 2048, 2048, 100.0, "scmos"),
    CameraMode("CoaXPress sCMOS (2048x2048 @ 74 fps)", 2048, 2048, 74.0, "scmos"),
    CameraMode("large sCMOS (4128x4104 @ 54 fps)", 4128, 4104, 54.0, "scmos"),
)
# Sub-arrays and slower sensors. sCMOS rows are read at a fixed line time, so a sub-array's frame rate
# follows its height (ORCA-Flash4.0 V3, Camera Link, standard scan: 256 lines 801 fps, 512 lines 400 fps)
# and a narrow ROI's pixel rate is its width per line time. EMCCD: Andor iXon Ultra 897, full frame at 17 MHz.
SUBARRAY_MODES = (
    CameraMode("ORCA-Flash4.0 V3 sub-array (256x256 @ 801 fps)", 256, 256, 801.0, "scmos"),
    CameraMode("ORCA-Flash4.0 V3 sub-array (512x512 @ 400 fps)", 512, 512, 400.0, "scmos"),
    CameraMode("iXon Ultra 897 EMCCD (512x512 @ 56 fps)", 512, 512, 56.0, "emccd"),
)
CAMERA_MODES = {cam.name: cam for cam in (*FULL_FRAME_MODES, *SUBARRAY_MODES)}
