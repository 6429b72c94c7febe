"""The vendor step: run Vitis HLS / Vivado HLS on `export_ip.tcl`, and parse its synthesis report.

`parse_csynth_xml` reads the `<top>_csynth.xml` that Vitis HLS and Vivado HLS write under
`<prj>/solution1/syn/report/`, using the element names of the documented report format
(`PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod`,
`PerformanceEstimates/SummaryOfOverallLatency/{Best,Worst}-caseLatency, Interval-min`,
`AreaEstimates/Resources/{BRAM_18K,DSP,FF,LUT,URAM}`, `AreaEstimates/AvailableResources/...`). It is
tested on a report text written from that format, NOT on real tool output (no vendor tool here).
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from fluorogate.errors import MissingToolError, UserError
from fluorogate.hls.hls4ml.config import HlsBuildConfig
from fluorogate.hls.hls4ml.wrapper import SYNTH_TOOL

RESOURCES = ("BRAM_18K", "DSP", "FF", "LUT", "URAM")


def require_tool(backend: str) -> str:
    """The HLS program for `backend`, or `MissingToolError` naming it."""
    program = SYNTH_TOOL[backend]
    path = shutil.which(program)
    if path is None:
        raise MissingToolError(program, f"synthesize the {backend} HLS project (--synth)")
    return path


def _int(root: ET.Element, path: str) -> int | None:
    node = root.find(path)
    if node is None or node.text is None:
        return None
    try:
        return int(node.text.strip())
    except ValueError:
        return None  # 'undef' for unbounded latency


def parse_csynth_xml(text: str) -> dict:
    """Timing, latency and resources of a csynth.xml report (see module docstring)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise UserError(f"csynth report is not valid XML: {exc}") from exc
    perf, area = "PerformanceEstimates", "AreaEstimates"
    period = root.find(f"{perf}/SummaryOfTimingAnalysis/EstimatedClockPeriod")
    if period is None:
        raise UserError(
            "csynth report has no PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"
        )
    lat = f"{perf}/SummaryOfOverallLatency"
    return {
        "estimated_clock_ns": float(period.text),
        "target_clock_ns": float(root.findtext("UserAssignments/TargetClockPeriod", "nan")),
        "part": root.findtext("UserAssignments/Part", ""),
        "latency_best_cycles": _int(root, f"{lat}/Best-caseLatency"),
        "latency_worst_cycles": _int(root, f"{lat}/Worst-caseLatency"),
        "interval_min_cycles": _int(root, f"{lat}/Interval-min"),
        "resources": {r: _int(root, f"{area}/Resources/{r}") for r in RESOURCES},
        "available": {r: _int(root, f"{area}/AvailableResources/{r}") for r in RESOURCES},
    }


def run_synthesis(project: str | Path, cfg: HlsBuildConfig) -> dict:
    """Run the HLS tool on export_ip.tcl in `project`; returns the parsed report (also saved as JSON)."""
    import json

    project = Path(project)
    tool = require_tool(cfg.backend)
    done = subprocess.run([tool, "-f", "export_ip.tcl"], cwd=project, capture_output=True, text=True)
    (project / "synth.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise UserError(f"{tool} failed (exit {done.returncode}); see {project / 'synth.log'}")
    top = f"{cfg.project_name}_axis"
    xml = project / f"{top}_prj" / "solution1" / "syn" / "report" / f"{top}_csynth.xml"
    if not xml.is_file():
        raise UserError(f"{xml}: synthesis report missing after {tool} ran")
    report = parse_csynth_xml(xml.read_text())
    (project / "synth_report.json").write_text(json.dumps(report, indent=1))
    return report
