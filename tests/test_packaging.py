"""The wheel holds every package and every non-Python file the code opens.

The stage folders are mapped into one namespace by pyproject's explicit `packages` list, so a new
subpackage is silently left out of a non-editable install unless it is listed (the editable install
the tests run from hides that).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_of(folder: Path, package_dir: dict[str, str]) -> str:
    rel = folder.relative_to(ROOT).as_posix()
    for name, path in sorted(package_dir.items(), key=lambda kv: -len(kv[1])):
        if rel == path or rel.startswith(path + "/"):
            return name + rel[len(path) :].replace("/", ".")
    raise AssertionError(f"{rel} is under no package-dir entry")


def test_every_package_folder_is_in_the_wheel():
    cfg = _setuptools()
    roots = set(cfg["package-dir"].values())
    folders = [
        p.parent
        for p in ROOT.rglob("__init__.py")
        if p.relative_to(ROOT).parts[0] in roots and ".venv" not in p.parts
    ]
    missing = {_package_of(f, cfg["package-dir"]) for f in folders} - set(cfg["packages"])
    assert not missing, f"packages missing from pyproject's [tool.setuptools] packages: {sorted(missing)}"


def test_the_fast_reference_kernels_ship():
    from fluorogate.quantize.fast.library import SOURCE

    cfg = _setuptools()
    package = _package_of(SOURCE.parent, cfg["package-dir"])
    assert SOURCE.name in cfg["package-data"].get(package, []), (
        f"{SOURCE.name} is not package data of {package}"
    )
