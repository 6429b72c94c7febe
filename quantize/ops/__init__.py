"""The IR's ops, one class per op (`base.OpNode`), one module per op or family of ops.

Importing this package imports every module in it, so a new op is a new module here and nothing
else in the IR: its class registers itself in `OPS`, and its QONNX readers in `onnx_read.READERS`.
The back ends register their handlers per op name beside their own code (docs/ir.md, "Adding an op").
"""

from __future__ import annotations

import importlib
import pkgutil

from fluorogate.quantize.ops.base import OPS, Exec, OpNode, RowWindow

__all__ = ["OPS", "Exec", "OpNode", "RowWindow", "load_modules"]


def load_modules(package: str, path) -> list[str]:
    """Import every module of `package` (its `__path__`): the registry pattern every back end's handler
    package uses, so that adding a handler is adding a module."""
    names = sorted(m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names


load_modules(__name__, __path__)
