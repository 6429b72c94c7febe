"""The sim3 frame store: bytes per output image, sustained bandwidth by hand, verdicts per camera mode."""

from __future__ import annotations

import pytest

from fluorogate.bench.framestore import DDR3_X16, SDRAM_ULX3S, frame_store, frame_store_rows, on_chip_blocks
from fluorogate.bench.keep_up import CAMERA_MODES, CameraMode, task_cameras

ORCA = CAMERA_MODES["ORCA-Flash4.0 V3 (2048x2048 @ 100 fps)"]


def test_sdram_bandwidth_by_hand():
    assert SDRAM_ULX3S.peak_bytes_s == pytest.approx(266e6)
    data_ns = 256 / 133e6 * 1e9  # 512-byte chunk = 256 16-bit words, one per clock
    switch_ns = 20 + 20 + 4 / 133e-3  # tRP + tRCD + (CL 3 + 1 turnaround) cycles
    assert SDRAM_ULX3S.burst_efficiency == pytest.approx(data_ns / (data_ns + switch_ns))
    assert SDRAM_ULX3S.refresh_share == pytest.approx(63 * 8192 / 64e6)
    assert DDR3_X16.peak_bytes_s == pytest.approx(1.6e9)


def test_full_frame_traffic_and_verdicts():
    sdram = frame_store(ORCA, SDRAM_ULX3S)
    frame = 2048 * 2048  # 8-bit codes: one byte per pixel
    assert sdram["written_per_output_mb"] == sdram["read_per_output_mb"] == round(2 * frame / 1e6, 3)
    assert sdram["read_peak_mb_s"] == round(2 * frame * 100 / 1e6, 1)  # both stored frames during the third
    assert sdram["average_mb_s"] == round(4 * frame * 100 / 3 / 1e6, 1)
    assert not sdram["suffices"] and sdram["utilisation"] > 3
    assert frame_store(CameraMode("slow", 2048, 2048, sdram["max_camera_fps"] * 0.99, "scmos"), SDRAM_ULX3S)[
        "suffices"
    ]
    assert frame_store(ORCA, DDR3_X16)["suffices"]
    adu = frame_store(ORCA, DDR3_X16, bits=16)  # raw 16-bit ADU stored: twice the bytes
    assert adu["read_peak_mb_s"] == round(4 * frame * 100 / 1e6, 1)
    assert not adu["suffices"]
    huge = frame_store(CameraMode("huge", 8192, 8192, 1.0, "scmos"), SDRAM_ULX3S, bits=16)
    assert not huge["suffices"] and "MiB" in huge["verdict"]


def test_sim3_cameras_on_chip_where_they_fit():
    assert on_chip_blocks(256, 256, 3, 8) == 64  # what yosys maps fg_framebuf3 (256x256, 8 bit) to
    rows = frame_store_rows(task_cameras("sim3"), frames=3)
    roi = [r for r in rows if "256x256" in r["camera"]]
    assert len(roi) == 1 and roi[0]["memory"].startswith("on chip") and roi[0]["suffices"]
    full = {r["memory"]: r["suffices"] for r in rows if "2048x2048" in r["camera"]}
    assert full == {SDRAM_ULX3S.name: False, DDR3_X16.name: True}


@pytest.mark.parametrize("task", ["sim3", "denoise"])
def test_bench_section_reports_the_store_of_a_multi_frame_task(tmp_path, task):
    from rtl_graphs import camera_input, graph, requant

    from fluorogate.bench.render import bench_markdown
    from fluorogate.bench.run import BenchConfig, BenchContext, section_framestore
    from fluorogate.models import ModelConfig
    from fluorogate.models.config import RunConfig, TrainConfig
    from fluorogate.models.run_folder import save_config
    from fluorogate.quantize.camera import choose_conversion
    from fluorogate.sim.camera import get_preset

    save_config(
        tmp_path,
        RunConfig(
            model=ModelConfig(task=task), train=TrainConfig(), camera=choose_conversion(get_preset("scmos"))
        ),
    )
    g = graph([{**camera_input(), "channels": 3}, requant("y", "x")], "y")
    sec = section_framestore(BenchContext(tmp_path, g, BenchConfig(), tmp_path))
    if task == "denoise":
        assert set(sec) == {"skipped"}
        return
    assert (sec["frames"], sec["bits_stored"]) == (3, 8)
    assert sec["rows"] == frame_store_rows(task_cameras("sim3"), 3, 8)
    machine = {
        "timestamp_utc": "t",
        "cpu_count": 2,
        "cpu_model": "cpu",
        "load_avg_1_5_15": [0, 0, 0],
        "torch_threads": 1,
    }
    md = bench_markdown(
        {
            "ir": "t",
            "rounding": "half_even",
            "run": str(tmp_path),
            "sections": {"framestore": sec},
            "section_seconds": {"framestore": 0.0},
            "machine_start": machine,
            "machine_end": machine,
        }
    )
    assert "## Frame store" in md and DDR3_X16.name in md and "needs 3.29x" in md
