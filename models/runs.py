"""A run as a command line names it: a run folder, or a model shipped with fluorogate by name.

Every command that takes a RUN goes through `open_run`, so 'default' (the shipped denoiser) and each
shipped model's name (`fluorogate rtl denoise_w4a8_c12 ...`) work everywhere a trained run does. A
shipped model is written out as a run folder and exported once, into a cache folder keyed by its
weights' digest (`FLUOROGATE_CACHE`, default `~/.cache/fluorogate`), and reused after that.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from fluorogate.errors import UserError
from fluorogate.models.run_folder import RunFolder
from fluorogate.models.shipped import SHIPPED, SHIPPED_TASKS, shipped_files

DEFAULT = "default"


def shipped_names() -> dict[str, tuple[str, str]]:
    """Shipped model name -> (task key, rounding), plus 'default' for the default denoiser."""
    names = {name: key for key, name in SHIPPED_TASKS.items()}
    return {DEFAULT: names[SHIPPED["half_even"]], **names}


def cache_dir() -> Path:
    return Path(os.environ.get("FLUOROGATE_CACHE", Path.home() / ".cache" / "fluorogate"))


def open_run(run: str | Path, exported: bool = True) -> RunFolder:
    """`run` from a command line as a `RunFolder`: an existing folder (an `ir.json` path names its folder),
    else 'default' or a shipped model's name. `exported`: the run must hold its IR and QONNX."""
    path = Path(run)
    if path.name == "ir.json" and path.is_file():
        path = path.parent
    if path.is_dir():
        folder = RunFolder(path)
    elif str(run) in shipped_names():
        folder = shipped_folder(str(run))
    else:
        raise UserError(
            f"{run}: no such run folder, and not a shipped model (shipped: {', '.join(shipped_names())})"
        )
    return folder.require_exported() if exported else folder


def shipped_folder(name: str) -> RunFolder:
    """The shipped model `name` as an exported run folder in the cache (made on first use)."""
    from fluorogate.models.export_run import export_run
    from fluorogate.models.shipped import shipped_run

    task, rounding = shipped_names()[name]
    meta, weights = shipped_files(rounding, task)
    digest = hashlib.sha256(meta.read_bytes() + weights.read_bytes()).hexdigest()[:12]
    folder = RunFolder(cache_dir() / "shipped" / f"{name}-{digest}")
    if folder.is_exported:
        return folder
    folder.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.path.parent))
    try:  # built aside and renamed into place: two commands starting at once never see half a folder
        shipped_run(tmp / "run", rounding, task=task)
        export_run(tmp / "run")
        try:
            os.replace(tmp / "run", folder.path)
        except OSError:
            if not folder.is_exported:  # another process won the race only if its folder is whole
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
