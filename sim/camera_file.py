"""The camera file: a `CameraPreset` as JSON, written by `fluorogate calibrate`, read wherever a preset is.

`{"name": ..., "qe": ..., ..., "calibration": {...}}`: the preset's fields at the top level (so a file
can also be written by hand from a data sheet) plus, from `calibrate`, the fit it came from. Any
`--preset` / `--camera` option that takes a preset name takes such a file (`sim.camera.get_preset`).

From a movie alone photons and photoelectrons cannot be told apart, so a calibrated camera has
`qe = 1`: its "photons" are detected photons. An EMCCD's gain G and conversion gain g show only as
their product (slope 2 G g) and g x read noise; `em_gain` (default 300) splits them, which changes no
simulated ADU statistic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fluorogate.outputs import write_text_atomic
from fluorogate.sim.camera import CameraPreset
from fluorogate.sim.movie_ptc import TemporalPTC

DEFAULT_EM_GAIN = 300.0
MAGNIFICATION = 60.0  # the simulator's default optics (sim.optics.Optics): sensor pitch = sample pixel x 60


def calibrated_preset(
    fit: TemporalPTC,
    shape: tuple[int, int],
    dtype: np.dtype,
    name: str,
    pixel_size_um: float | None = None,
    em_gain: float | None = None,
) -> CameraPreset:
    """The `CameraPreset` a movie of `shape` / `dtype` calibrated to `fit` stands for.

    `pixel_size_um` (at the sample, from the movie's file) sets the sensor pitch through the simulator's
    default 60x objective, so simulated frames are sampled like the movie."""
    em = fit.em or (em_gain is not None and em_gain > 1)
    g_em = (em_gain or DEFAULT_EM_GAIN) if em else 1.0
    gain = fit.gain_adu_per_e / (2 * g_em) if em else fit.gain_adu_per_e
    info = np.iinfo(dtype)
    return CameraPreset(
        name=name,
        qe=1.0,
        read_noise_e=fit.read_noise_adu / gain,
        gain_adu_per_e=gain,
        offset_adu=max(0, round(fit.offset_adu)),
        adu_bits=min(16, max(8, info.bits)),
        dark_current_e_per_s=0.0,
        exposure_s=0.01,
        em_gain=g_em,
        width=int(shape[1]),
        height=int(shape[0]),
        fps=10.0,
        pixel_size_um=(pixel_size_um * MAGNIFICATION) if pixel_size_um else 6.5,
    )


def write_camera_file(
    path: str | Path, preset: CameraPreset, calibration: dict | None = None, force: bool = False
) -> Path:
    data = preset.model_dump(mode="json") | ({"calibration": calibration} if calibration else {})
    return write_text_atomic(path, json.dumps(data, indent=1, default=_jsonable) + "\n", force=force)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value)}")


def describe(preset: CameraPreset) -> str:
    """One line: gain, offset, read noise (and EM gain) of a preset."""
    em = f", EM gain {preset.em_gain:g}" if preset.em_gain > 1 else ""
    rn_adu = preset.read_noise_e * preset.gain_adu_per_e
    return (
        f"{preset.name}: gain {preset.gain_adu_per_e:.4g} ADU/e-{em}, offset {preset.offset_adu} ADU, read "
        f"noise {preset.read_noise_e:.3g} e- ({rn_adu:.3g} ADU), {preset.adu_bits}-bit, "
        f"range 0..{preset.max_adu}"
    )
