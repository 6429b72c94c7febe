"""Training patches from the user's own camera frames on disk (Noise2Void: no clean target needed).

Files are TIFF / OME-TIFF stacks opened by `fluorogate.imageio.open_movie` (checked where they enter;
dtype as stored: unsigned integer camera ADU) and read lazily: a chunk of patches reads each frame it
draws from once, so memory does not grow with the movies' length. Frames run along the file's one
sequence axis, files in the order given (a folder: its *.tif/*.tiff sorted by name). The last
`val_frames` frames are held out: patches for the weights never come from them, only the
validation loss. They show the same specimen under other noise, which is Noise2Void's use case (the
net learns the noise of this camera on this sample), not an independent test of the specimen.

The input conversion (`quantize/camera.py`: `codes = sat(round_shift(adu - offset, shift))`) needs the
camera's dark offset (ADU), conversion gain (ADU/e-) and read noise (e-): the pedestal that keeps dark
pixels above code 0 is 5 read-noise sigmas. They come from the options or the file's metadata
(`sim.camera.CAMERA_KEYS`, which `fluorogate simulate` writes); the shift, unless given, is the smallest
that fits the pedestal plus the brightest pixel of the training frames into the input's codes (a
99.99th percentile clipped the spots of a sparse movie: `models.clipping`); pixels still clipped (an
`--input-shift` given) are counted, and refused unless `--allow-clipping`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

import numpy as np
import torch

from fluorogate.errors import UserError
from fluorogate.imageio import FrameSpan, open_movie
from fluorogate.models.config import FrameFile, RunConfig
from fluorogate.models.data import PatchStream
from fluorogate.quantize.camera import adu_to_codes, codes_to_real
from fluorogate.quantize.ir import CameraConversion
from fluorogate.sim.camera import CAMERA_KEYS

log = logging.getLogger(__name__)
TIFF_SUFFIXES = (".tif", ".tiff")
VAL_PATCHES = 16  # validation patches drawn once from the held-out frames
VAL_SEED = 12_345  # the validation mask is fixed: one loss curve, comparable across steps


def list_files(paths: list[str]) -> list[Path]:
    """The TIFF files named by `paths` (files, or folders holding *.tif / *.tiff), in order."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in TIFF_SUFFIXES)
            if not found:
                raise UserError(f"--data {path}: the folder holds no .tif / .tiff files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"--data {path}: no such file or folder")
    return files


def open_frames(path: str | Path) -> FrameSpan:
    """A file's frames, checked (unsigned integer camera ADU, grey, one sequence axis) and not yet read."""
    movie = open_movie(path, "u")
    movie.close()  # reopened by each read: a folder of many files holds no file handles open
    return FrameSpan(movie)


def adu_bits(dtype: np.dtype) -> int:
    """The camera stream's pixel width for frames stored as `dtype` (unsigned: its width)."""
    info = np.iinfo(dtype)
    return min(32, info.bits if info.min == 0 else info.bits - 1)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare(
    paths: list[str],
    bits: int,
    options: dict[str, float | None],
    shift: int | None = None,
    val_frames: int | None = None,
    allow_clipping: bool = False,
) -> tuple[list[FrameFile], int, CameraConversion]:
    """For a new run on the frames in `paths`: what it records of them (resolved path, sha256, frame
    count per file), the held-out frame count (default a tenth, at least 1) and the input conversion."""
    files = list_files(paths)
    stacks = [open_frames(f) for f in files]
    metadata = [s.movie.metadata for s in stacks]
    total = sum(len(s) for s in stacks)
    val = max(1, total // 10) if val_frames is None else val_frames
    train, _ = split_frames(list(stacks), val)
    conversion = frames_conversion(train, camera_settings(metadata, options), bits, shift)
    from fluorogate.quantize.clipping import check_input_clipping, describe, input_clipping

    counts = {"low": 0, "high": 0, "pixels": 0}
    for frame in _each_frame(stacks):  # a pass over the frames, one at a time
        for key, n in input_clipping(frame, conversion, bits).items():
            counts[key] += n
    log.info(describe(counts, "--data"))
    check_input_clipping(counts, "--data", allow_clipping)
    records = [
        FrameFile(path=str(f.resolve()), sha256=file_sha256(f), frames=len(s))
        for f, s in zip(files, stacks, strict=True)
    ]
    return records, val, conversion


def _each_frame(stacks):
    """Every frame of `stacks` (lazy `FrameSpan` or in-memory arrays), one (H, W) array at a time."""
    for stack in stacks:
        for i in range(len(stack)):
            yield stack[i]


def camera_settings(metadata: list[dict], options: dict[str, float | None]) -> dict[str, float]:
    """{camera_offset_adu, gain_adu_per_e, read_noise_e}: each from `options` if given, else the files'
    metadata (which must agree); a UserError naming the missing ones and the options that give them."""
    settings, missing = {}, []
    for key in CAMERA_KEYS:
        if options.get(key) is not None:
            settings[key] = float(options[key])
            continue
        values = {float(m[key]) for m in metadata if key in m}
        if len(values) > 1:
            raise UserError(f"--data: the files disagree on {key} ({sorted(values)}); give --{_option(key)}")
        if values:
            settings[key] = values.pop()
        else:
            missing.append(key)
    if missing:
        raise UserError(
            "--data: the input conversion needs the camera's " + ", ".join(missing) + "; the files' "
            "metadata does not say it: give " + " ".join(f"--{_option(k)} N" for k in missing)
        )
    return settings


def _option(key: str) -> str:
    return {
        "camera_offset_adu": "camera-offset",
        "gain_adu_per_e": "camera-gain",
        "read_noise_e": "read-noise",
    }[key]


def frames_conversion(
    frames: list[np.ndarray],
    settings: dict[str, float],
    bits: int,
    shift: int | None = None,
    pedestal_sigmas: float = 5.0,
) -> CameraConversion:
    """The ADU -> code conversion for these frames (see the module docstring): offset = camera offset
    minus the pedestal; shift given, or the smallest that fits the brightest pixel of the frames into `bits`
    codes (`quantize.clipping.no_clip_shift`: a percentile clipped the spots of a sparse movie)."""
    pedestal = max(1, math.ceil(pedestal_sigmas * settings["read_noise_e"] * settings["gain_adu_per_e"]))
    offset = round(settings["camera_offset_adu"]) - pedestal
    if shift is None:
        from fluorogate.quantize.clipping import no_clip_shift

        shift = no_clip_shift(max(int(f.max()) for f in _each_frame(frames)), offset, bits)
    return CameraConversion(adu_bits=adu_bits(frames[0].dtype), offset=offset, shift=shift)


def load_data(cfg: RunConfig) -> tuple[list[FrameSpan], list[FrameSpan]]:
    """(training frames, held-out frames) of a run, each a list of lazy (n, H, W) stacks; refuses files
    whose content changed since the run recorded them (the sha256 in config.json)."""
    stacks = []
    for rec in cfg.train.data:
        if not Path(rec.path).is_file():
            raise UserError(f"{rec.path}: the run's training data is gone")
        if file_sha256(rec.path) != rec.sha256:
            raise UserError(f"{rec.path}: changed since the run recorded it (sha256 differs)")
        stacks.append(open_frames(rec.path))
    return split_frames(stacks, cfg.train.val_frames)


def split_frames(stacks: list, val_frames: int) -> tuple[list, list]:
    """Hold out the last `val_frames` frames (counted across files, from the last file back)."""
    total = sum(len(s) for s in stacks)
    if not 1 <= val_frames < total:
        raise UserError(
            f"--val-frames {val_frames}: need 1 .. {total - 1} held-out frames of the {total} given "
            "(Noise2Void needs frames to train on and frames to validate on)"
        )
    train, val, left = [], [], val_frames
    for s in reversed(stacks):
        k = min(left, len(s))
        left -= k
        if k:
            val.insert(0, s[len(s) - k :])
        if len(s) > k:
            train.insert(0, s[: len(s) - k])
    return train, val


def draw_patches(stacks: list, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`n` patches (n, size, size) at random frames and positions (frames weighted by their area); each
    frame drawn from is read once."""
    frames = [(s, i) for s in stacks for i in range(len(s))]
    if any(min(s.shape[-2:]) < size for s in stacks):
        small = min(min(s.shape[-2:]) for s in stacks)
        raise UserError(
            f"--patch {size}: larger than the smallest frame ({small} px); pass --patch {small} or less"
        )
    area = np.array([s.shape[-1] * s.shape[-2] for s, _ in frames], dtype=np.float64)
    picks = rng.choice(len(frames), size=n, p=area / area.sum())
    corners = []
    for j in picks:
        s, _ = frames[j]
        corners.append((int(rng.integers(s.shape[-2] - size + 1)), int(rng.integers(s.shape[-1] - size + 1))))
    out = np.empty((n, size, size), dtype=stacks[0].dtype)
    for j in np.unique(picks):
        s, i = frames[j]
        frame = s[i]
        for k in np.flatnonzero(picks == j):
            y, x = corners[k]
            out[k] = frame[y : y + size, x : x + size]
    return out


class FramePatches(PatchStream):
    """`PatchStream` over the user's frames: each chunk is `chunk` patches drawn from the training frames,
    seeded by (seed, chunk), through the camera front end; the target is the noisy input itself."""

    def __init__(self, cfg: RunConfig):
        super().__init__(cfg)
        self.train_frames, self.val_frames = load_data(cfg)

    def _to_network(self, adu: np.ndarray) -> torch.Tensor:
        m = self.cfg.model
        return torch.from_numpy(
            codes_to_real(adu_to_codes(adu, self.cfg.camera, m.rounding, m.act_bits)[:, None], m.act_bits)
        )

    def _chunk(self, chunk_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        if chunk_id != self._chunk_id:
            tc = self.cfg.train
            patches = draw_patches(
                self.train_frames, tc.chunk, tc.patch, np.random.default_rng([tc.seed, chunk_id, 1])
            )
            for s in self.train_frames:
                s.movie.close()  # until the next chunk
            x = self._to_network(patches)
            self._pool, self._chunk_id = (x, x), chunk_id
        return self._pool

    def validation_batch(self) -> torch.Tensor:
        """Fixed patches from the held-out frames (same every call) for the validation loss."""
        tc = self.cfg.train
        size = min(tc.patch, *(min(s.shape[-2:]) for s in self.val_frames))
        return self._to_network(
            draw_patches(self.val_frames, VAL_PATCHES, size, np.random.default_rng([tc.seed, 2]))
        )


def validation_loss(cfg: RunConfig, model: torch.nn.Module, x: torch.Tensor) -> float:
    """Noise2Void loss on held-out patches with one fixed mask, in eval mode and without gradients."""
    from fluorogate.models.masking import n2v_input

    masked, mask = n2v_input(x, cfg.train.model_copy(update={"seed": VAL_SEED}), 0, 2.0**-cfg.model.act_bits)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = float(torch.mean((model(masked) - x)[mask] ** 2))
    model.train(was_training)
    return loss
