"""A run folder `runs/<name>/`: `config.json` (a `models.config.RunConfig`), `checkpoint.pt`, exports, reports.

Everything needed to rebuild, retrain, export and evaluate a model is in its `RunConfig`; `RunFolder`
knows where each file of a run lives and what a stage may ask of it (`require_exported`, `graph`), so
no command re-derives paths or re-words the same error. A command-line run argument ('default', a
shipped model's name, or a folder) becomes a `RunFolder` through `models.runs.open_run`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from fluorogate.errors import UserError
from fluorogate.models.config import RunConfig, migrate
from fluorogate.outputs import write_text_atomic

CONFIG, CHECKPOINT = "config.json", "checkpoint.pt"
QONNX, FLOAT_ONNX, IR = "model.qonnx.onnx", "model.onnx", "ir.json"

if TYPE_CHECKING:
    from fluorogate.quantize.ir import IntegerGraph


@dataclass(frozen=True)
class RunFolder:
    """One run folder: the paths of its files, its config and its IR, each read once."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def qonnx_path(self) -> Path:
        return self.path / QONNX

    @property
    def float_onnx_path(self) -> Path:
        return self.path / FLOAT_ONNX

    @property
    def ir_path(self) -> Path:
        return self.path / IR

    @property
    def has_config(self) -> bool:
        return self.config_path.is_file()

    @property
    def is_exported(self) -> bool:
        return self.ir_path.is_file() and self.qonnx_path.is_file()

    def require_exported(self) -> RunFolder:
        """This run, if it holds `ir.json` and `model.qonnx.onnx`; else one line saying how to get them."""
        if not self.path.is_dir():
            raise UserError(f"{self.path}: no such run folder")
        if not self.is_exported:
            missing = " and ".join(n for n, p in ((IR, self.ir_path), (QONNX, self.qonnx_path)) if not p.is_file())
            raise UserError(f"{self.path}: no {missing}; export it first (`fluorogate export {self.path}`) "
                            "or import a QONNX file (`fluorogate import MODEL.onnx --out RUN`)")
        return self

    @cached_property
    def config(self) -> RunConfig:
        return load_config(self.path)

    @cached_property
    def graph(self) -> IntegerGraph:
        """The run's IR (`ir.json`); the run must be exported."""
        from fluorogate.quantize.ir import IntegerGraph

        return IntegerGraph.load(self.require_exported().ir_path)


def save_config(run: Path, cfg: RunConfig, force: bool = True) -> Path:
    return write_text_atomic(run / CONFIG, cfg.model_dump_json(indent=1) + "\n", force=force)


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


def load_checkpoint(path: Path) -> dict:
    """A run's training state (`checkpoint.pt`): step, phase, model and float states, stats, config.

    Loaded with `weights_only=True`: a checkpoint holds tensors, numbers, strings and containers of them,
    nothing that unpickling could call. Run folders travel between people; one whose checkpoint names
    any other Python object (a crafted file runs that object's code on a plain `torch.load`) is refused."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise UserError(f"{path}: refused: the checkpoint holds Python code or objects ({found.group(1)}), "
                            "not only tensors, numbers and strings; loading it could run that code. Use a "
                            "checkpoint written by `fluorogate train`") from None
        detail = str(exc).split("WeightsUnpickler error:")[-1]
        raise UserError(f"{path}: not a readable fluorogate checkpoint ({_first_line(detail)})") from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise UserError(f"{path}: not a readable fluorogate checkpoint ({_first_line(str(exc))})") from None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "empty")
