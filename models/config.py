"""The typed configs of a run, saved together as its `config.json` (`RunConfig`).

`ModelConfig`: everything that fixes a network's structure and arithmetic; `TrainConfig`: how it is
trained; `RunConfig`: both, the camera conversion and the package versions that trained it.

The config is the contract between training and the hardware back ends: the bit widths and the
rounding recorded here are what the exported QONNX says and what the IR is built with.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from fluorogate.errors import UserError
from fluorogate.models.tasks import TASKS, TaskSpec
from fluorogate.quantize.ir import CameraConversion, Rounding
from fluorogate.sim.camera import CameraPreset

MIN_BITS, MAX_BITS = 2, 8
NO_GLOBAL_SKIP = ("smlm",)  # nets (`TaskSpec.net`) whose last conv does not see the input
# ModelConfig fields added after run folders were first written: saved only when they differ from their
# default, so a config that does not use them is written byte for byte as before (its config.json, the
# QONNX metadata, the hls4ml project that embeds it) and an older fluorogate still reads it.
OPTIONAL_FIELDS = {"kernel": 3, "separable": False}


class ModelConfig(BaseModel):
    """One restoration network: task, width, depth, bit widths and the one rounding of the graph.

    `layers` counts every conv of the network (denoise: 3-6). `last_weight_bits` is the final conv's
    weight width: that conv also sees the global skip (the input), whose identity tap needs a weight
    near 1 next to small correction weights, which 4 bits per tensor cannot hold both of.
    """

    model_config = ConfigDict(extra="forbid")

    task: str = "denoise"  # a key of fluorogate.models.tasks.TASKS
    channels: int = Field(default=8, ge=2, le=32)
    layers: int = Field(default=0, ge=0, le=6)  # 0: the task's default (TaskSpec.default_layers)
    weight_bits: int = Field(default=4, ge=MIN_BITS, le=MAX_BITS)
    last_weight_bits: int = Field(default=8, ge=MIN_BITS, le=MAX_BITS)
    act_bits: int = Field(default=8, ge=MIN_BITS, le=MAX_BITS)
    # Fractional bits the output adds below the input's grid (an act_bits + out_extra_bits wide output
    # stream, same range): the input grid is 1 ADU on sCMOS, coarse at a few photons (docs/models.md).
    out_extra_bits: int = Field(default=0, ge=0, le=8)
    # How each weight tensor's power-of-two scale is chosen (`quantize.qat.WEIGHT_QUANT`): "max" covers
    # the largest weight; "mse" is learned from the least-MSE power of two (outliers saturate).
    weight_scale: Literal["max", "mse"] = "max"
    rounding: Rounding = "half_even"
    # The convs' window: 3x3, or 5x5 (a wider receptive field: large smooth objects such as the nuclei of
    # the real crop span more than the default's 9x9 pixels; 25/9 the MACs per conv). Configs without the
    # key are 3x3.
    kernel: Literal[3, 5] = 3
    # Feature-to-feature convs as depthwise-separable blocks (depthwise k x k, ReLU, pointwise 1x1): at
    # C = 8, 3x3, 9 + 8 MACs per channel and pixel instead of 72. Convs reading the camera or writing the
    # output stay dense.
    separable: bool = False
    # How the last conv starts. "identity": the centre taps of the global skip's input channels make the
    # output the input (their mean, for several frames) at init, so the output ReLU is alive wherever the
    # input is > 0 (its pedestal) and the net learns the residual, CARE-style. "pedestal", for a net
    # without a global skip (smlm): weights 0 and the bias at the target's pedestal (the value of its map
    # where there are no emitters, on the network's scale), so the output starts alive everywhere, at the
    # target's floor, and the net learns the spots on top. "default": PyTorch's random init, which left the
    # output ReLU dead (no gradient, ever) for some seeds (docs/models.md). Left unset, a net with a global
    # skip gets "identity" and one without gets "pedestal"; asking for the other one is an error. A
    # config.json without the key predates the choice and loads as "default" (`models.config.migrate`).
    tail_init: Literal["default", "identity", "pedestal"] = "identity"

    @model_serializer(mode="wrap")
    def _omit_optional_defaults(self, handler):
        data = handler(self)
        for key, default in OPTIONAL_FIELDS.items():
            if data.get(key) == default:
                del data[key]
        return data

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        return task

    @model_validator(mode="after")
    def _check_task_depth(self) -> ModelConfig:
        if self.layers == 0:
            self.layers = self.spec.default_layers
        if self.layers < self.spec.min_layers:
            raise ValueError(f"{self.task} needs layers >= {self.spec.min_layers}, got {self.layers}")
        skip = self.spec.net not in NO_GLOBAL_SKIP
        wrong = "pedestal" if skip else "identity"
        if self.tail_init == wrong:
            if "tail_init" in self.model_fields_set:
                right = "identity" if skip else "pedestal"
                raise ValueError(
                    f"{self.task} has {'a' if skip else 'no'} global skip: tail_init {wrong!r} "
                    f"does not apply (use {right!r} or 'default')"
                )
            self.tail_init = "pedestal"  # only reached for a net without a global skip left unset
        return self

    @property
    def spec(self) -> TaskSpec:
        """The task's registry entry (network, input frames, output scale, data and baselines)."""
        return TASKS[self.task]

    @property
    def bits_tag(self) -> str:
        return f"w{self.weight_bits}a{self.act_bits}"


_BITS_RE = re.compile(r"^w(\d+)a(\d+)$")


def parse_bits(tag: str) -> tuple[int, int]:
    """'w4a8' -> (4, 8); a clear `UserError` for a malformed tag or a width outside 2..8."""
    match = _BITS_RE.match(tag.strip().lower())
    if not match:
        raise UserError(f"--bits {tag!r}: expected the form wNaM, e.g. w4a8")
    w, a = int(match.group(1)), int(match.group(2))
    for name, b in (("weight", w), ("activation", a)):
        if not MIN_BITS <= b <= MAX_BITS:
            raise UserError(f"--bits {tag!r}: {name} bit width {b} is outside {MIN_BITS}..{MAX_BITS}")
    return w, a


class FrameFile(BaseModel):
    """One file of the user's own frames a run trained on (`TrainConfig.data`), identified by content."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str
    frames: int = Field(ge=1)


class TrainConfig(BaseModel):
    """How a model is trained: simulated data (or the user's frames, `data`), steps per phase, optimiser,
    seed."""

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
    # which the real crop is made of); chosen per chunk from its simulation seed. The test set stays the
    # `specimen`.
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


def migrate(data: dict) -> dict:
    """A saved config (a run's config.json, a shipped model's .json) brought up to the current fields.

    Configs written before `ModelConfig.tail_init` existed were initialised by PyTorch's default: they
    load as "default" (new configs get "identity"), so a recorded command re-runs under its own init."""
    data.get("model", {}).setdefault("tail_init", "default")
    return data
