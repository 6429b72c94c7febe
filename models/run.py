"""A run folder `runs/<name>/`: `config.json`, `checkpoint.pt`, exports and reports.

`RunConfig` (saved as `config.json`) is everything needed to rebuild, retrain, export and evaluate a
model: its `ModelConfig`, the `TrainConfig`, the camera conversion (the IR's `CameraConversion`, which
the IR builder reads from here or from the QONNX metadata) and the package versions that trained it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fluorogate.errors import UserError
from fluorogate.models.config import ModelConfig
from fluorogate.outputs import write_text_atomic
from fluorogate.quantize.ir import CameraConversion
from fluorogate.sim.camera import CameraPreset

CONFIG, CHECKPOINT = "config.json", "checkpoint.pt"
QONNX, FLOAT_ONNX, IR = "model.qonnx.onnx", "model.onnx", "ir.json"


class FrameFile(BaseModel):
    """One file of the user's own frames a run trained on (`TrainConfig.data`), identified by content."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str
    frames: int = Field(ge=1)


class TrainConfig(BaseModel):
    """How a model is trained: simulated data (or the user's frames, `data`), steps per phase, optimiser, seed."""

    model_config = ConfigDict(extra="forbid")

    float_steps: int = Field(default=2000, ge=0)
    qat_steps: int = Field(default=600, ge=0)
    batch: int = Field(default=16, ge=1)
    patch: int = Field(default=64, ge=16)
    lr: float = Field(default=2e-3, gt=0)
    qat_lr: float = Field(default=5e-4, gt=0)
    photons: tuple[float, float] = (4.0, 25.0)  # training photon levels, log-uniform per data chunk
    background: float = Field(default=2.0, ge=0)
    # A preset name, or the full camera of a camera file (`fluorogate train --camera camera.json`, from
    # `fluorogate calibrate`), recorded whole so the run does not depend on the file staying put.
    preset: str | CameraPreset = "scmos"
    specimen: str = "mix"  # also the simulated test set's specimen (`fluorogate eval`)
    # A share of the training chunks drawn from a second specimen (e.g. `nuclei`: large smooth objects,
    # which the real crop is made of); chosen per chunk from its simulation seed. The test set stays `specimen`.
    extra_specimen: str = ""
    extra_fraction: float = Field(default=0.0, ge=0, le=1)
    peak_photons: float = Field(default=100.0, gt=0)  # sets the camera conversion's shift
    mode: Literal["supervised", "n2v"] = "supervised"
    n2v_fraction: float = Field(default=0.02, gt=0, lt=0.5)  # blind-spot pixels per patch
    # What a blind-spot pixel is replaced by (`models.masking`): "neighbour" (Noise2Void: a random pixel of
    # its 5x5 neighbourhood) or "median" (N2V2: the median of the 5x5 neighbourhood without the centre,
    # against N2V's checkerboard artefacts); `struct_mask`: structN2V's mask for row/column-correlated noise,
    # "" (none), "row" or "col" (the blind spot widened along that axis, `struct_span` pixels each side).
    n2v_replace: Literal["neighbour", "median"] = "neighbour"
    struct_mask: Literal["", "row", "col"] = ""
    struct_span: int = Field(default=2, ge=1, le=8)
    chunk: int = Field(default=256, ge=1)  # patches simulated at once (one photon level)
    refresh: int = Field(default=48, ge=1)  # steps between fresh chunks
    seed: int = 0
    threads: int = Field(default=1, ge=1)  # 2 threads ran 10x slower on a shared 2-core machine
    checkpoint_every: int = Field(default=200, ge=1)
    # The user's own frames (Noise2Void, `models.frames`): files in order; the last `val_frames` frames of
    # them are held out for the validation loss. Empty: simulated data.
    data: list[FrameFile] = Field(default_factory=list)
    val_frames: int = Field(default=0, ge=0)
    init: str = ""  # a finished run folder (or "shipped") whose float weights start the training
    # The supervised loss (both phases). "mse": the mean squared error on the network's scale, so a bright
    # batch (20 ph) outweighs a dim one (5 ph) by roughly the square of their ranges, and QAT spends its
    # 4-bit weights on the bright levels. "psnr": minus the batch's PSNR (dB, range from its truth, as
    # `fluorogate eval` scores a frame); its gradient is the MSE's divided by the MSE, and a batch is one
    # photon level, so every level counts by its relative error, as the per-level PSNR target does
    # (`models.train.psnr_loss`, docs/models.md). Configs without the key load as "mse".
    loss: Literal["mse", "psnr"] = "mse"

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        lo, hi = self.photons
        if not 0 < lo <= hi:
            raise ValueError(f"photons range {self.photons} must satisfy 0 < low <= high")
        if self.extra_fraction > 0 and not self.extra_specimen:
            raise ValueError(f"extra_fraction {self.extra_fraction} needs an extra_specimen")
        if self.loss == "psnr" and self.mode != "supervised":
            raise ValueError("loss psnr needs a clean target (mode supervised); Noise2Void trains on MSE")
        if self.data and self.mode != "n2v":
            raise ValueError("training on your own frames (data) needs mode n2v: there is no clean target")
        if self.float_steps + self.qat_steps == 0:
            raise ValueError("nothing to train: float_steps and qat_steps are both 0")
        return self

    @property
    def total_steps(self) -> int:
        return self.float_steps + self.qat_steps


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelConfig
    train: TrainConfig
    camera: CameraConversion
    versions: dict[str, str] = Field(default_factory=dict)
    command: str = ""


def save_config(run: Path, cfg: RunConfig, force: bool = True) -> Path:
    return write_text_atomic(run / CONFIG, cfg.model_dump_json(indent=1) + "\n", force=force)


def migrate(data: dict) -> dict:
    """A saved config (a run's config.json, a shipped model's .json) brought up to the current fields.

    Configs written before `ModelConfig.tail_init` existed were initialised by PyTorch's default: they
    load as "default" (new configs get "identity"), so a recorded command re-runs under its own init."""
    data.get("model", {}).setdefault("tail_init", "default")
    return data


def load_config(run: str | Path) -> RunConfig:
    path = Path(run) / CONFIG
    try:
        return RunConfig.model_validate(migrate(json.loads(path.read_text())))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; is {run} a run folder made by `fluorogate train`?") from None
    except (json.JSONDecodeError, ValidationError) as exc:
        raise UserError(f"{path}: not a valid run config: {exc}") from None


def checkpoint_path(run: str | Path) -> Path:
    path = Path(run) / CHECKPOINT
    if not path.is_file():
        raise UserError(f"{path}: no checkpoint; train first (`fluorogate train --out {run}`)")
    return path
