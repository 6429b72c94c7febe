"""A run folder `runs/<name>/`: `config.json` (a `models.config.RunConfig`), `checkpoint.pt`, exports,
reports.

Two kinds of run hold the same exports (`model.qonnx.onnx`, `ir.json`), so every hardware stage takes
either alike:
- trained (`fluorogate train`): `config.json` and `checkpoint.pt`; everything needed to rebuild,
  retrain, export and evaluate the model is in its `RunConfig`;
- imported (`fluorogate import MODEL.onnx`, `models.import_run`): `source.json` (an `ImportSource`:
  the file it came from and its SHA-256, the tool that wrote it, the rounding and camera conversion
  chosen at import, the check made then) and no config or checkpoint: it has no float twin, no task
  and no training data, so what needs them (`eval`, bench's quality section) says so and stops.
`RunFolder` knows where each file of a run lives and what a stage may ask of it (`require_exported`,
`graph`, `require_config`), so no command re-derives paths or re-words the same error. A command-line
run argument ('default', a shipped model's name, or a folder) becomes a `RunFolder` through
`models.runs.open_run`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from fluorogate.errors import UserError
from fluorogate.models.config import RunConfig, migrate
from fluorogate.outputs import write_text_atomic
from fluorogate.quantize.ir import CameraConversion, Rounding

CONFIG, CHECKPOINT, SOURCE = "config.json", "checkpoint.pt", "source.json"
QONNX, FLOAT_ONNX, IR = "model.qonnx.onnx", "model.onnx", "ir.json"

if TYPE_CHECKING:
    from fluorogate.quantize.ir import IntegerGraph


class ImportSource(BaseModel):
    """What an imported run records of where its model came from (`source.json`)."""

    model_config = ConfigDict(extra="forbid")

    file: str  # the imported QONNX file, resolved; for a Brevitas module: "<module ClassName>"
    sha256: str  # of that file's bytes (for a module: of the QONNX that Brevitas exported from it)
    tool: str  # who wrote the file: the ONNX producer name and version (e.g. "brevitas 0.13.4")
    rounding: Rounding
    rounding_from: str  # "the file's quantizers", "the file's fluorogate metadata" or "--rounding"
    camera: CameraConversion | None = None
    camera_from: dict | None = None  # the camera numbers the conversion was chosen from, and how
    check: dict  # the bit-exactness check made at import: what was compared, on how many pixels
    versions: dict[str, str]
    command: str | None = None


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
    def source_path(self) -> Path:
        return self.path / SOURCE

    @property
    def has_config(self) -> bool:
        return self.config_path.is_file()

    @property
    def is_imported(self) -> bool:
        """Made by `fluorogate import` (a `source.json`, no training config)."""
        return self.source_path.is_file()

    @cached_property
    def source(self) -> ImportSource:
        """Where an imported run's model came from (`source.json`)."""
        try:
            return ImportSource.model_validate_json(self.source_path.read_text())
        except FileNotFoundError:
            raise UserError(
                f"{self.source_path}: no such file; {self.path} was not made by `fluorogate import`"
            ) from None
        except ValidationError as exc:
            raise UserError(f"{self.source_path}: not a valid import record: {exc}") from None

    @property
    def kind(self) -> str:
        """'imported' (`fluorogate import`), 'trained' (a training config) or 'exported' (the exports
        alone)."""
        return "imported" if self.is_imported else "trained" if self.has_config else "exported"

    def require_config(self, what: str) -> RunConfig:
        """The run's training config; for an imported run, one line saying that `what` needs one."""
        if not self.has_config and self.is_imported:
            raise UserError(
                f"{self.path}: an imported model ({self.source.file}) has no float twin and no training "
                f"config (task, camera, data); {what} needs them"
            )
        return self.config

    @property
    def is_exported(self) -> bool:
        return self.ir_path.is_file() and self.qonnx_path.is_file()

    def require_exported(self) -> RunFolder:
        """This run, if it holds `ir.json` and `model.qonnx.onnx`; else one line saying how to get them."""
        if not self.path.is_dir():
            raise UserError(f"{self.path}: no such run folder")
        if not self.is_exported:
            missing = " and ".join(
                n for n, p in ((IR, self.ir_path), (QONNX, self.qonnx_path)) if not p.is_file()
            )
            raise UserError(
                f"{self.path}: no {missing}; export it first (`fluorogate export {self.path}`) "
                "or import a QONNX file (`fluorogate import MODEL.onnx --out RUN`)"
            )
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
        if (Path(run) / SOURCE).is_file():
            raise UserError(
                f"{path}: no such file; {run} is an imported model (source.json): it has no float twin "
                "and no training config (task, camera, data) to train, export or evaluate"
            ) from None
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
            raise UserError(
                f"{path}: refused: the checkpoint holds Python code or objects ({found.group(1)}), "
                "not only tensors, numbers and strings; loading it could run that code. Use a "
                "checkpoint written by `fluorogate train`"
            ) from None
        detail = str(exc).split("WeightsUnpickler error:")[-1]
        raise UserError(f"{path}: not a readable fluorogate checkpoint ({_first_line(detail)})") from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise UserError(f"{path}: not a readable fluorogate checkpoint ({_first_line(str(exc))})") from None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "empty")
