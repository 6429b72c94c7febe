"""The RTL's stage types, one `StageBuilder` subclass per IR op, registered in `STAGES` by op name.

Importing this package imports every module in it: a new op's stage is a new module here.
"""

from __future__ import annotations

from fluorogate.firmware.stages.base import STAGES, Fmt, Stage, StageBuilder, tensor_fmt, tensor_range, vname
from fluorogate.quantize.ops import load_modules

__all__ = ["STAGES", "Fmt", "Stage", "StageBuilder", "tensor_fmt", "tensor_range", "vname"]

load_modules(__name__, __path__)
