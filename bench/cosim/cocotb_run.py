"""pytest (or the CLI) -> a generated design streamed with beats; every output pixel checked.

`run_stream_test` is the one entry point the tests use: it takes the stimulus (a `BeatStream` of
camera ADU or input codes), the consumer's tready pattern and the expected frames, runs a bench and
returns what it measured (`StreamResult`). Icarus is the default simulator; Verilator plugs in
through `simulator`.

Two drivers, cycle-for-cycle the same protocol and the same checks (`check.py`;
tests/test_cosim_player.py proves they agree): `driver='hdl'` (default) wraps the design in the HDL
frame player (`tb/fg_frame_player.v`, run stand-alone by `frame_sim`: no VPI, no Python per cycle);
`driver='python'` is the cocotb protocol bench (`tb/stream_tb.py`), which drives every cycle from
Python (~150 cycles/s at best, whatever the simulator). Builds are cached by content (`build_cache`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluorogate.bench.cosim.simulators import VERILATOR_LINT, get_runner, get_simulator, simulator_env
from fluorogate.errors import UserError
from fluorogate.sim.stream import BeatStream

TB_MODULE = "fluorogate.bench.cosim.tb.stream_tb"
LOCS_TB_MODULE = "fluorogate.bench.cosim.tb.locs_tb"
DRIVERS = ("hdl", "python")


@dataclass
class StreamResult:
    """What the bench saw: per-pixel cycle stamps, flags, counters, and the wall time it took."""

    cycles: int
    out_beats: int
    in_cycles: list[int]
    out_cycles: list[int]
    err_line_length: int
    err_missing_sof: int
    frames_in: int
    frames_out: int
    mismatches: list[dict]
    flag_errors: int
    wall_s: float
    ok: bool
    build_s: float = 0.0  # the simulator build's wall time (0 when the cache had it)
    build_reused: bool = False

    @property
    def latency(self) -> int:
        """Cycles from the first accepted input beat to the first output beat."""
        return self.out_cycles[0] - self.in_cycles[0]

    def frame_period(self, beats_per_frame: int) -> float:
        """Mean cycles between the last output beats of consecutive frames (steady state)."""
        ends = self.out_cycles[beats_per_frame - 1 :: beats_per_frame]
        return float(np.diff(ends).mean()) if len(ends) > 1 else float("nan")


def run_stream_test(
    sources: list[Path],
    top: str,
    work: Path,
    stream: BeatStream,
    expected: np.ndarray,
    in_bits: int,
    out_bits: int,
    out_signed: bool,
    ready: np.ndarray | None = None,
    check: np.ndarray | None = None,
    simulator: str = "icarus",
    max_cycles: int | None = None,
    out_lanes: int | None = None,
    driver: str = "hdl",
) -> StreamResult:
    """Simulate `top` on `stream`; `expected` is (frames, C, H, W); `check` masks frames not compared.

    `in_bits` is one input pixel's width (lane l of tdata is bits [l*in_bits, (l+1)*in_bits), two's
    complement); the stream's lanes are the design's input lanes; `out_lanes` (design.json `out_lanes`,
    default: the input's) the pixels per output beat, 4x the input's after an upsample. `driver`: 'hdl'
    (the Verilog player, fast) or 'python' (cocotb drives every cycle); `wall_s` is the simulation alone.
    """
    if driver not in DRIVERS:
        raise UserError(f"unknown stream bench driver {driver!r}; choose one of {', '.join(DRIVERS)}")
    get_simulator(simulator)  # an unknown simulator fails before any file is written
    n_frames = expected.shape[0]
    out_lanes = out_lanes or stream.lanes
    ready = np.ones(1, bool) if ready is None else ready
    check = np.ones(n_frames, bool) if check is None else check
    if driver == "hdl":
        return _run_player(
            sources,
            top,
            Path(work).resolve(),
            stream,
            expected,
            in_bits,
            out_bits,
            out_signed,
            ready,
            check,
            simulator,
            out_lanes,
        )
    work, spec, result_path = _work(work)
    max_cycles = max_cycles or 4 * len(stream) + 64 * expected[0].size + 10_000
    np.savez(
        spec,
        in_data=stream.data & ((1 << in_bits) - 1),
        in_bits=in_bits,
        in_valid=stream.valid,
        in_user=stream.user,
        in_last=stream.last,
        out_lanes=out_lanes,
        out_ready=ready,
        expected=expected,
        check=check,
        out_bits=out_bits,
        out_signed=out_signed,
        max_cycles=max_cycles,
    )
    return _run_bench(
        simulator, [Path(s).resolve() for s in sources], top, work, TB_MODULE, spec, result_path, public=True
    )


def _run_player(
    sources: list[Path],
    top: str,
    work: Path,
    stream: BeatStream,
    expected: np.ndarray,
    in_bits: int,
    out_bits: int,
    out_signed: bool,
    ready: np.ndarray,
    check: np.ndarray,
    simulator: str,
    out_lanes: int,
) -> StreamResult:
    """`run_stream_test` with the HDL frame player: the same checks as the cocotb bench, on numpy."""
    from fluorogate.bench.cosim.check import beats_to_frame, flag_errors, frame_mismatches
    from fluorogate.bench.cosim.frame_sim import build_player, play, write_stimulus
    from fluorogate.bench.cosim.player import OutLog, PlayerPorts, unpack_fields

    n_frames, channels, height, width = expected.shape
    frame_beats, line_beats = height * width // out_lanes, width // out_lanes
    ports = PlayerPorts(top, stream.lanes, in_bits, out_lanes * channels * out_bits)
    stimulus = write_stimulus(work, [stream], ready, ports)
    build = build_player(sources, ports, simulator, work)
    played = play(build, stimulus, ports, work, n_frames * frame_beats, frame_beats, line_beats)
    log = OutLog(work / "fg_out_log.bin", ports)
    out = log.read()
    log.close()
    pixels = unpack_fields(out.words, out_lanes * channels, out_bits, out_signed).reshape(-1, channels)
    mismatches = []
    for f in range(min(n_frames, len(out) // frame_beats)):
        if check[f]:
            got = beats_to_frame(
                pixels[f * height * width : (f + 1) * height * width], channels, height, width
            )
            mismatches += frame_mismatches(f, got, expected[f])
    st = played.status
    flags = flag_errors(out.user, out.last, frame_beats, line_beats)
    ok = (
        len(out) == n_frames * frame_beats
        and not mismatches
        and flags == 0
        and not st.x_beats
        and not st.stalled
    )
    return StreamResult(
        cycles=st.cycles,
        out_beats=len(out),
        in_cycles=played.in_cycles.tolist(),
        out_cycles=out.cycles.tolist(),
        err_line_length=st.err_line_length,
        err_missing_sof=st.err_missing_sof,
        frames_in=st.frames_in,
        frames_out=st.frames_out,
        mismatches=mismatches,
        flag_errors=flags,
        wall_s=st.wall_s,
        ok=ok,
        build_s=0.0 if played.build.reused else played.build.build_s,
        build_reused=played.build.reused,
    )


def _work(work: str | Path) -> tuple[Path, Path, Path]:
    """The bench's folder (created), its stimulus file and its result file (removed)."""
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    result_path = work / "result.json"
    result_path.unlink(missing_ok=True)
    return work, work / "stimulus.npz", result_path


def run_locs_test(
    sources: list[Path],
    top: str,
    work: str | Path,
    adu: np.ndarray,
    maps: np.ndarray,
    peaks,
    valid_prob: float = 1.0,
    ready_prob: float = 1.0,
    simulator: str = "icarus",
    seed: int = 0,
) -> StreamResult:
    """Simulate a design with the peak finder (`RtlConfig(peaks=...)`) on camera frames `adu` (F, H, W),
    one lane, valid with probability `valid_prob`, tready with `ready_prob`; the bench
    (`fluorogate.bench.cosim.tb.locs_tb`) checks the localization words against `maps` (the reference's output
    codes, (F, H', W')) through `quantize.peaks.compare_stream`, tuser, the counters and `loc_dropped`
    == 0. `out_beats` counts the words, `out_cycles` their cycles; a failed check is in `mismatches`."""
    work, spec, result_path = _work(work)
    np.savez(
        spec,
        adu=adu,
        maps=maps,
        config=peaks.model_dump_json(),
        p_valid=valid_prob,
        p_ready=ready_prob,
        seed=seed,
    )
    return _run_bench(
        simulator,
        [Path(s).resolve() for s in sources],
        top,
        work,
        LOCS_TB_MODULE,
        spec,
        result_path,
        public=False,
    )


def _run_bench(
    simulator: str,
    sources: list[Path],
    sim_top: str,
    work: Path,
    tb_module: str,
    spec: Path,
    result_path: Path,
    public: bool,
) -> StreamResult:
    """Build (cached) and run cocotb bench `tb_module` on `sim_top`; the bench reads `spec` and writes
    `result_path` (StreamResult's fields)."""
    from cocotb_tools.check_results import get_results

    sim_name, sim_env = get_simulator(simulator)
    runner = get_runner(sim_name, public=public)
    # No pytest assertion rewriting inside the simulator: it re-parses every module the bench imports
    # (numpy, pydantic, ...) on each start, ~1.5 CPU-s of a ~2.2 s start-up; the benches' asserts name
    # what failed themselves.
    env = {
        "FG_TB_SPEC": str(spec),
        "FG_TB_RESULT": str(result_path),
        "COCOTB_LOG_LEVEL": "WARNING",
        "COCOTB_REWRITE_ASSERTION_FILES": "",
    }
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)  # we check the results ourselves, below
    try:
        with simulator_env(sim_env):
            start = time.perf_counter()
            build_dir, reused = _cocotb_build(runner, sim_name, sources, sim_top, work)
            build_s = time.perf_counter() - start
            start = time.perf_counter()
            xml = runner.test(
                test_module=tb_module,
                hdl_toplevel=sim_top,
                hdl_toplevel_lang="verilog",
                build_dir=build_dir,
                test_dir=work,
                extra_env=env,
                log_file=work / "sim.log",
            )
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    wall = time.perf_counter() - start
    n_tests, n_failed = get_results(Path(xml))
    if not result_path.exists():
        raise RuntimeError(f"the cocotb bench wrote no result; see {work / 'sim.log'}")
    raw = json.loads(result_path.read_text())
    return StreamResult(
        **raw,
        wall_s=wall,
        ok=n_tests > 0 and n_failed == 0,
        build_s=0.0 if reused else build_s,
        build_reused=reused,
    )


def _cocotb_build(runner, sim_name: str, sources: list[Path], top: str, work: Path) -> tuple[Path, bool]:
    """Build (or reuse, `build_cache`) the cocotb runner's simulation of `top`: (build folder, reused?)."""
    from importlib.metadata import version

    from fluorogate.build_cache import build_key, cached_build

    build_args = VERILATOR_LINT if sim_name == "verilator" else []
    tool = version("verilator") if sim_name == "verilator" else shutil.which("iverilog") or ""
    key = build_key([type(runner).__name__, sim_name, tool, version("cocotb"), top, build_args], sources)
    products = ["sim.vvp"] if sim_name == "icarus" else [top]
    return cached_build(
        key,
        products,
        lambda build_dir: runner.build(
            build_dir=build_dir,
            sources=sources,
            hdl_toplevel=top,
            always=True,
            timescale=("1ns", "1ps"),
            log_file=work / "build.log",
            build_args=build_args,
        ),
        work / "build",
    )


def simulate_graph(
    graph,
    frames: list[np.ndarray],
    work: str | Path,
    *,
    stream: BeatStream | None = None,
    expected: np.ndarray | None = None,
    ready_prob: float = 1.0,
    kernel: str = "auto",
    lanes: int = 1,
    simulator: str = "icarus",
    seed: int = 0,
    driver: str = "hdl",
    peaks=None,
    valid_prob: float = 1.0,
) -> StreamResult:
    """Generate the RTL for `graph` at the frames' size, stream `frames` through it, compare every pixel.

    `frames` are raw ADU when the graph has a camera front end, else input codes; (C, H, W) stacks for
    a C-channel input (sim3). `expected` defaults to
    the integer reference (`run_graph`); `stream` defaults to the frames back to back with no gaps;
    `ready_prob` < 1 adds random backpressure. The one call the tests, the demo and the bench share.
    `peaks` (a `quantize.peaks.PeakConfig`): the design ends in the peak finder and its localization
    words are checked instead (`run_locs_test`: one lane, one-channel frames, input gaps by `valid_prob`).
    """
    from fluorogate.firmware.generate import RtlConfig, generate
    from fluorogate.quantize.reference import codes_from_adu, run_graph
    from fluorogate.sim.stream import StreamConfig, frames_to_beats, pack_channels, ready_pattern

    h, w = frames[0].shape[-2:]
    work = Path(work)
    if peaks is not None and (lanes != 1 or stream is not None or np.ndim(frames[0]) != 2):
        raise UserError("simulate_graph with peaks: one lane, (H, W) frames, no stream (gaps by valid_prob)")
    design = generate(graph, RtlConfig(width=w, height=h, kernel=kernel, lanes=lanes, peaks=peaks))
    files = design.write(work / "rtl")
    if peaks is not None:
        maps = np.stack(
            [run_graph(graph, codes_from_adu(graph, f) if graph.input.camera else f)[0] for f in frames]
        )
        return run_locs_test(
            files,
            design.top,
            work / "sim",
            np.stack(frames),
            maps,
            peaks,
            valid_prob,
            ready_prob,
            simulator,
            seed,
        )
    if stream is None:  # (C, H, W) stacks of a multi-frame input: one pixel word per position
        bits = design.report["in_pixel_bits"] // graph.input.channels
        words = [pack_channels(f, bits) if np.ndim(f) == 3 else f for f in frames]
        stream = frames_to_beats(words, StreamConfig(lanes=lanes))
    if expected is None:
        to_codes = (lambda f: codes_from_adu(graph, f)) if graph.input.camera else (lambda f: f)
        expected = np.stack([run_graph(graph, to_codes(f)) for f in frames])
    rep = design.report
    return run_stream_test(
        files,
        design.top,
        work / "sim",
        stream,
        expected,
        rep["in_pixel_bits"],
        rep["out_bits"],
        rep["out_signed"],
        ready=ready_pattern(4096, ready_prob, seed + 1),
        simulator=simulator,
        out_lanes=rep["out_lanes"],
        driver=driver,
    )
