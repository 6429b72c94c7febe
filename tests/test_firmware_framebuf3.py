"""fg_framebuf3 (sim3's on-chip frame buffer) under cocotb: triplets of camera frames -> 3-channel pixels."""

from pathlib import Path

import pytest

from fluorogate.bench.cosim.simulators import get_simulator, simulator_env

RTL = Path(__file__).resolve().parents[1] / "firmware" / "rtl" / "fg_framebuf3.v"


@pytest.mark.integration
@pytest.mark.parametrize("width,height,dw", [(5, 3, 12)])
def test_framebuf3_triplets_bit_exact(width, height, dw, tmp_path):
    from cocotb_tools.runner import get_runner

    sim, env = get_simulator("icarus")
    with simulator_env(env):
        runner = get_runner(sim)
        runner.build(
            sources=[RTL],
            hdl_toplevel="fg_framebuf3",
            build_dir=tmp_path / "build",
            parameters={"W": width, "H": height, "DW": dw},
            timescale=("1ns", "1ps"),
        )
        results = runner.test(
            test_module="cocotb_framebuf3",
            hdl_toplevel="fg_framebuf3",
            test_dir=tmp_path,
            extra_env={"FB_W": str(width), "FB_H": str(height), "FB_DW": str(dw)},
        )
    xml = Path(results).read_text()
    assert "<testcase" in xml and "<failure" not in xml and "<error" not in xml, xml
