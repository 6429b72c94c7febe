"""TIFF / OME-TIFF in and out: the one place images enter and leave fluorogate.

Reading goes through `open_movie(path) -> Movie`: the file is checked where it enters (colour / RGB
samples, several channels with none chosen, axes that do not map to (T, Y, X), pixel types the caller
cannot use, empty, corrupt and truncated files, frames too large for the memory the caller will need),
each failure one `UserError` line naming the file, and then read lazily: `movie.frame(i)` and
iteration read one TIFF page (one frame) at a time, so a 2,000-frame sCMOS movie costs the memory of
a frame, not of the movie. Axes come from the file's OME-XML or ImageJ metadata (through tifffile):
one sequence axis (T, Z, or an unlabelled page sequence) becomes the frames; a channel axis needs
`channel=`. `read_tiff` / `read_image_2d` read a whole (validated) image into memory for the callers
that want an array.

Writing keeps the dtype as given (camera ADU stay uint16) and records the pixel size at the sample:
OME-TIFF (`*.ome.tif[f]`) in the OME-XML `PhysicalSizeX/Y` in um, plain TIFF in the resolution tags
(pixels per cm). Extra key/value `metadata` (e.g. the camera's offset and gain, which training on the
user's frames needs) is written as an OME `MapAnnotation` or, in a plain TIFF, tifffile's JSON image
description, and read back from either as strings or JSON values. `write_frames` takes the frames as
an iterable and writes them as they come (atomically, never over an existing file without `force`).
"""

from __future__ import annotations

import logging
import math
import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from fluorogate.errors import UserError
from fluorogate.outputs import atomic_path

log = logging.getLogger(__name__)

_UM_PER = {"nm": 1e-3, "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}
FRAME_AXES = "TZIQ"  # time, depth, an image sequence, unlabelled pages: each can be the frame sequence
MIN_SIDE = (
    5  # a frame narrower than this is no camera frame; (H, W, 3|4) colour stored as grey is the usual cause
)
MEMORY_ENV = (
    "FLUOROGATE_MEMORY_LIMIT"  # bytes fluorogate may plan to use (default: what the machine has free)
)
_KIND_WORDS = {
    "u": "integer camera ADU (uint8/uint16)",
    "i": "signed integer codes",
    "f": "float real values",
}


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


# --- memory -------------------------------------------------------------------------------------------


def available_memory() -> int:
    """Bytes this process may still use: `FLUOROGATE_MEMORY_LIMIT` if set, else the machine's MemAvailable
    (bounded by a cgroup v2 limit where one is set)."""
    if os.environ.get(MEMORY_ENV):
        return int(float(os.environ[MEMORY_ENV]))
    avail = None
    try:
        with open("/proc/meminfo") as f:
            avail = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return avail


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:,.1f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.3g} MB"


def ensure_fits(nbytes: float, what: str) -> None:
    """UserError unless `nbytes` fit in the memory available now: say what needs how much."""
    avail = available_memory()
    if nbytes > avail:
        raise UserError(f"{what} needs about {_gb(nbytes)} of memory; {_gb(avail)} is available")


# --- reading ------------------------------------------------------------------------------------------


def _pixel_size(tif: tifffile.TiffFile) -> float | None:
    if tif.is_ome and tif.ome_metadata:
        pixels = next(
            (el for el in ET.fromstring(tif.ome_metadata).iter() if el.tag.endswith("Pixels")), None
        )
        if pixels is not None and pixels.get("PhysicalSizeX"):
            unit = pixels.get("PhysicalSizeXUnit", "µm")
            return float(pixels.get("PhysicalSizeX")) * _UM_PER.get(unit, 1.0)
    page = tif.pages.first
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
        return {
            el.get("K"): el.text or ""
            for el in ET.fromstring(tif.ome_metadata).iter()
            if el.tag.endswith("}M") and el.get("K")
        }
    shaped = tif.shaped_metadata
    return {k: v for k, v in shaped[0].items() if k != "shape"} if shaped else {}


def _check_dtype(path: Path, dtype: np.dtype, kinds: str) -> None:
    """The pixel type against what the caller can use (`kinds`: numpy kind letters among 'u', 'i', 'f')."""
    want = " or ".join(_KIND_WORDS[k] for k in kinds)
    if dtype.kind == "b":
        raise UserError(f"{path}: expected {want}, got 1-bit (boolean) pixels: a mask, not camera frames")
    if dtype.kind == "c":
        raise UserError(f"{path}: expected {want}, got complex pixels ({dtype})")
    if dtype.kind not in kinds:
        hint = {
            "i": "; camera counts are unsigned: save them as uint16",
            "f": "; save the camera's raw integer counts, before any scaling",
        }.get(dtype.kind, "")
        raise UserError(f"{path}: expected {want}, got dtype {dtype}{hint}")


def _map_axes(
    path: Path, axes: str, shape: tuple[int, ...], channel: int | None
) -> tuple[int | None, int | None]:
    """(the position of the frame axis, None for one image; the flat plane offset of the chosen channel's
    first frame, None without a channel axis) for a series of squeezed `axes` / `shape`; a UserError for
    whatever does not map to (T, Y, X) unambiguously. Letters may repeat (tifffile's 'Q': unknown)."""
    desc = f"shape {shape} (axes {axes})"
    if "S" in axes:
        n = shape[axes.index("S")]
        kind = {3: "RGB colour", 4: "RGBA colour"}.get(n, f"{n} samples per pixel")
        hint = (
            "save the one channel your camera recorded as a grey (single-channel) TIFF"
            if axes[-1] == "S"
            else f"if these are {n} frames, not colour planes, write them as grey pages (tifffile: "
            "photometric='minisblack'; its default stores a (3|4, H, W) array as colour)"
        )
        raise UserError(f"{path}: {kind} image, {desc}; fluorogate reads grey-level camera frames: {hint}")
    if not axes.endswith("YX"):
        raise UserError(f"{path}: {desc} does not end in a (Y, X) image plane; expected frames (T, Y, X)")
    lead = list(zip(axes[:-2], shape[:-2], strict=True))
    channels = [k for k, (a, n) in enumerate(lead) if a == "C" and n > 1]
    if len(channels) > 1:
        raise UserError(f"{path}: {desc} has more than one channel axis")
    rest = [k for k, (a, n) in enumerate(lead) if a != "C" and n > 1]
    odd = [k for k in rest if lead[k][0] not in FRAME_AXES]
    if odd:
        a, n = lead[odd[0]]
        raise UserError(
            f"{path}: axis {a} ({n}) of {desc} cannot be read as frames; "
            "fluorogate reads one sequence of frames (T, Y, X): save that sequence on its own"
        )
    if len(rest) > 1:
        (a, n), (b, m) = lead[rest[0]], lead[rest[1]]
        raise UserError(
            f"{path}: both {a} ({n}) and {b} ({m}) are longer than 1, {desc}; fluorogate reads "
            f"one sequence of frames (T, Y, X): save them as one sequence, or one {b} per file"
        )
    if channels:
        n = lead[channels[0]][1]
        if channel is None:
            raise UserError(
                f"{path}: {n} channels, {desc}; choose one with --channel 0..{n - 1} "
                "(or save that channel on its own)"
            )
        if not 0 <= channel < n:
            raise UserError(f"{path}: --channel {channel}: the file has channels 0..{n - 1}")
    elif channel not in (None, 0):
        raise UserError(f"{path}: --channel {channel}: the file has one channel, {desc}")
    single = [k for k, (a, _) in enumerate(lead) if a in FRAME_AXES]  # a sequence of one frame is still one
    return (rest[0] if rest else single[0] if single else None), (channels[0] if channels else None)


class Movie:
    """A user's frames on disk, checked and opened, read one frame (one TIFF page) at a time.

    `frames`, `height`, `width`, `dtype` (native byte order), `axes` (the file's, as read), `frame_axis`
    (the file's axis the frames run along, '' for a single 2D image), `pixel_size_um`, `metadata`
    (key/value annotations: the camera's offset and gain where the writer recorded them). `page_reads`
    counts the frames read from disk. Use as a context manager, or `close()` it: with many files open at
    once, closing each after use keeps open file handles few (a read reopens it).
    """

    def __init__(
        self,
        path: Path,
        tif: tifffile.TiffFile,
        planes: list,
        stride: int,
        offset: int,
        *,
        frames: int,
        height: int,
        width: int,
        dtype: np.dtype,
        stored: np.dtype,
        axes: str,
        frame_axis: str,
        dataoffset: int | None,
    ):
        self.path, self._tif, self._planes = path, tif, planes
        self._stride, self._offset, self._stored, self._dataoffset = stride, offset, stored, dataoffset
        self.frames, self.height, self.width, self.dtype = frames, height, width, dtype
        self.axes, self.frame_axis = axes, frame_axis
        try:
            self.pixel_size_um, self.metadata = _pixel_size(tif), _annotations(tif)
        except Exception as exc:  # a damaged OME-XML or description: the file's fault
            raise UserError(f"{path}: its metadata is unreadable ({type(exc).__name__}: {exc})") from None
        self.page_reads = 0

    @property
    def shape(self) -> tuple[int, ...]:
        """(frames, H, W) when the file holds a sequence (even of one frame), else (H, W)."""
        return (self.frames, self.height, self.width) if self.frame_axis else (self.height, self.width)

    @property
    def frame_nbytes(self) -> int:
        return self.height * self.width * self.dtype.itemsize

    def __len__(self) -> int:
        return self.frames

    def frame(self, i: int) -> np.ndarray:
        """Frame `i` (H, W), read from disk now."""
        if not -self.frames <= i < self.frames:
            raise IndexError(f"frame {i} of a {self.frames}-frame movie")
        i %= self.frames
        k = self._offset + i * self._stride
        with _tifffile_complaints() as complaints:
            try:
                self._tif.filehandle.open()  # again, after a close()
                data = self._read_plane(k)
            except Exception as exc:  # whatever tifffile or a codec raises on a bad page is the file's fault
                raise UserError(
                    f"{self.path}: frame {i} is unreadable ({type(exc).__name__}: {exc})"
                ) from None
        errors = [r for r in complaints.records if r.levelno >= logging.ERROR]
        if errors:  # e.g. missing strips that tifffile would fill with zeros
            raise UserError(f"{self.path}: frame {i} is damaged ({errors[0].getMessage()})")
        self.page_reads += 1
        if data.shape != (self.height, self.width):
            raise UserError(
                f"{self.path}: frame {i} is {data.shape}, not the {self.height}x{self.width} "
                "the file declares"
            )
        return np.array(data, dtype=self.dtype)  # own, native-order copy

    def _read_plane(self, k: int) -> np.ndarray:
        if self._dataoffset is None:
            return self._planes[k].asarray()
        fh = self._tif.filehandle  # one contiguous block (ImageJ files over 4 GB): seek and read
        with fh.lock:
            fh.seek(self._dataoffset + k * self.frame_nbytes)
            raw = fh.read(self.frame_nbytes)
        if len(raw) != self.frame_nbytes:
            raise OSError("the file ends inside the frame")
        return np.frombuffer(raw, self._stored).reshape(self.height, self.width)

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames `start` .. `stop - 1`, each read as it is asked for."""
        for i in range(start, self.frames if stop is None else min(stop, self.frames)):
            yield self.frame(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_frames()

    def read_all(self) -> np.ndarray:
        """Every frame in one array of `shape` (checked against the memory available first)."""
        ensure_fits(self.frames * self.frame_nbytes, f"{self.path}: reading all {self.frames} frames")
        out = np.empty((self.frames, self.height, self.width), self.dtype)
        for i in range(self.frames):
            out[i] = self.frame(i)
        return out if self.frame_axis else out[0]

    def close(self) -> None:
        """Release the open file (the layout stays known: a later read opens it again)."""
        self._tif.filehandle.close()

    def __enter__(self) -> Movie:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Collect(logging.Handler):
    """Keeps tifffile's complaints, so that they reach the user as one line of ours, not as log noise."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _tifffile_complaints() -> Iterator[_Collect]:
    """Collect what tifffile logs (WARNING and up) inside the block instead of printing it."""
    tlog, handler = logging.getLogger("tifffile"), _Collect()
    tlog.addHandler(handler)
    propagate, tlog.propagate = tlog.propagate, False
    try:
        yield handler
    finally:
        tlog.removeHandler(handler)
        tlog.propagate = propagate


def _open_tiff(path: Path) -> tifffile.TiffFile:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes)")
    try:
        return tifffile.TiffFile(path)
    except Exception as exc:  # tifffile's parser on arbitrary bytes: every failure is the file's
        raise UserError(f"{path}: not a readable TIFF ({type(exc).__name__}: {exc})") from None


def _planes(path: Path, tif: tifffile.TiffFile) -> tuple[list, tuple[int, ...], str, np.dtype, int | None]:
    """(one entry per 2D plane, the squeezed shape, its axes, the stored dtype, the data offset when the
    planes are one contiguous block only the first IFD describes) of the file's image."""
    series = tif.series
    if not series:
        raise UserError(f"{path}: not a readable TIFF (it holds no image)")
    first = series[0]
    for flag, kind, name in (
        ("is_ome", "ome", "OME-XML"),
        ("is_imagej", "imagej", "ImageJ"),
        ("is_shaped", "shaped", "tifffile shape"),
    ):
        if getattr(tif, flag) and first.kind != kind:  # tifffile fell back to guessing the axes
            raise UserError(
                f"{path}: its {name} metadata is damaged or does not match the pages, so its axes "
                "(frames, channels) cannot be told; save the file again"
            )
    if len(series) > 1:
        pages = [s.pages[0] if len(s.pages) == 1 else None for s in series]
        same = all(
            p is not None and s.axes == "YX" and s.shape == first.shape and s.dtype == first.dtype
            for p, s in zip(pages, series, strict=True)
        )
        if not same:
            raise UserError(
                f"{path}: holds {len(series)} different images (series of shapes "
                f"{', '.join(str(s.shape) for s in series[:4])}); save the one to use on its own"
            )
        return pages, (len(series), *first.shape), "I" + first.axes, np.dtype(first.dtype), None
    shape, axes = tuple(first.shape), first.axes
    if math.prod(shape) == 0:
        raise UserError(f"{path}: holds an empty image (shape {shape})")
    pages = list(first.pages)
    nplanes = math.prod(n for a, n in zip(axes, shape, strict=True) if a not in "YXS")  # pages of (Y, X[, S])
    if "S" not in axes and len(pages) < nplanes and first.dataoffset is not None:
        stored = np.dtype(first.dtype).newbyteorder(tif.byteorder)
        return pages, shape, axes, stored, first.dataoffset  # an ImageJ virtual stack: one IFD, one block
    if len(pages) != nplanes or any(p is None for p in pages):
        have = sum(p is not None for p in pages)
        raise UserError(
            f"{path}: declares {nplanes} image planes (shape {shape}) but holds {have} (a truncated or "
            "damaged file)"
        )
    return pages, shape, axes, np.dtype(first.dtype), None


def _directories(tif: tifffile.TiffFile, planes: list) -> list[tuple[int, int]]:
    """Byte ranges of the planes' page directories (IFDs) and of their tag values stored outside them."""
    fmt, fh = tif.tiff, tif.filehandle
    ranges = []
    for page in {p.offset: p for p in [tif.pages.first, *planes]}.values():
        fh.seek(page.offset)
        count = struct.unpack(fmt.tagnoformat, fh.read(fmt.tagnosize))[0]
        ranges.append((page.offset, page.offset + fmt.tagnosize + count * fmt.tagsize + fmt.offsetsize))
        for tag in getattr(page, "tags", {}).values() if isinstance(page, tifffile.TiffPage) else ():
            code = tifffile.TIFF.DATA_FORMATS.get(tag.dtype, "1B")
            nbytes = tag.count * int(code[:-1]) * struct.calcsize(fmt.byteorder + code[-1])
            if nbytes > fmt.tagoffsetthreshold:
                ranges.append((tag.valueoffset, tag.valueoffset + nbytes))
    return ranges


def _check_extent(
    path: Path, tif: tifffile.TiffFile, planes: list, dataoffset: int | None, nbytes: int
) -> None:
    """UserError when frame data is declared beyond the end of the file (a truncated copy), or on top of
    the file's own page directories (a damaged offset: the pixels would be read from the wrong bytes)."""
    size = tif.filehandle.size
    if dataoffset is not None:
        extents = [(dataoffset, dataoffset + nbytes)]
    else:
        extents = [(o, o + n) for p in planes for o, n in zip(p.dataoffsets, p.databytecounts, strict=False)]
    end = max((e for _, e in extents), default=0)
    if end > size:
        raise UserError(
            f"{path}: truncated: the image data runs to byte {end:,} but the file ends at "
            f"{size:,} (copy it again)"
        )
    dirs = np.array(_directories(tif, planes), dtype=np.int64).reshape(-1, 2)
    for lo, hi in extents:
        hit = np.flatnonzero((dirs[:, 0] < hi) & (lo < dirs[:, 1]))
        if hi > lo and hit.size:
            a, b = dirs[hit[0]]
            raise UserError(
                f"{path}: damaged: image data at bytes {lo:,}-{hi:,} overlaps the file's page "
                f"directory at {a:,}-{b:,} (a changed offset; copy the file again)"
            )


def open_movie(
    path: str | os.PathLike,
    kinds: str = "u",
    channel: int | None = None,
    working_bytes_per_pixel: float = 0.0,
) -> Movie:
    """Open and check a user's TIFF of frames (T, Y, X) or one image (Y, X); read nothing but metadata.

    `kinds`: the pixel types the caller can use, numpy kind letters ('u' unsigned integer camera
    counts, 'i' signed integers, 'f' floats). `channel`: the channel to read where the file has several.
    `working_bytes_per_pixel`: the caller's memory per frame pixel beside the frame itself; one frame
    plus that must fit in the memory available.
    """
    path = Path(path)
    with _tifffile_complaints() as complaints:
        tif = _open_tiff(path)
        try:
            try:
                planes, shape, axes, stored, dataoffset = _planes(path, tif)
            except UserError:
                raise
            except Exception as exc:  # tifffile building its series on malformed tags
                raise UserError(f"{path}: not a readable TIFF ({type(exc).__name__}: {exc})") from None
            errors = [r for r in complaints.records if r.levelno >= logging.ERROR]
            if errors:  # tifffile repaired or guessed: the layout is not what the file says
                raise UserError(f"{path}: a damaged or truncated TIFF ({errors[0].getMessage()})")
        except BaseException:
            tif.close()
            raise
    for record in complaints.records:
        log.info("%s: tifffile: %s", path, record.getMessage())
    try:
        if len(shape) < 2:
            raise UserError(
                f"{path}: a 1-D image (shape {shape}); expected frames (T, Y, X) or an image (Y, X)"
            )
        _check_dtype(path, stored, kinds)
        frame_pos, channel_pos = _map_axes(path, axes, shape, channel)
        height, width = shape[-2:]
        if min(height, width) < MIN_SIDE:
            raise UserError(
                f"{path}: frames of {height}x{width} pixels are too small for camera frames "
                f"(shape {shape}, axes {axes}); an (H, W, 3) colour image stored as grey reads so"
            )
        sizes = shape[:-2]
        strides = [
            math.prod(sizes[k + 1 :]) for k in range(len(sizes))
        ]  # planes are in C order of these axes
        frames = 1 if frame_pos is None else sizes[frame_pos]
        stride = 0 if frame_pos is None else strides[frame_pos]
        offset = 0 if channel_pos is None else channel * strides[channel_pos]
        frame_axis = "" if frame_pos is None else axes[frame_pos]
        dtype = stored.newbyteorder("=")
        nbytes = math.prod(shape) * stored.itemsize
        _check_extent(path, tif, planes, dataoffset, nbytes)
        ensure_fits(
            height * width * (dtype.itemsize + working_bytes_per_pixel), f"{path}: one {height}x{width} frame"
        )
        return Movie(
            path,
            tif,
            planes,
            stride,
            offset,
            frames=frames,
            height=height,
            width=width,
            dtype=dtype,
            stored=stored,
            axes=axes,
            frame_axis=frame_axis,
            dataoffset=dataoffset,
        )
    except BaseException:
        tif.close()
        raise


def read_tiff(path: str | os.PathLike, kinds: str = "uif", channel: int | None = None) -> Image:
    """A whole checked TIFF in memory: (frames, H, W) for a sequence, (H, W) for one image."""
    with open_movie(path, kinds, channel) as movie:
        return Image(movie.read_all(), movie.pixel_size_um, movie.path, movie.metadata)


def read_image_2d(path: str | os.PathLike, integer: bool = True) -> Image:
    """Read one 2D image: UserError for a stack where 2D is expected, or (when `integer`) a float image
    where camera ADU (integers) are expected. A sequence of one frame is that frame."""
    path = Path(path)
    with open_movie(path, "ui" if integer else "uif") as movie:
        if movie.frames != 1:
            raise UserError(
                f"{path}: expected a 2D image, got a stack of shape {movie.shape}; "
                "pick one frame (e.g. the first) and save it on its own"
            )
        return Image(movie.frame(0), movie.pixel_size_um, path, movie.metadata)


# --- writing ------------------------------------------------------------------------------------------


def write_frames(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    shape: tuple[int, ...],
    dtype: np.dtype | type,
    pixel_size_um: float | None = None,
    force: bool = False,
    metadata: dict | None = None,
    description: str | None = None,
) -> Path:
    """Write `frames` (each (H, W), `dtype`) as they come into one TIFF of `shape` ((H, W) for one image,
    (frames, H, W) for a stack), atomically; never over an existing file without `force`. `metadata`:
    key/value pairs kept in the file (OME: a MapAnnotation; plain TIFF: the JSON description);
    `description`: a plain TIFF's own image description instead."""
    if len(shape) not in (2, 3):
        raise UserError(f"{path}: can write a 2D image or a (frames, H, W) stack, got shape {tuple(shape)}")
    dtype = np.dtype(dtype)
    count = 1 if len(shape) == 2 else shape[0]

    def checked() -> Iterator[np.ndarray]:
        n = 0
        for frame in frames:
            if frame.shape != tuple(shape[-2:]) or frame.dtype != dtype:
                raise ValueError(f"frame {n} is {frame.shape} {frame.dtype}, not {shape[-2:]} {dtype}")
            n += 1
            yield frame
        if n != count:
            raise ValueError(f"{n} frames given for a stack of {count}")

    with atomic_path(path, force) as tmp, tifffile.TiffWriter(tmp, ome=is_ome(path)) as tw:
        if is_ome(path):
            meta: dict = {"axes": "YX" if len(shape) == 2 else "TYX"}
            if pixel_size_um:
                meta |= {
                    "PhysicalSizeX": pixel_size_um,
                    "PhysicalSizeY": pixel_size_um,
                    "PhysicalSizeXUnit": "µm",
                    "PhysicalSizeYUnit": "µm",
                }
            if metadata:
                meta["MapAnnotation"] = {k: str(v) for k, v in metadata.items()}
            tw.write(checked(), shape=tuple(shape), dtype=dtype, metadata=meta, photometric="minisblack")
        else:
            res = (
                {"resolution": (1e4 / pixel_size_um,) * 2, "resolutionunit": "CENTIMETER"}
                if pixel_size_um
                else {}
            )
            meta = None if description is not None else dict(metadata or {})
            tw.write(
                checked(),
                shape=tuple(shape),
                dtype=dtype,
                metadata=meta,
                description=description,
                photometric="minisblack",
                **res,
            )
    return Path(path)


def write_tiff(
    path: str | os.PathLike,
    data: np.ndarray,
    pixel_size_um: float | None = None,
    force: bool = False,
    metadata: dict | None = None,
) -> Path:
    """Write `data` (YX, or TYX for a stack) atomically; never overwrites without `force`. `metadata`:
    key/value pairs kept in the file (OME: a MapAnnotation; plain TIFF: the JSON description)."""
    data = np.asarray(data)
    if data.ndim not in (2, 3):
        raise UserError(f"{path}: can write a 2D image or a (frames, H, W) stack, got shape {data.shape}")
    frames = [data] if data.ndim == 2 else iter(data)
    return write_frames(path, frames, data.shape, data.dtype, pixel_size_um, force, metadata)


@dataclass(frozen=True)
class FrameSpan(Sequence):
    """Frames `start` .. `stop - 1` of an open `Movie`: a lazy (n, H, W) stack, read a frame at a time.

    `span[i]` reads frame i from disk, `span[a:b]` is a narrower span (nothing read), `len`, `shape` and
    `dtype` come from the file's structure. Training draws patches from these (`models.frames`) and
    co-simulation streams them (`bench.cosim`), so neither holds a movie in memory."""

    movie: Movie
    start: int = 0
    stop: int | None = None

    def __len__(self) -> int:
        return (self.movie.frames if self.stop is None else self.stop) - self.start

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self), self.movie.height, self.movie.width

    @property
    def dtype(self) -> np.dtype:
        return self.movie.dtype

    def __getitem__(self, key: int | slice):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise ValueError("FrameSpan slices are contiguous")
            return FrameSpan(self.movie, self.start + start, self.start + max(start, stop))
        if not -len(self) <= key < len(self):
            raise IndexError(f"frame {key} of {len(self)}")
        return self.movie.frame(self.start + key % len(self))
