"""Fuzzing what users feed the commands: generated TIFFs (shapes 1-D to 5-D, RGB/RGBA, planar, every dtype,
OME and ImageJ axes, compression; truncated, damaged, empty, garbage, huge declared sizes) into
`fluorogate reference`, the reader behind `train --data` (`models.frames.prepare`) and `simulate
--specimen`; and `simulate --size/--frames` extremes. Every case ends in one of two ways: a clear one-line
error (exit 2, no output file), or a success that read exactly the frames the file holds
(`fuzz_inputs.meaning`). Tracebacks and silent misreads fail the test.

A few dozen examples per target run in the default suite; `pytest -m slow tests/test_inputs_fuzz.py -s`
runs the big one and prints the counts (and writes them as JSON to $FLUOROGATE_FUZZ_REPORT if set).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import rtl_graphs
import tifffile
from fuzz_inputs import Case, cases, damage, meaning, write_case
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fluorogate.cli import main
from fluorogate.errors import UserError

TALLY: Counter = Counter()
REFUSED: list[str] = []  # readable, undamaged files a command refused: each one looked at
FAST, SLOW = 30, 1000  # examples per target
GRAPH = rtl_graphs.residual_denoiser()  # has a camera conversion: takes unsigned ADU or float real values


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if TALLY:
        print("\ninput fuzzing:", json.dumps(dict(sorted(TALLY.items())), indent=1))
        print("\n".join(["refused though readable:", *REFUSED[:20]]))
        if os.environ.get("FLUOROGATE_FUZZ_REPORT"):
            Path(os.environ["FLUOROGATE_FUZZ_REPORT"]).write_text(json.dumps(dict(TALLY), indent=1) + "\n")


def _cli(target: str, argv: list[str], what: str) -> tuple[int, str]:
    """Run the CLI in-process: (exit code, stderr). An exception escaping `main` is a traceback: counted,
    and the test fails on `what`."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except Exception as exc:
        TALLY[f"{target}: tracebacks"] += 1
        raise AssertionError(f"traceback on {what}") from exc
    return code, err.getvalue()


def _clear(target: str, err: str) -> None:
    """A clear error: the last thing said is one `fluorogate: error:` line, nothing else after it."""
    last = err.rsplit("fluorogate: error: ", 1)
    assert len(last) == 2 and last[1].count("\n") == 1 and "Traceback" not in err, err
    TALLY[f"{target}: clear errors"] += 1


def _make(case: Case, folder: Path) -> tuple[Path, Path]:
    """(the damaged file, an undamaged copy to take its meaning from)."""
    clean = folder / "clean.tif"
    assume(write_case(case, clean))
    path = folder / "user.tif"
    path.write_bytes(clean.read_bytes())
    damage(case, path)
    return path, clean


def _tally_case(target: str, case: Case) -> None:
    TALLY[f"{target}: cases"] += 1
    TALLY[f"{target}: damaged ({case.damage})" if case.damage != "none" else f"{target}: undamaged"] += 1


def check_reference(case: Case) -> None:
    from fluorogate.quantize.reference import codes_from_adu, quantize_float_input, run_graph

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, clean = _make(case, folder)
        GRAPH.save(folder / "ir.json")
        out = folder / "out.tif"
        argv = ["reference", str(folder), "--input", str(path), "--out", str(out)]
        argv += [] if case.channel is None else ["--channel", str(case.channel)]
        _tally_case("reference", case)
        code, err = _cli("reference", argv, repr(case))
        meant = meaning(case, clean, "uf", case.channel)
        if code == 2:
            _clear("reference", err)
            assert not out.exists()
            if meant is not None and case.damage == "none":
                TALLY["reference: refused a readable file"] += 1
                REFUSED.append(f"{case!r}: {err.strip().splitlines()[-1]}")
            return
        assert code == 0, err
        got = tifffile.imread(out).reshape(-1, *tifffile.imread(out).shape[-2:])
        ok = meant is not None and len(got) == len(meant)
        if ok:
            to_codes = quantize_float_input if meant.dtype.kind == "f" else codes_from_adu
            ok = all(
                np.array_equal(g, run_graph(GRAPH, to_codes(GRAPH, f))[0])
                for g, f in zip(got, meant, strict=True)
            )
        if not ok:
            TALLY["reference: silent misreads"] += 1
            raise AssertionError(
                f"silent misread of {case!r}: wrote {got.shape}, the file holds "
                f"{None if meant is None else meant.shape}"
            )
        TALLY["reference: read right"] += 1


def check_training_data(case: Case) -> None:
    from fluorogate.models.frames import open_frames, prepare

    options = {"camera_offset_adu": 10.0, "gain_adu_per_e": 2.0, "read_noise_e": 1.0}
    with tempfile.TemporaryDirectory() as tmp:
        path, clean = _make(case, Path(tmp))
        _tally_case("train --data", case)
        try:
            records, _, _ = prepare([str(path)], 8, options)
            frames = open_frames(path)
            got = np.stack([frames[i] for i in range(len(frames))])
        except UserError as exc:
            _clear("train --data", f"fluorogate: error: {exc}\n")
            return
        except Exception as exc:
            TALLY["train --data: tracebacks"] += 1
            raise AssertionError(f"traceback on {case!r}") from exc
        meant = meaning(case, clean, "u", None)  # no --channel: one-channel files only
        if meant is None or records[0].frames != len(meant) or not np.array_equal(got, meant):
            TALLY["train --data: silent misreads"] += 1
            raise AssertionError(f"silent misread of {case!r}")
        TALLY["train --data: read right"] += 1


def check_specimen(case: Case) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, clean = _make(case, Path(tmp))
        out = Path(tmp) / "sim.ome.tif"
        _tally_case("simulate --specimen", case)
        argv = ["simulate", "--specimen", str(path), "--frames", "1", "--out", str(out)]
        code, err = _cli("simulate --specimen", argv, repr(case))
        if code == 2:
            _clear("simulate --specimen", err)
            return
        meant = meaning(case, clean, "uif", None)
        if meant is None or len(meant) != 1 or tifffile.imread(out).shape[-2:] != meant.shape[-2:]:
            TALLY["simulate --specimen: silent misreads"] += 1
            raise AssertionError(f"silent misread of {case!r}")
        TALLY["simulate --specimen: read right"] += 1


SIZES = st.sampled_from([-(2**63), -1, 0, 1, 4, 5, 7, 24, 10**5, 10**9, 2**62])
FRAMES = st.sampled_from([-5, 0, 1, 2, 10**12, 2**62])  # 10**8 frames of 5x5 fit: a real (long) run


def check_simulate_size(size: int, frames: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        TALLY["simulate --size/--frames: cases"] += 1
        out = Path(tmp) / "m.ome.tif"
        argv = ["simulate", "--size", str(size), "--frames", str(frames), "--out", str(out)]
        code, err = _cli("simulate --size/--frames", argv, " ".join(argv[1:5]))
        if code == 2:
            _clear("simulate --size/--frames", err)
            return
        assert size >= 5 and frames >= 1 and tifffile.imread(out).shape[-2:] == (size, size)
        TALLY["simulate --size/--frames: ran"] += 1


_FAST = settings(
    max_examples=FAST, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
_SLOW = settings(max_examples=SLOW, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@_FAST
@given(case=cases())
def test_reference_on_generated_files(case):
    check_reference(case)


@_FAST
@given(case=cases())
def test_training_data_on_generated_files(case):
    check_training_data(case)


@settings(_FAST, max_examples=10)
@given(case=cases())
def test_simulate_specimen_on_generated_files(case):
    check_specimen(case)


@_FAST
@given(size=SIZES, frames=FRAMES)
def test_simulate_size_extremes(size, frames):
    check_simulate_size(size, frames)


@pytest.mark.slow
@_SLOW
@given(case=cases())
def test_reference_on_generated_files_many(case):
    check_reference(case)


@pytest.mark.slow
@_SLOW
@given(case=cases())
def test_training_data_on_generated_files_many(case):
    check_training_data(case)


@pytest.mark.slow
@settings(_SLOW, max_examples=SLOW // 4)
@given(case=cases())
def test_simulate_specimen_on_generated_files_many(case):
    check_specimen(case)
