"""`ModelConfig`: everything that fixes a network's structure and arithmetic, saved as `config.json`.

The config is the contract between training and the hardware back ends: the bit widths and the
rounding recorded here are what the exported QONNX says and what the IR is built with.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fluorogate.errors import UserError
from fluorogate.models.tasks import TASKS, TaskSpec
from fluorogate.quantize.ir import Rounding

MIN_BITS, MAX_BITS = 2, 8
NO_GLOBAL_SKIP = ("smlm",)  # nets (`TaskSpec.net`) whose last conv does not see the input


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
    # How the last conv starts. "identity": the centre taps of the global skip's input channels make the
    # output the input (their mean, for several frames) at init, so the output ReLU is alive wherever the
    # input is > 0 (its pedestal) and the net learns the residual, CARE-style. "pedestal", for a net
    # without a global skip (smlm): weights 0 and the bias at the target's pedestal (the value of its map
    # where there are no emitters, on the network's scale), so the output starts alive everywhere, at the
    # target's floor, and the net learns the spots on top. "default": PyTorch's random init, which left the
    # output ReLU dead (no gradient, ever) for some seeds (docs/models.md). Left unset, a net with a global
    # skip gets "identity" and one without gets "pedestal"; asking for the other one is an error. A
    # config.json without the key predates the choice and loads as "default" (`models.run.migrate`).
    tail_init: Literal["default", "identity", "pedestal"] = "identity"

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
                raise ValueError(f"{self.task} has {'a' if skip else 'no'} global skip: tail_init {wrong!r} "
                                 f"does not apply (use {right!r} or 'default')")
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
