"""Reading what yosys and nextpnr say about a build: resources, Fmax per clock, the critical path.

Sources, and why two of them:
- nextpnr's `--report` JSON: placed utilisation per bel type (`TRELLIS_FF`, `DP16KD`, `MULT18X18D`,
  `TRELLIS_COMB`, ...) with what the device has, the achieved and constrained frequency per clock, and
  the critical paths. It merges LUT4s and carry cells into `TRELLIS_COMB` (a CCU2C takes two), so
- yosys `stat -json` after `synth_ecp5` gives the LUT4 and CCU2C counts (they equal nextpnr's log lines
  "logic LUTs" and "carry LUTs"/2: packing does not change them).
A clock that misses its constraint is a result, not a crash: `BuildReport.timing_met` says so and the
report shows the critical path (with the Verilog source lines nextpnr attributes to each net).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from fluorogate.errors import UserError

LABELS = {"TRELLIS_FF": "FF", "TRELLIS_COMB": "LUT4+carry slots"}


class ResourceUse(BaseModel):
    used: int
    available: int | None = None  # None for post-synthesis counts (no device limit attached)

    @property
    def percent(self) -> float | None:
        return 100.0 * self.used / self.available if self.available else None


class ClockTiming(BaseModel):
    net: str  # nextpnr's name, e.g. '$glbnet$clk$TRELLIS_IO_IN' (ECP5), 'clk_$glb_clk' (iCE40)
    achieved_mhz: float
    constraint_mhz: float

    @property
    def name(self) -> str:
        """The clock net without nextpnr's global-buffer and IO decorations."""
        return re.sub(r"(\$TRELLIS_IO_IN|_\$glb_clk)$", "", self.net.removeprefix("$glbnet$"))

    @property
    def met(self) -> bool:
        return self.achieved_mhz >= self.constraint_mhz


class PathStep(BaseModel):
    kind: str  # 'clk-to-q' | 'logic' | 'routing' | 'setup'
    delay_ns: float
    cell: str
    net: str | None = None
    sources: list[str] = []


class CriticalPath(BaseModel):
    start: str
    end: str
    steps: list[PathStep]

    @property
    def total_ns(self) -> float:
        return sum(s.delay_ns for s in self.steps)

    @property
    def logic_ns(self) -> float:
        return sum(s.delay_ns for s in self.steps if s.kind != "routing")

    @property
    def logic_levels(self) -> int:
        return sum(s.kind == "logic" for s in self.steps)

    def user_sources(self) -> list[str]:
        """The design's own source lines along the path (not yosys' techmap library), in path order."""
        seen: list[str] = []
        for step in self.steps:
            for src in step.sources:
                if not src.startswith("/share/") and src not in seen:
                    seen.append(src)
        return seen


class NextpnrReport(BaseModel):
    resources: dict[str, ResourceUse]
    clocks: list[ClockTiming]
    critical_paths: dict[str, CriticalPath]  # clock net -> its worst register-to-register path


def parse_nextpnr_report(path: Path) -> NextpnrReport:
    """Parse nextpnr's `--report` JSON; `UserError` naming the file if it is not one."""
    try:
        raw = json.loads(Path(path).read_text())
        resources = {
            k: ResourceUse(used=v["used"], available=v["available"]) for k, v in raw["utilization"].items()
        }
        clocks = [
            ClockTiming(net=k, achieved_mhz=v["achieved"], constraint_mhz=v["constraint"])
            for k, v in raw.get("fmax", {}).items()
        ]
        paths: dict[str, CriticalPath] = {}
        for p in raw.get("critical_paths", []):
            start, end = p["from"].removeprefix("posedge "), p["to"].removeprefix("posedge ")
            if start != end or start == "<async>":
                continue  # cross-domain and IO paths have no Fmax of their own
            steps = [
                PathStep(
                    kind=s["type"],
                    delay_ns=s["delay"],
                    cell=s["to"]["cell"],
                    net=s.get("net"),
                    sources=s.get("sources", []),
                )
                for s in p["path"]
            ]
            paths[start] = CriticalPath(
                start=p["path"][0]["from"]["cell"], end=p["path"][-1]["to"]["cell"], steps=steps
            )
    except FileNotFoundError:
        raise UserError(f"{path}: no nextpnr report (did place-and-route run?)") from None
    except (json.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
        raise UserError(f"{path}: not a nextpnr --report JSON file ({type(exc).__name__}: {exc})") from None
    return NextpnrReport(resources=resources, clocks=clocks, critical_paths=paths)


def parse_yosys_stat(path: Path) -> dict[str, dict[str, int]]:
    """Cell counts by type from yosys `stat -json`: per module (name without yosys' backslash), and the
    whole hierarchy under the key 'design'. The board top keeps the core as its own module
    (keep_hierarchy), so the core's own cost is read here without the self-test logic around it."""
    try:
        raw = json.loads(Path(path).read_text())
        out = {name.removeprefix("\\"): m["num_cells_by_type"] for name, m in raw["modules"].items()}
        out["design"] = raw["design"]["num_cells_by_type"]
        return {
            name: {k: int(v) for k, v in cells.items() if not k.startswith("$")}
            for name, cells in out.items()
        }
    except FileNotFoundError:
        raise UserError(f"{path}: no yosys statistics (did synthesis run?)") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: not yosys `stat -json` output ({type(exc).__name__}: {exc})") from None


def core_cells(cells: dict[str, int], bel_of_cell: dict[str, str]) -> dict[str, int]:
    """yosys cell counts under nextpnr's bel names: types that map to one bel (Gowin's LUT1-LUT4, its
    flip-flop variants) are summed."""
    out: dict[str, int] = {}
    for kind, n in cells.items():
        bel = bel_of_cell.get(kind, kind)
        out[bel] = out.get(bel, 0) + n
    return out


def sources_digest(files: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 over (file name, contents) pairs in name order: the identity of a design's sources, so that
    a build folder reused later (`fluorogate bench --build-dir`) can be checked against the design it
    is said to measure."""
    h = hashlib.sha256()
    for name, data in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


class BuildReport(BaseModel):
    """Everything a build measured, written as build_report.json and build_report.md."""

    board: str
    part: str
    core: str
    top: str
    requested_mhz: float
    pll_mhz: float
    resources: dict[str, ResourceUse]  # whole design; headline names LUT4, TRELLIS_FF, CCU2C, DP16KD, ...
    core_cells: dict[str, int]  # the core alone, after synthesis (no board top, PLL, self-test)
    headline: list[str]  # the family's headline resources (e.g. LUT4 TRELLIS_FF CCU2C DP16KD MULT18X18D)
    clocks: list[ClockTiming]
    critical_paths: dict[str, CriticalPath]
    step_seconds: dict[str, float]
    bitstream: str | None = None  # file name in the build folder
    sources_sha256: str | None = None  # the core's sources (`sources_digest`): which design this build is of
    design: dict = Field(
        default_factory=dict
    )  # a generated core's identity: IR digest, RtlConfig, frame, lanes

    @property
    def timing_met(self) -> bool:
        return bool(self.clocks) and all(c.met for c in self.clocks)

    def summary(self) -> str:
        """One line for the terminal."""
        cells = self.core_cells or {k: v.used for k, v in self.resources.items()}
        res = ", ".join(f"{LABELS.get(k, k)} {cells.get(k, 0)}" for k in self.headline)
        clk = ", ".join(
            f"{c.name} {c.achieved_mhz:.1f} MHz ({'met' if c.met else 'FAILED'} at {c.constraint_mhz:g})"
            for c in self.clocks
        )
        scope = "core" if self.core_cells else "whole design"
        return f"{self.core} on {self.board}: {scope} {res}; Fmax {clk}"


def combine_resources(
    pnr: NextpnrReport, cells: dict[str, int], headline: tuple[str, ...], from_yosys: tuple[str, ...]
) -> dict[str, ResourceUse]:
    """Headline resources first (`from_yosys` ones from yosys' counts, the rest placed), then the other bels
    nextpnr used. ECP5: headline LUT4 TRELLIS_FF CCU2C DP16KD MULT18X18D, LUT4 and CCU2C from yosys."""
    out: dict[str, ResourceUse] = {}
    for name in headline:
        if name in from_yosys:
            out[name] = ResourceUse(used=cells.get(name, 0))
        elif name in pnr.resources:
            out[name] = pnr.resources[name]
    for name, use in pnr.resources.items():
        if name not in out and use.used:
            out[name] = use
    return out


def report_markdown(rep: BuildReport) -> str:
    """The human-readable build report."""
    lines = [
        f"# Bitstream build: {rep.core} on {rep.board}",
        "",
        f"Part {rep.part}; board top `{rep.top}`; requested {rep.requested_mhz:g} MHz, PLL gives "
        f"{rep.pll_mhz:g} MHz. Timing: **{'met' if rep.timing_met else 'NOT MET'}**.",
        "",
        "## Resources",
        "",
        "| resource | core alone | whole design | available | % |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, use in rep.resources.items():
        core = rep.core_cells.get(name, "")
        avail = "" if use.available is None else str(use.available)
        pct = "" if use.percent is None else f"{use.percent:.1f}"
        lines.append(f"| {LABELS.get(name, name)} | {core} | {use.used} | {avail} | {pct} |")
    lines += [
        "",
        "Whole design: rows without an 'available' count are yosys' post-synthesis cells, the others "
        "nextpnr's placed bels. Core alone: yosys' cells of the core's module (its own hierarchy level).",
        "",
        "## Clocks",
        "",
        "| clock | achieved MHz | constraint MHz | met |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {c.name} | {c.achieved_mhz:.2f} | {c.constraint_mhz:g} | {'yes' if c.met else 'NO'} |"
        for c in rep.clocks
    ]
    for net, path in rep.critical_paths.items():
        name = ClockTiming(net=net, achieved_mhz=0, constraint_mhz=0).name
        lines += [
            "",
            f"### Critical path, clock {name}",
            "",
            f"{path.start} -> {path.end}: {path.total_ns:.2f} ns ({path.logic_ns:.2f} ns cells, "
            f"{path.total_ns - path.logic_ns:.2f} ns routing, {path.logic_levels} logic levels).",
            "",
        ]
        src = path.user_sources()
        if src:
            lines.append("Design source lines on it: " + ", ".join(f"`{s}`" for s in src[:12]))
    lines += ["", "## Step wall times (s)", "", "| step | s |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in rep.step_seconds.items()]
    if rep.bitstream:
        lines += [
            "",
            f"Bitstream: `{rep.bitstream}`"
            + (
                ""
                if rep.timing_met
                else " (built, but timing is not met: do not expect it to work at the requested clock)"
            ),
        ]
    return "\n".join(lines) + "\n"
