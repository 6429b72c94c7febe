"""Generated user files for fuzzing the commands that read them (`tests/test_inputs_fuzz.py`).

A `Case` is an array and how it was written (plain TIFF with a photometric, OME-TIFF or ImageJ with
axes, compression), then possibly damaged (truncated, header or tag bytes changed, emptied, replaced by
garbage, a huge size declared). `meaning(case)` is what the file says to a careful reader: the frames
(n, H, W) it holds as grey camera frames, or None where no such reading exists (colour, several
channels with none chosen, two sequence axes, 1-D, frames under 5 px, a pixel type the command cannot
use). The oracle: a command either fails with one clear line, or succeeds on exactly `meaning(case)`
of the undamaged file. Changed pixel bytes are not generated: TIFF has no checksums, no reader can see
them.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from hypothesis import assume
from hypothesis import strategies as st

# repeated entries weigh the draw toward the types cameras write
DTYPES = [
    "uint8",
    "uint16",
    "uint32",
    "int8",
    "int16",
    "int32",
    "float16",
    "float32",
    "float64",
    "bool",
    "complex64",
    "uint16",
    "uint16",
    "uint16",
    "uint8",
    "float32",
]
DAMAGE = ["none"] * 6 + ["truncate", "flip_header", "empty", "garbage", "huge_size"]


@dataclass
class Case:
    data: np.ndarray
    writer: str  # plain | ome | imagej
    photometric: str | None  # plain: None (tifffile's default), minisblack, rgb
    planar: bool  # rgb stored as separate planes
    axes: str | None  # ome / imagej: the axes written
    compression: str | None
    damage: str
    damage_at: float  # where (0..1) a truncation or change lands
    channel: int | None  # --channel given

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return (
            f"Case(shape={self.data.shape}, dtype={self.data.dtype}, writer={self.writer}, "
            f"photometric={self.photometric}, planar={self.planar}, axes={self.axes}, "
            f"compression={self.compression}, damage={self.damage}@{self.damage_at:.3f}, "
            f"channel={self.channel})"
        )


def _values(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "complex64":
        return (rng.random(shape) + 1j * rng.random(shape)).astype(np.complex64)
    vals = rng.integers(0, 120, shape)  # fits every dtype, and 8-bit camera codes
    return (vals + rng.random(shape) * (dtype.startswith("float"))).astype(dtype)


@st.composite
def cases(draw) -> Case:
    camera = draw(st.booleans())  # half the cases look like what a camera writes: readable, unless damaged
    ndim = draw(st.sampled_from([2, 3, 3, 4] if camera else [1, 2, 3, 3, 3, 4, 4, 5]))
    plane = [
        draw(st.sampled_from([5, 8, 13] if camera else [1, 3, 4, 5, 8, 8, 13, 13])),
        draw(st.sampled_from([6, 9, 16, 24] if camera else [3, 4, 6, 9, 16, 16, 24])),
    ]
    lead = [draw(st.sampled_from([1, 2, 3, 4, 7])) for _ in range(max(0, ndim - 2))]
    shape = tuple(lead + plane)[-ndim:]
    dtype = draw(st.sampled_from(["uint8", "uint16", "uint16", "float32"] if camera else DTYPES))
    writer = draw(st.sampled_from(["plain", "plain", "ome", "imagej"]))
    photometric = planar = axes = None
    if writer == "plain":
        photometric = draw(st.sampled_from([None, "minisblack", "rgb"]))
        planar = draw(st.booleans())
        if photometric == "rgb" and ndim >= 3:  # make the samples axis 3 or 4 where rgb is asked
            k = -3 if planar else -1
            shape = list(shape)
            shape[k] = draw(st.sampled_from([3, 4]))
            shape = tuple(shape)
    else:
        letters = "TZCYXS" if writer == "imagej" else draw(st.sampled_from(["TZCYXS", "CTZYXS", "ZTCYXS"]))
        picks = draw(st.permutations(list(letters[:-3] + "S")))[: max(0, ndim - 2)]
        order = [a for a in letters if a in picks or a in "YX"]
        if "S" in order:  # samples go last (interleaved) in both formats
            order = [a for a in order if a != "S"] + ["S"]
        axes = "".join(order)[-ndim:] if ndim >= 2 else None
        assume(axes is not None and len(axes) == ndim and axes.count("Y") == axes.count("X") == 1)
        assume(axes.index("Y") < axes.index("X"))
    compression = draw(st.sampled_from([None, None, "zlib"]))
    damage = draw(st.sampled_from(DAMAGE))
    channel = draw(st.sampled_from([None, None, None, 0, 1]))
    data = _values(shape, dtype, draw(st.integers(0, 2**16)))
    return Case(data, writer, photometric, planar, axes, compression, damage, draw(st.floats(0, 1)), channel)


def write_case(case: Case, path: Path) -> bool:
    """Write the case's file (undamaged); False where tifffile itself refuses such a file."""
    kw: dict = {"compression": case.compression}
    if case.writer == "plain":
        if case.photometric:
            kw["photometric"] = case.photometric
        if case.photometric == "rgb" and case.planar:
            kw["planarconfig"] = "separate"
    elif case.writer == "ome":
        kw |= {"ome": True, "metadata": {"axes": case.axes}}
    else:
        kw |= {"imagej": True, "metadata": {"axes": case.axes}}
    try:
        tifffile.imwrite(path, case.data, **kw)
    except Exception:
        return False
    return True


def damage(case: Case, path: Path) -> None:
    """Damage the written file as the case says; pixel bytes are left alone (see the module docstring)."""
    raw = bytearray(path.read_bytes())
    if case.damage == "truncate":
        path.write_bytes(raw[: int(case.damage_at * (len(raw) - 1))])
    elif case.damage == "empty":
        path.write_bytes(b"")
    elif case.damage == "garbage":
        rng = np.random.default_rng(int(case.damage_at * 1e6))
        path.write_bytes(b"II*\x00" + rng.bytes(64) if case.damage_at < 0.5 else rng.bytes(200))
    elif case.damage in ("flip_header", "huge_size"):
        with tifffile.TiffFile(path) as tif:
            pixel = [
                (o, o + n) for p in tif.pages for o, n in zip(p.dataoffsets, p.databytecounts, strict=False)
            ]
            tags = [
                t for t in tif.pages.first.tags.values() if t.code in (256, 257)
            ]  # ImageWidth, ImageLength
        if case.damage == "huge_size":
            for tag in tags:
                fmt = "<I" if tag.dtype == 4 else "<H"
                raw[tag.valueoffset : tag.valueoffset + struct.calcsize(fmt)] = struct.pack(
                    fmt, 65535 if fmt == "<H" or case.damage_at < 0.5 else 2**31 - 1
                )
        else:
            free = [i for i in range(len(raw)) if not any(a <= i < b for a, b in pixel)]
            rng = np.random.default_rng(int(case.damage_at * 1e6))
            for i in rng.choice(free, size=min(len(free), 1 + int(case.damage_at * 6)), replace=False):
                raw[i] = int(rng.integers(256))
        path.write_bytes(raw)


def _declared_axes(case: Case, path: Path) -> tuple[str, tuple[int, ...]] | None:
    """The axes and shape the undamaged file declares, None for a colour file."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        if (
            page.photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)
            or page.samplesperpixel > 1
        ):
            return None
    shape = case.data.shape
    if case.writer == "plain":
        return "Q" * (len(shape) - 2) + "YX" if len(shape) >= 2 else "X", shape
    return case.axes, shape


def meaning(case: Case, path: Path, kinds: str, channel: int | None) -> np.ndarray | None:
    """The (n, H, W) frames the undamaged file holds for a command that takes pixel kinds `kinds`, given
    `channel` (see the module docstring), or None where it holds none."""
    if case.data.dtype.kind not in kinds:
        return None
    declared = _declared_axes(case, path)
    if declared is None:
        return None
    axes, shape = declared
    if len(shape) < 2 or "S" in axes or min(shape[-2:]) < 5:
        return None
    data = case.data
    lead = [(a, n, k) for k, (a, n) in enumerate(zip(axes[:-2], shape[:-2], strict=True)) if n > 1]
    chans = [k for a, n, k in lead if a == "C"]
    seq = [k for a, n, k in lead if a != "C"]
    if len(seq) > 1 or len(chans) > 1:
        return None
    if chans:
        if channel is None or channel >= shape[chans[0]]:
            return None
        data = np.take(data, channel, axis=chans[0])
        seq = [k - (k > chans[0]) for k in seq]
    elif channel not in (None, 0):
        return None
    frames = np.moveaxis(data, seq[0], 0) if seq else data[None]
    return frames.reshape(-1 if seq else 1, *shape[-2:]) if math.prod(frames.shape) else None
