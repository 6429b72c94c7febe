"""The RTL back end of `run_cosim`: whole frames through the generated Verilog in the HDL frame player.

Steps: generate the design at the frames' size (or take a `fluorogate rtl` folder, maybe hand-edited:
`CosimConfig.rtl_dir`); write every frame's camera beats (valid gaps seeded per frame) and the
consumer's tready pattern; build the player (cached by content) and run it; as each output frame
completes, compare it with the integer reference (computed meanwhile, on the other core) and check its
tuser/tlast. After the run: the design's sticky error flags, frame counters, undefined beats, a
deadlock, cycles per frame, latency and pixels per clock. On a mismatch the first bad frame is run
again with every stage's output tapped (`taps`), to name the first stage whose output differs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fluorogate.bench.cosim.check import beats_to_frame, flag_errors
from fluorogate.bench.cosim.config import CosimConfig, CosimReport, FrameResult, Localization
from fluorogate.bench.cosim.frame_sim import Stimulus, build_player, check_simulator, play, write_stimulus
from fluorogate.bench.cosim.player import READY_DEPTH, OutBeats, OutLog, PlayerPorts, unpack_fields
from fluorogate.bench.cosim.tally import Tally, input_codes, reference
from fluorogate.errors import UserError
from fluorogate.quantize.ir import IntegerGraph


def load_design(
    graph: IntegerGraph, cfg: CosimConfig, height: int, width: int, work: Path
) -> tuple[list[Path], dict]:
    """(source files, design.json) of the design to simulate: generated into `work/rtl`, or read from
    `cfg.rtl_dir`, which must be this graph's design at this frame size and lane count."""
    if cfg.rtl_dir is None:
        from fluorogate.firmware.generate import RtlConfig, generate

        design = generate(graph, RtlConfig(width=width, height=height, lanes=cfg.lanes, kernel=cfg.kernel))
        files, report = design.write(work / "rtl"), design.report
    else:
        folder = Path(cfg.rtl_dir)
        try:
            report = json.loads((folder / "design.json").read_text())
            files = [folder / name for name in (folder / "files.f").read_text().split()]
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(
                f"--rtl {folder}: not a `fluorogate rtl` folder (design.json, files.f): {exc}"
            ) from None
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise UserError(f"--rtl {folder}: files.f names missing files: {', '.join(missing[:5])}")
        got = (report.get("ir"), report.get("width"), report.get("height"), report.get("lanes"))
        if got != (graph.name, width, height, cfg.lanes):
            raise UserError(
                f"--rtl {folder}: a design of IR {got[0]!r} for {got[1]}x{got[2]} frames, {got[3]} "
                f"lane(s); these are {width}x{height} frames of IR {graph.name!r}, {cfg.lanes} lane(s)"
            )
    if report.get("peaks"):
        raise UserError(
            "this design ends in the peak finder (localizations out); cosim compares output maps: "
            "generate it without --peaks (the peak finder is verified by tests/test_firmware_smlm_peaks.py)"
        )
    return files, report


def cosim_rtl(
    graph: IntegerGraph,
    inputs: Sequence[np.ndarray],
    frame_numbers: list[int],
    cfg: CosimConfig,
    work: Path,
    report: CosimReport,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> None:
    """Stream `inputs` ((H, W) or (C, H, W) each) through the RTL; fill `report` (see module docstring)."""
    from fluorogate.sim.stream import StreamConfig, frames_to_beats, pack_channels, ready_pattern

    simulator = check_simulator(cfg.simulator)
    height, width = inputs[0].shape[-2:]
    files, rep = load_design(graph, cfg, height, width, work)
    report.out_shape = [rep["out_channels"], rep["out_height"], rep["out_width"]]
    channels, out_h, out_w = report.out_shape
    out_lanes, out_bits, out_signed = rep["out_lanes"], rep["out_bits"], rep["out_signed"]
    ports = PlayerPorts(rep["top"], cfg.lanes, rep["in_pixel_bits"], out_lanes * channels * out_bits)
    frame_beats, line_beats = out_h * out_w // out_lanes, out_w // out_lanes
    px_bits = rep["in_pixel_bits"] // graph.input.channels

    def beats(k: int, x: np.ndarray):
        words = pack_channels(x, px_bits) if x.ndim == 3 else x
        return frames_to_beats(
            [words], StreamConfig(lanes=cfg.lanes, valid_prob=1 - cfg.gaps, seed=cfg.seed + k)
        )

    for x in inputs:  # every input checked before anything is simulated (range, dtype)
        input_codes(graph, x)
    stimulus = write_stimulus(
        work / "stimulus",
        (beats(k, x) for k, x in enumerate(inputs)),
        ready_pattern(READY_DEPTH, 1 - cfg.backpressure, cfg.seed + 1),
        ports,
    )
    if stimulus.cycles >= 2**31:  # the player counts cycles in 32 bits; stalls may double the stream's length
        raise UserError(
            f"{len(inputs)} frames are {stimulus.cycles:,} stream cycles; the frame player counts up to "
            "2**32 cycles: simulate the movie in parts (--frames A:B)"
        )
    build = build_player(files, ports, simulator, work)
    tally = Tally(frame_numbers, report.out_shape)
    first_out: list[int] = []

    def compare(k: int, cycle: int, out: OutBeats) -> None:
        if not first_out:
            first_out.append(int(out.cycles[0]))
        pixels = unpack_fields(out.words, out_lanes * channels, out_bits, out_signed).reshape(-1, channels)
        want = reference(graph, inputs[k])
        result = tally.add(
            k,
            beats_to_frame(pixels, channels, out_h, out_w),
            want,
            flag_errors(out.user, out.last, frame_beats, line_beats),
            cycle,
        )
        if on_frame is not None:
            on_frame(result)

    report.load_avg.append(round(os.getloadavg()[0], 2))
    played = play(
        build, stimulus, ports, work / "run", len(inputs) * frame_beats, frame_beats, line_beats, compare
    )
    report.load_avg.append(round(os.getloadavg()[0], 2))
    tally.fill(report)
    st = played.status
    log = OutLog(work / "run" / "fg_out_log.bin", ports)
    report.out_beats = len(log.read())
    log.close()
    report.out_beats_expected = len(inputs) * frame_beats
    report.simulator, report.build_s, report.build_reused = simulator, round(build.build_s, 2), build.reused
    for name in (
        "err_line_length",
        "err_missing_sof",
        "x_beats",
        "first_x_beat",
        "stalled",
        "frames_in",
        "frames_out",
        "cycles",
    ):
        setattr(report, name, getattr(st, name))
    report.latency_cycles_model = rep.get("latency_cycles_estimate")
    _timing(report, played.in_cycles, first_out, st.frame_end_cycles, height * width)
    report.sim_s = round(st.wall_s, 3)
    report.sim_cpu_s = round(st.cpu_s, 3)
    report.sim_cycles_per_s = round(st.cycles / st.wall_s) if st.wall_s else None
    report.sim_pixels_per_s = round(report.pixels_compared / st.wall_s) if st.wall_s else None
    if report.mismatches and cfg.localize:
        k = next(i for i, f in enumerate(tally.per_frame) if f.mismatches)
        report.localization = localize(
            graph,
            files,
            rep,
            ports,
            simulator,
            stimulus,
            work / "localize",
            k,
            frame_numbers[k],
            input_codes(graph, inputs[k]),
            (frame_beats, line_beats),
        )
    report.work = str(work)
    report._maps = {"count": tally.map, "first_diff": tally.first_diff}


def _timing(
    report: CosimReport, in_cycles: np.ndarray, first_out: list[int], ends: list[int], in_pixels: int
) -> None:
    """Latency (first accepted input beat to first output beat), cycles per frame (steady state: between
    consecutive frames' last output beats; one frame: its input's span) and input pixels per clock."""
    if not len(in_cycles) or not first_out:
        return
    report.latency_cycles = first_out[0] - int(in_cycles[0])
    if len(ends) > 1:
        report.cycles_per_frame = float(np.diff(ends).mean())
    else:
        report.cycles_per_frame = float(in_cycles[-1] - in_cycles[0] + 1)
    report.pixels_per_clock = round(in_pixels / report.cycles_per_frame, 4)


def localize(
    graph: IntegerGraph,
    files: list[Path],
    rep: dict,
    ports: PlayerPorts,
    simulator: str,
    stimulus: Stimulus,
    work: Path,
    k: int,
    frame: int,
    codes: np.ndarray,
    beats: tuple[int, int],
) -> Localization:
    """Simulate up to output frame k again, with every stage's output tapped during frame k, and compare
    each tapped tensor with the reference (`taps.compare_taps`)."""
    from fluorogate.bench.cosim.taps import compare_taps, plan_taps, tap_plusargs, write_taps
    from fluorogate.quantize.reference import run_graph_tensors

    tensors = run_graph_tensors(graph, codes)
    taps = plan_taps(graph, rep, tensors)
    include = write_taps(work / "include", taps)
    build = build_player(files, ports, simulator, work, include_dir=include, defines={"FG_TAPS": 1})
    frame_beats, line_beats = beats
    play(
        build,
        stimulus,
        ports,
        work,
        (k + 1) * frame_beats,
        frame_beats,
        line_beats,
        plusargs=tap_plusargs(taps, work, k),
    )
    return compare_taps(taps, work, tensors, frame)
