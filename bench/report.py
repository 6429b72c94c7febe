"""Benchmark reports: one JSON for machines, one Markdown for people, both from the same report.

`BenchReport` is what `run_bench` returns and `bench.json` holds; the sections other code reads (the
demo, the CLI) are typed (`FpgaSection`), so a renamed field fails where it is read, not as a silent
missing key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from fluorogate.outputs import write_text_atomic


class FpgaSimulation(BaseModel):
    """The small frame simulated to check the cycle model (`bench.fpga.simulate_small_frame`)."""

    frame: list[int]
    frames: int
    lanes: int
    simulator: str
    bit_exact: bool
    pixels_compared: int
    mismatches: int
    latency_cycles_measured: int | None
    latency_cycles_model: int | None
    frame_cycles_measured: float | None
    frame_cycles_model: int
    sim_wall_s: float


class SizeRow(BaseModel):
    """One frame size: cycles from the cycle model; with a routed Fmax, time, rate and frames per second."""

    size: int
    frame_cycles: int
    latency_cycles: int | None
    us_per_frame: float | None = None
    latency_us: float | None = None
    mpx_per_s: float | None = None
    max_fps: float | None = None
    out_mpx_per_s: float | None = None
    out_lanes: int | None = None


class CameraVerdict(BaseModel):
    """One camera mode against the routed build (`bench.keep_up.keep_up`)."""

    model_config = ConfigDict(extra="allow")  # out rates (sr2x), frame buffer place (sim3)

    camera: str
    frame: str
    pixel_rate_mpx_s: float
    lanes_needed: float
    within_max_lanes: bool
    keeps_up: bool | None = None  # None: no routed build to judge by
    verdict: str | None = None


class FpgaSection(BaseModel):
    """The open RTL back end's section (`bench.fpga.fpga_rtl`)."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    task: str = ""  # the run's task, whose camera modes judged the build ('imported': the full-frame modes)
    simulation: FpgaSimulation
    cycle_model_confirmed: bool
    cycle_model: str
    design: str
    error: str | None = None
    build: dict[str, Any] = {}  # `bench.fpga.read_build`'s fields, or {"skipped": why}
    sizes: list[SizeRow] = []
    cameras: list[CameraVerdict] = []

    @property
    def fmax_mhz(self) -> float | None:
        return self.build.get("fmax_mhz")

    def size(self, size: int) -> SizeRow | None:
        return next((r for r in self.sizes if r.size == size), None)


class BenchReport(BaseModel):
    """`fluorogate bench`'s report: the run, the config, the machine's load before and after, the sections."""

    # NaN stays NaN (a PSNR of a constant frame), as json.dumps writes it, not null
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    run: str
    kind: str
    ir: str
    rounding: str
    config: dict[str, Any]
    machine_start: dict[str, Any]
    machine_end: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    section_seconds: dict[str, float] = {}
    sweep: dict[str, Any] | None = None

    @property
    def fpga(self) -> FpgaSection | None:
        """The FPGA section, typed; None when it was not run or stopped on bad input."""
        sec = self.sections.get("fpga")
        return None if sec is None or set(sec) == {"error"} else FpgaSection.model_validate(sec)


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A GitHub Markdown table of `rows` (dicts), columns in first-seen order unless given."""
    if not rows:
        return "_(no rows)_\n"
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_report(
    report: dict | BaseModel, markdown: str, out_dir: Path, stem: str = "bench", force: bool = True
) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` into `out_dir` atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report.model_dump(mode="json") if isinstance(report, BaseModel) else report
    json_path = write_text_atomic(out_dir / f"{stem}.json", json.dumps(data, indent=2, default=str), force)
    md_path = write_text_atomic(out_dir / f"{stem}.md", markdown, force)
    return json_path, md_path
