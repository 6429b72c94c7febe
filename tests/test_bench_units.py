"""Unit tests of the benchmark's arithmetic and report formatting."""

from fluorogate.bench.keep_up import FULL_FRAME_MODES, keep_up
from fluorogate.bench.machine import best_time, machine_state
from fluorogate.bench.report import markdown_table


def test_camera_pixel_rates_match_the_data_sheets():
    rates = [round(c.pixel_rate / 1e6) for c in FULL_FRAME_MODES]
    assert rates == [419, 310, 915]


def test_keep_up_counts_lanes_in_powers_of_two():
    rows = keep_up(fmax_hz=125e6, pixels_per_clock=1.0, max_lanes=4)
    assert [r["lanes_needed"] for r in rows] == [4, 4, 8]
    assert [r["within_max_lanes"] for r in rows] == [True, True, False]
    assert "keeps_up" not in rows[0]  # no build: arithmetic only
    # one line bubble in 2048 pixels barely matters; halving the clock doubles the lanes
    assert [r["lanes_needed"] for r in keep_up(62.5e6, 2047 / 2048, max_lanes=8)] == [8, 8, 16]


def test_markdown_table_formats_floats_and_missing_cells():
    text = markdown_table([{"a": 1.23456, "b": "x"}, {"a": 2}])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1.235 | x |", "| 2 |  |"]


def test_machine_state_and_timer():
    state = machine_state()
    assert state["cpu_count"] >= 1 and len(state["load_avg_1_5_15"]) == 3
    assert 0 < best_time(lambda: sum(range(1000)), repeats=2, min_time_s=0.01) < 0.01
