"""Camera presets: the sensor numbers every simulated frame and every stream width come from.

The numbers are data-sheet values for the camera class each preset stands for; they set the noise
model (`fluorogate.sim.sensor`), the ADC range (`adu_bits`, also the pixel width on the camera stream)
and the frame geometry/rate that the FPGA data path must keep up with.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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


def get_preset(name: str | CameraPreset) -> CameraPreset:
    """The preset called `name` (a `CameraPreset` passes through, a `*.json` path is a camera file from
    `fluorogate calibrate`: `sim.camera_file`); UserError naming the choices if unknown."""
    if isinstance(name, CameraPreset):
        return name
    if str(name).lower().endswith(".json"):
        from fluorogate.sim.camera_file import load_camera_file

        return load_camera_file(name)
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(
            f"unknown camera preset {name!r}; choose one of {', '.join(sorted(PRESETS))} or a camera file (*.json)"
        ) from None


# The camera numbers a movie file carries (`write_movie`), so training on it (`fluorogate train --data`)
# can build the network's input conversion (models/camera.py) without being told them again.
CAMERA_KEYS = ("camera_offset_adu", "gain_adu_per_e", "read_noise_e")


def camera_metadata(preset: CameraPreset) -> dict:
    """{camera_offset_adu, gain_adu_per_e, read_noise_e, camera} of `preset`, for a TIFF's metadata."""
    return {"camera_offset_adu": preset.offset_adu, "gain_adu_per_e": preset.gain_adu_per_e,
            "read_noise_e": preset.read_noise_e, "camera": preset.name}
