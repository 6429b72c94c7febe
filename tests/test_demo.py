"""`fluorogate demo`: the chain's software steps end to end, caching, refusals; the whole chain is slow."""

import json

import pytest

from fluorogate.cli import main

pytestmark = pytest.mark.e2e  # the command a user types, over several stages

SOFTWARE_STEPS = "simulate,model,export,reference"


def test_demo_software_steps_are_bit_exact_and_cached(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", SOFTWARE_STEPS]) == 0
    first = capsys.readouterr().out
    assert "[1/4] simulate done" in first and "[4/4] reference done" in first
    assert "brevitas vs reference: 0 of 1310720 pixels differ" in first
    state = json.loads((out / "demo_state.json").read_text())
    results = state["reference"]["results"]
    assert results["psnr_restored_db"] > results["psnr_noisy_db"] + 5  # it denoises
    for name in ("movie.ome.tif", "movie.png", "restored.ome.tif", "restored.png", "run/ir.json"):
        assert (out / name).is_file(), name

    # A second run reuses every step; deleting an output re-runs just the step that made it.
    assert main(["demo", "--out", str(out), "--steps", SOFTWARE_STEPS]) == 0
    assert capsys.readouterr().out.count(": cached: ") == 4
    (out / "restored.ome.tif").unlink()
    assert main(["demo", "--out", str(out), "--steps", SOFTWARE_STEPS]) == 0
    again = capsys.readouterr().out
    assert again.count(": cached: ") == 3 and "[4/4] reference done" in again


def test_demo_refuses_foreign_folders_and_unknown_steps(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("a user's file")
    assert main(["demo", "--out", str(tmp_path), "--steps", "simulate"]) == 2
    assert "not a demo's" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--steps", "nope"]) == 2
    assert "--steps: unknown nope; choose from simulate" in capsys.readouterr().err


@pytest.mark.slow
def test_whole_demo(tmp_path, capsys):
    """Every step, the bitstream included (minutes of place-and-route): every joint bit-exact."""
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    joints = [line for line in out.splitlines() if "bit-exact check" in line]
    assert len(joints) == 3 and all(": 0 of " in line for line in joints)
    assert (tmp_path / "demo" / "bitstream" / "fg_board_top.bit").is_file()
