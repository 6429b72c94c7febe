"""Per-task camera modes and the bench's verdict: lanes needed at the routed Fmax, keeps_up only for the
build."""

from __future__ import annotations

import dataclasses

import pytest

from fluorogate.bench.framestore import frame_buffer_place, frame_store_rows
from fluorogate.bench.keep_up import CAMERA_MODES, FULL_FRAME_MODES, keep_up, task_cameras
from fluorogate.errors import UserError
from fluorogate.models import tasks


def test_each_task_names_its_camera_mode():
    assert task_cameras("denoise") == FULL_FRAME_MODES  # full frame, full rate
    (smlm,) = task_cameras("smlm")
    assert (smlm.width, smlm.height, smlm.fps) == (512, 512, 56.0) and round(smlm.pixel_rate / 1e6, 1) == 14.7
    sr2x = task_cameras("sr2x")
    assert [c.frame for c in sr2x] == ["256x256", "512x512"]
    # one sCMOS line time: 256 lines at 801 fps and 512 lines at 400 fps are ~the same line rate
    assert [round(c.pixel_rate / 1e6, 1) for c in sr2x] == [52.5, 104.9]
    assert task_cameras("sim3")[0] is sr2x[0] and task_cameras("sim3")[1].frame == "2048x2048"
    assert all(name in CAMERA_MODES for spec in tasks.TASKS.values() for name in spec.cameras)


def test_an_unknown_camera_name_is_refused(monkeypatch):
    bad = dataclasses.replace(tasks.TASKS["smlm"], cameras=("no such camera",))
    monkeypatch.setitem(tasks.TASKS, "smlm", bad)
    with pytest.raises(UserError, match="no such camera"):
        task_cameras("smlm")


def test_keeps_up_only_when_the_build_itself_carries_the_camera():
    cams = task_cameras("sr2x")  # 52.5 Mpx/s at 256x256, 104.9 Mpx/s at 512x512
    fast, slow = (keep_up(f, 1.0, out_per_in=4, cameras=cams, built=(256, 256, 1)) for f in (60e6, 50e6))
    assert [r["lanes_needed"] for r in fast] == [1, 2] and fast[0]["keeps_up"]
    assert (
        not fast[1]["keeps_up"] and fast[1]["within_max_lanes"]
    )  # 2 lanes would do it, but not built at 512
    assert "not built for 512x512" in fast[1]["verdict"]
    assert (
        slow[0]["lanes_needed"] == 2
        and not slow[0]["keeps_up"]
        and "needs 2 lanes, built 1" in slow[0]["verdict"]
    )
    assert keep_up(50e6, 1.0, cameras=cams, built=(256, 256, 2))[0]["keeps_up"]
    assert fast[0]["out_lanes"] == 4 and fast[0]["out_pixel_rate_mpx_s"] == 210.0
    # line bubbles count: 0.8 pixel per clock at 60 MHz is 48 Mpx/s per lane, short of 52.5
    assert not keep_up(60e6, 0.8, cameras=cams, built=(256, 256, 1))[0]["keeps_up"]


def test_sim3_frame_buffer_on_chip_for_the_roi_only():
    roi, full = task_cameras("sim3")
    build = {"placed": {"DP16KD": {"used": 40, "available": 208}}}

    def where(cam, b):
        return frame_buffer_place(cam, 3, 8, b)[1]

    assert where(roi, build).startswith("on chip: fg_framebuf3, 64 DP16KD (168 free")  # 2 x 256x256 x 8 bit
    assert where(full, build).startswith("external memory: 4096 DP16KD")
    crowded = {"placed": {"DP16KD": {"used": 150, "available": 208}}}
    assert where(roi, crowded).startswith("external memory")
    assert "budgeted" in where(roi, None)  # no build: the fixed budget
    # the framestore section answers from the same build: a crowded chip sends the ROI to external memory too
    rows = frame_store_rows((roi,), 3, 8, build=crowded)
    assert len(rows) > 1 and all("on chip" not in r["memory"] for r in rows)


def test_camera_modes_name_their_sensor_preset():
    """One catalog: every camera mode's sensor has a noise preset, and a preset's own full frame and rate
    is one of the modes (the two lists cannot drift apart)."""
    from fluorogate.sim.camera import CAMERA_MODES, PRESETS

    assert all(mode.preset in PRESETS for mode in CAMERA_MODES.values())
    for name in ("scmos", "emccd"):
        p = PRESETS[name]
        assert any(
            (m.width, m.height, m.fps, m.preset) == (p.width, p.height, p.fps, name)
            for m in CAMERA_MODES.values()
        )


def test_a_four_lane_build_is_judged_at_four_lanes(tmp_path):
    """A build folder records the design it built (IR digest, RtlConfig): the bench reads the lanes it was
    generated with, and a routed 4-lane build at 105 MHz keeps up with the ORCA-Flash4.0 V3 at full frame
    (419 Mpx/s); one lane at the same Fmax only within the arithmetic."""
    from rtl_graphs import residual_denoiser

    from fluorogate.bench.fpga import built_design
    from fluorogate.firmware.build import design_identity
    from fluorogate.firmware.generate import RtlConfig, generate

    graph = residual_denoiser()
    design = design_identity(generate(graph, RtlConfig(width=32, height=32, lanes=4)).report)
    from fluorogate.firmware.reports import BuildReport

    report = BuildReport(
        board="ulx3s-85f",
        part="LFE5U-85F",
        core=design["top"],
        top="board_selftest",
        requested_mhz=105,
        pll_mhz=105,
        resources={},
        core_cells={},
        headline=[],
        clocks=[],
        critical_paths={},
        step_seconds={},
        design=design,
    )
    (tmp_path / "build_report.json").write_text(report.model_dump_json())
    assert built_design(tmp_path, graph, [16, 32]) == {"size": 32, "lanes": 4}
    with pytest.raises(UserError, match="not one of 16"):
        built_design(tmp_path, graph, [16])
    orca = FULL_FRAME_MODES[0]
    built4 = keep_up(105e6, 1.0, cameras=(orca,), built=(2048, 2048, 4))[0]
    assert built4["keeps_up"] and built4["lanes_needed"] == 4
    built1 = keep_up(105e6, 1.0, cameras=(orca,), built=(2048, 2048, 1))[0]
    assert not built1["keeps_up"] and built1["within_max_lanes"]


def test_a_board_clocked_below_the_cores_fmax_is_named_in_the_verdict():
    """The Tang Mega 138K Pro's 4-lane build routes at 152.8 MHz, but its board top runs the core from the
    50 MHz oscillator (nextpnr places no PLL on its GW5AST-138C): the core keeps up with the ORCA-Flash4.0
    V3, the board as built (200 Mpx/s) does not, and the verdict says so; a PLL at 110 MHz would carry it."""
    from fluorogate.bench.fpga import _at_board_clock

    orca, cxp = FULL_FRAME_MODES[0], FULL_FRAME_MODES[1]

    def judged(board_clock):
        rows = keep_up(152.81e6, 1.0, cameras=(orca, cxp), built=(2048, 2048, 4))
        _at_board_clock(rows, (orca, cxp), {"fmax_mhz": 152.81, "board_clock_mhz": board_clock, "lanes": 4})
        return rows

    slow = judged(50.0)
    assert all(r["keeps_up"] and r["keeps_up_at_board_clock"] is False for r in slow)
    assert "not at the board's own 50 MHz clock (200 Mpx/s as built)" in slow[0]["verdict"]
    fast = judged(110.0)
    assert fast[0]["keeps_up_at_board_clock"] and fast[0]["verdict"] == "yes: the built 4 lane(s) carry it"
    assert all("keeps_up_at_board_clock" not in r for r in judged(152.81))
