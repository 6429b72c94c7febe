"""Compact restoration networks (float and Brevitas QAT twins), training, evaluation.

`ModelConfig` is light; `build_model` and everything torch-based load on first use so that
`fluorogate --help` and the CLI modules stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fluorogate.models.config import ModelConfig, parse_bits

if TYPE_CHECKING:
    from fluorogate.models.nets import build_model
    from fluorogate.models.shipped import load_default

__all__ = ["ModelConfig", "build_model", "load_default", "parse_bits"]

_LAZY = {"build_model": "fluorogate.models.nets", "load_default": "fluorogate.models.shipped"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
