"""`open_run`: what every command does with its RUN argument (a folder, 'default', a shipped model's name)."""

import pytest

from fluorogate.errors import UserError
from fluorogate.models.run_folder import RunFolder
from fluorogate.models.runs import open_run, shipped_names


def test_default_is_the_shipped_denoiser_exported_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLUOROGATE_CACHE", str(tmp_path))
    run = open_run("default")
    assert run.is_exported and run.path.parent == tmp_path / "shipped"
    assert run.config.model.task == "denoise" and run.graph.rounding == run.config.model.rounding
    stamp = run.ir_path.stat().st_mtime_ns
    again = open_run("denoise_w4a8")  # the same weights under their own name: its own folder
    assert again.path != run.path and again.config == run.config
    assert open_run("default").ir_path.stat().st_mtime_ns == stamp  # reused, not rewritten


def test_a_folder_or_its_ir_json_names_the_run(tmp_path):
    (tmp_path / "ir.json").write_text("{}")
    assert open_run(tmp_path / "ir.json", exported=False) == RunFolder(tmp_path)
    with pytest.raises(UserError, match="export it first"):
        open_run(tmp_path)


def test_unknown_run_names_the_shipped_models(tmp_path):
    with pytest.raises(UserError, match=r"not a shipped model.*default.*denoise_w4a8_c12"):
        open_run(tmp_path / "nope")
    assert {"default", "denoise_w4a8", "sr2x_w4a8", "smlm_w4a8", "sim3_w4a8"} <= set(shipped_names())
