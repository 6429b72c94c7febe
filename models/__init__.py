"""Compact restoration networks (float and Brevitas QAT twins), training, evaluation.

`ModelConfig` is light; `build_model` and everything torch-based load on first use so that
`fluorogate --help` and the CLI modules stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fluorogate.models.config import ModelConfig, parse_bits

if TYPE_CHECKING:
    from fluorogate.models.nets import build_model

__all__ = ["ModelConfig", "build_model", "parse_bits"]


def __getattr__(name: str):
    if name == "build_model":
        from fluorogate.models.nets import build_model

        return build_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
