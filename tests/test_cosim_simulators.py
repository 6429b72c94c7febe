"""Both simulators, set up by `fluorogate.bench.cosim.simulators`, run a real cocotb test on the smoke
core."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fluorogate.bench.cosim.simulators import get_simulator, simulator_env
from fluorogate.errors import UserError

RTL = Path(__file__).resolve().parents[1] / "firmware" / "rtl" / "smoke_box3x3.v"


# Verilator compiles its C++ runtime for every build: about 65 s on the shared 2-core machine.
@pytest.mark.integration
@pytest.mark.parametrize("name", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_box3x3_bit_exact_under_cocotb(name, tmp_path):
    from cocotb_tools.runner import get_runner

    sim, env = get_simulator(name)
    start = time.perf_counter()
    with simulator_env(env):
        runner = get_runner(sim)
        runner.build(
            sources=[RTL],
            hdl_toplevel="smoke_box3x3",
            build_dir=tmp_path / "build",
            parameters={"MAX_WIDTH": 64},
            timescale=("1ns", "1ps"),
        )
        results = runner.test(
            test_module="cocotb_smoke_box3x3",
            hdl_toplevel="smoke_box3x3",
            test_dir=tmp_path,
            extra_env={"BOX_WIDTH": "11", "BOX_HEIGHT": "7"},
        )
    xml = Path(results).read_text()
    assert "<testcase" in xml and "<failure" not in xml and "<error" not in xml, xml
    print(f"{name}: build + test {time.perf_counter() - start:.1f} s")


def test_unknown_simulator_is_a_user_error():
    with pytest.raises(UserError, match="unknown simulator 'modelsim'"):
        get_simulator("modelsim")


def test_simulator_env_restores_the_environment(monkeypatch):
    import os

    monkeypatch.setenv("FG_PROBE", "before")
    monkeypatch.delenv("FG_NEW", raising=False)
    with simulator_env({"FG_PROBE": "during", "FG_NEW": "x"}):
        assert os.environ["FG_PROBE"] == "during" and os.environ["FG_NEW"] == "x"
    assert os.environ["FG_PROBE"] == "before" and "FG_NEW" not in os.environ
