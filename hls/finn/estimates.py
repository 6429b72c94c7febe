"""FINN's own resource and cycle estimates, as one flat dict beside the open RTL back end's figures.

These are FINN's analytical models (`res_estimation`, `exp_cycles_per_layer`, `dataflow_performance`)
after folding, not synthesis results: LUT and BRAM18 per layer summed, the slowest layer's cycles per
frame, and the frame rate that gives at the build's clock.
"""

from __future__ import annotations

import json
from pathlib import Path

from fluorogate.errors import UserError


def read_estimates(report_dir: str | Path, clock_ns: float) -> dict:
    """FINN's estimate reports in `report_dir` -> {'lut', 'bram18', 'uram', 'dsp', 'max_cycles', ...}."""
    report_dir = Path(report_dir)
    try:
        resources = json.loads((report_dir / "estimate_layer_resources.json").read_text())["total"]
        perf = json.loads((report_dir / "estimate_network_performance.json").read_text())
    except FileNotFoundError as exc:
        raise UserError(f"{report_dir}: no FINN estimate reports ({exc.filename} missing)") from exc
    return {
        "lut": int(resources.get("LUT", 0)),
        "bram18": int(resources.get("BRAM_18K", 0)),
        "uram": int(resources.get("URAM", 0)),
        "dsp": int(resources.get("DSP", 0)),
        "max_cycles": int(perf["max_cycles"]),
        "slowest_layer": perf["max_cycles_node_name"],
        "latency_cycles": int(perf["critical_path_cycles"]),
        "clock_mhz": 1e3 / clock_ns,
        "fps": 1e9 / clock_ns / int(perf["max_cycles"]),
    }
