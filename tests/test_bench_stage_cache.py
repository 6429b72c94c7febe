"""The sweep's stage cache: atomic publication, a lost race, failures kept with their log, stale folders."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys

import pytest

from fluorogate.bench.stage_cache import LOG, StageCache, StageFailed
from fluorogate.errors import UserError
from fluorogate.fingerprint import code_fingerprint, fingerprint

FP = "0123456789abcdef"


def test_fingerprint_chains_previous_name_code_and_config():
    base = fingerprint("", "train", code_fingerprint(), '{"steps": 100}')
    assert len(base) == 16 and base == fingerprint("", "train", code_fingerprint(), '{"steps": 100}')
    assert base != fingerprint("", "train", code_fingerprint(), '{"steps": 101}')
    assert base != fingerprint("x", "train", code_fingerprint(), '{"steps": 100}')
    assert len(code_fingerprint()) == 64


def test_compute_publishes_once_and_load_reads_it(tmp_path):
    cache = StageCache(tmp_path)
    calls = []

    def work(folder):
        calls.append(folder)
        (folder / "artefact.txt").write_text("made")
        print("progress line of the stage")
        return {"value": 7}

    assert cache.load("train", FP) is None
    got = cache.compute("train", FP, work)
    assert got["value"] == 7 and got["seconds"] >= 0
    entry = cache.entry("train", FP)
    assert (entry / "artefact.txt").read_text() == "made" and cache.load("train", FP) == got
    assert "progress line of the stage" in (entry / LOG).read_text()  # the stage's output goes to its log
    assert not list((tmp_path / "train").glob(".tmp-*")), "the private folder became the entry"
    assert len(calls) == 1 and calls[0] != entry


def test_a_stage_published_by_another_sweep_first_is_kept(tmp_path):
    """Two sweeps compute the same stage: the first to finish stands, the second's copy is discarded."""
    cache = StageCache(tmp_path)

    def slow(folder):
        cache.compute("synth", FP, lambda f: {"who": "first"})  # another sweep finishes while we work
        return {"who": "second"}

    assert cache.compute("synth", FP, slow)["who"] == "first"
    assert cache.load("synth", FP)["who"] == "first"
    assert [p.name for p in (tmp_path / "synth").iterdir()] == [FP]


def _compete(root: str, barrier) -> str:
    cache = StageCache(root)
    barrier.wait()
    return cache.compute("train", FP, lambda f: {"pid": multiprocessing.current_process().pid})["pid"]


def test_processes_racing_on_one_entry_agree(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(3)
        with ctx.Pool(3) as pool:
            got = pool.starmap(_compete, [(str(tmp_path), barrier)] * 3)
    assert len(set(got)) == 1, "every process returns the one published result"
    assert json.loads((tmp_path / "train" / FP / "result.json").read_text())["pid"] == got[0]
    assert [p.name for p in (tmp_path / "train").iterdir()] == [FP]


def test_a_failed_stage_keeps_its_folder_and_log_and_is_not_cached(tmp_path):
    cache = StageCache(tmp_path)

    def fails(folder):
        (folder / "tool.log").write_text("yosys said no")
        print("stage output before the failure")
        raise UserError("yosys failed (exit 1)")

    with pytest.raises(StageFailed) as info:
        cache.compute("synth", FP, fails)
    assert info.value.reason == "yosys failed (exit 1)"
    log = info.value.log
    assert log.parent.name.startswith(f"{FP}.failed-") and (log.parent / "tool.log").is_file()
    text = log.read_text()
    assert "stage output before the failure" in text and "Traceback" in text and "yosys failed" in text
    assert cache.load("synth", FP) is None

    def bug(folder):
        return {}["missing"]

    with pytest.raises(StageFailed, match="KeyError"):
        cache.compute("synth", "fedcba9876543210", bug)


def test_ctrl_c_leaves_no_private_folder(tmp_path):
    cache = StageCache(tmp_path)

    def interrupted(folder):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.compute("train", FP, interrupted)
    assert list((tmp_path / "train").iterdir()) == []


def test_remove_stale_deletes_only_dead_processes_folders_of_this_host(tmp_path):
    import os
    import socket

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    host = socket.gethostname()
    stale = tmp_path / "train" / f".tmp-{FP}-{host}-{dead_pid}-abc123"
    live = tmp_path / "train" / f".tmp-{FP}-{host}-{os.getpid()}-abc123"
    other = tmp_path / "train" / f".tmp-{FP}-another-host-{dead_pid}-abc123"
    for folder in (stale, live, other):
        folder.mkdir(parents=True)
    assert StageCache(tmp_path).remove_stale() == 1
    assert not stale.exists() and live.exists() and other.exists()
