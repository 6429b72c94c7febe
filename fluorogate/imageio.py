"""TIFF / OME-TIFF in and out: the one place images enter and leave fluorogate.

Writing keeps the dtype as given (camera ADU stay uint16) and records the pixel size at the sample:
OME-TIFF (`*.ome.tif[f]`) in the OME-XML `PhysicalSizeX/Y` in um, plain TIFF in the resolution tags
(pixels per cm). Reading returns the array as stored plus the pixel size if the file has one (OME-XML,
ImageJ `unit`, or resolution tags). Bad input is a `UserError` that names the file and what is wrong.
Extra key/value `metadata` (e.g. the camera's offset and gain, which training on the user's frames
needs) is written as an OME `MapAnnotation` or, in a plain TIFF, tifffile's JSON image description,
and read back from either as strings or JSON values.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from fluorogate.errors import UserError
from fluorogate.outputs import atomic_path

_UM_PER = {"nm": 1e-3, "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}


@dataclass
class Image:
    """Pixels as stored and the pixel size at the sample (None when the file does not say)."""

    data: np.ndarray
    pixel_size_um: float | None
    path: Path
    metadata: dict = field(default_factory=dict)  # key/value annotations (OME MapAnnotation, tifffile JSON)


def is_ome(path: str | os.PathLike) -> bool:
    name = Path(path).name.lower()
    return name.endswith((".ome.tif", ".ome.tiff"))


def write_tiff(
    path: str | os.PathLike, data: np.ndarray, pixel_size_um: float | None = None, force: bool = False,
    metadata: dict | None = None,
) -> Path:
    """Write `data` (YX, or TYX for a stack) atomically; never overwrites without `force`. `metadata`:
    key/value pairs kept in the file (OME: a MapAnnotation; plain TIFF: the JSON description)."""
    data = np.asarray(data)
    if data.ndim not in (2, 3):
        raise UserError(f"{path}: can write a 2D image or a (frames, H, W) stack, got shape {data.shape}")
    with atomic_path(path, force) as tmp:
        if is_ome(path):
            meta: dict = {"axes": "YX" if data.ndim == 2 else "TYX"}
            if pixel_size_um:
                meta |= {
                    "PhysicalSizeX": pixel_size_um,
                    "PhysicalSizeY": pixel_size_um,
                    "PhysicalSizeXUnit": "µm",
                    "PhysicalSizeYUnit": "µm",
                }
            if metadata:
                meta["MapAnnotation"] = {k: str(v) for k, v in metadata.items()}
            tifffile.imwrite(tmp, data, ome=True, metadata=meta)
        else:
            res = (
                {"resolution": (1e4 / pixel_size_um,) * 2, "resolutionunit": "CENTIMETER"}
                if pixel_size_um
                else {}
            )
            tifffile.imwrite(tmp, data, metadata=dict(metadata or {}), **res)
    return Path(path)


def _pixel_size(tif: tifffile.TiffFile) -> float | None:
    if tif.is_ome and tif.ome_metadata:
        pixels = next(
            (el for el in ET.fromstring(tif.ome_metadata).iter() if el.tag.endswith("Pixels")), None
        )
        if pixels is not None and pixels.get("PhysicalSizeX"):
            unit = pixels.get("PhysicalSizeXUnit", "µm")
            return float(pixels.get("PhysicalSizeX")) * _UM_PER.get(unit, 1.0)
    page = tif.pages[0]
    res = page.resolution[0] if page.resolution else 0
    if not res or res == 1:
        return None
    unit = (tif.imagej_metadata or {}).get("unit") if tif.is_imagej else None
    if unit in _UM_PER:
        return _UM_PER[unit] / res
    if page.resolutionunit == tifffile.RESUNIT.CENTIMETER:
        return 1e4 / res
    if page.resolutionunit == tifffile.RESUNIT.INCH:
        return 25400 / res
    return None


def _annotations(tif: tifffile.TiffFile) -> dict:
    """Key/value metadata: OME MapAnnotation entries, or the keys of tifffile's JSON description."""
    if tif.is_ome and tif.ome_metadata:
        return {el.get("K"): el.text or "" for el in ET.fromstring(tif.ome_metadata).iter()
                if el.tag.endswith("}M") and el.get("K")}
    shaped = tif.shaped_metadata
    return {k: v for k, v in shaped[0].items() if k != "shape"} if shaped else {}


def read_tiff(path: str | os.PathLike) -> Image:
    """Read the first series of a TIFF; UserError for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        with tifffile.TiffFile(path) as tif:
            return Image(tif.series[0].asarray(), _pixel_size(tif), path, _annotations(tif))
    except (tifffile.TiffFileError, ValueError, IndexError) as exc:
        raise UserError(f"{path}: not a readable TIFF ({exc})") from None


def read_image_2d(path: str | os.PathLike, integer: bool = True) -> Image:
    """Read one 2D image: UserError for a stack where 2D is expected, or (when `integer`) a float image
    where camera ADU (integers) are expected. Singleton axes are squeezed away."""
    image = read_tiff(path)
    data = np.squeeze(image.data)
    if data.ndim != 2:
        raise UserError(
            f"{path}: expected a 2D image, got a stack of shape {image.data.shape}; "
            "pick one frame (e.g. the first) and save it on its own"
        )
    if integer and not np.issubdtype(data.dtype, np.integer):
        raise UserError(f"{path}: expected integer camera ADU (uint8/uint16), got dtype {data.dtype}")
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise UserError(f"{path}: expected a grey-level image (integer or float), got dtype {data.dtype}")
    image.data = data
    return image
