"""FPGA section of `fluorogate bench`: the open RTL back end, measured, then extrapolated by a checked model.

Why a cycle model: cocotb simulates tens to a few thousand pixels per second, so a 2048x2048 frame
cannot be simulated here. The generator states its own timing (one pixel per clock per lane, so
`W*H/lanes` cycles per frame, and `design.json: latency_cycles_estimate` for first-pixel-in to
first-pixel-out); the simulation of a small frame must reproduce both exactly before the model is
used for the large frames. Fmax and resources come from a nextpnr build (`fluorogate build`), of the
design at the largest benchmarked size (line buffers scale with the width; the logic does not).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from fluorogate.bench.framestore import frame_buffer_place
from fluorogate.bench.keep_up import FULL_FRAME_MODES, CameraMode, keep_up
from fluorogate.errors import UserError
from fluorogate.quantize.ir import IntegerGraph
from fluorogate.quantize.peaks import PeakConfig


def simulate_small_frame(graph: IntegerGraph, size: int, frames: int, lanes: int, work: Path,
                         simulator: str = "icarus", seed: int = 0) -> dict:
    """Generate the design at `size`x`size`, stream `frames` random camera frames back to back (no gaps,
    no backpressure) through cocotb and return what it measured beside what the generator predicted.
    Camera ADU when the graph has a camera front end, else random input codes (an imported model without one)."""
    from fluorogate.bench.cosim.cocotb_run import run_stream_test
    from fluorogate.firmware.generate import RtlConfig, generate
    from fluorogate.quantize.reference import codes_from_adu, run_graph
    from fluorogate.sim.stream import StreamConfig, frames_to_beats, pack_channels

    design = generate(graph, RtlConfig(width=size, height=size, lanes=lanes))
    files = design.write(work / "rtl")
    rng = np.random.default_rng(seed)
    cam, q, shape = graph.input.camera, graph.input.quant, (graph.input.channels, size, size)
    if cam is not None:
        hi = min(2**cam.adu_bits, cam.offset + (256 << max(cam.shift, 0)))  # spans the input codes' range
        # one camera frame per input channel (sim3: 3), packed into one pixel word as s_axis carries them
        pixels = [rng.integers(0, hi, size=shape) for _ in range(frames)]
        expected = np.stack([run_graph(graph, codes_from_adu(graph, a)) for a in pixels])
    else:
        pixels = [rng.integers(q.min_int, q.max_int + 1, size=shape) for _ in range(frames)]
        expected = np.stack([run_graph(graph, c) for c in pixels])
    bits = design.report["in_pixel_bits"] // graph.input.channels
    words = [pack_channels(p & ((1 << bits) - 1), bits) for p in pixels]  # two's complement per channel
    rep = design.report
    t0 = time.perf_counter()
    res = run_stream_test(files, design.top, work / "sim", frames_to_beats(words, StreamConfig(lanes=lanes)),
                          expected, rep["in_pixel_bits"], rep["out_bits"], rep["out_signed"], simulator=simulator,
                          out_lanes=rep["out_lanes"])
    beats = size * size // lanes
    return {
        "frame": [size, size], "frames": frames, "lanes": lanes, "simulator": simulator,
        "bit_exact": bool(res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == frames),
        "pixels_compared": int(expected.size),
        "mismatches": len(res.mismatches),
        "latency_cycles_measured": int(res.latency),
        "latency_cycles_model": rep["latency_cycles_estimate"],
        "frame_cycles_measured": res.frame_period(rep["out_width"] * rep["out_height"] // rep["out_lanes"]),
        "frame_cycles_model": beats,
        "sim_wall_s": round(time.perf_counter() - t0, 1),
    }


def cycle_model(graph: IntegerGraph, size: int, lanes: int) -> dict:
    """The generator's timing at `size`x`size`: cycles per frame, added latency (first pixel in -> out) and
    output lanes (4x the input's after a 2x upsample: the output pixel rate is 4x the input's)."""
    from fluorogate.firmware.generate import RtlConfig, generate

    rep = generate(graph, RtlConfig(width=size, height=size, lanes=lanes)).report
    return {"frame_cycles": size * size // lanes, "latency_cycles": rep["latency_cycles_estimate"],
            "out_lanes": rep["out_lanes"]}


def design_digest(graph: IntegerGraph, size: int, lanes: int, peaks: PeakConfig | None = None) -> str:
    """The digest `fluorogate build` records of the sources it built, for the design generated at `size`
    (with `peaks`: the network followed by that peak finder)."""
    from fluorogate.firmware.generate import RtlConfig, generate
    from fluorogate.firmware.reports import sources_digest

    design = generate(graph, RtlConfig(width=size, height=size, lanes=lanes, peaks=peaks))
    return sources_digest([*((name, text.encode()) for name, text in design.sources.items()),
                           *((p.name, p.read_bytes()) for p in design.static_sources)])


def read_build(build_dir: Path, graph: IntegerGraph | None = None, sizes: list[int] = (), lanes: int = 1,
               peaks: PeakConfig | None = None) -> dict:
    """Fmax and resources from a `fluorogate build` folder's build_report.json.

    With `graph`, the build must be of that graph's design (with `peaks`: followed by that peak finder) at
    one of `sizes` (the sources' digest that the build recorded): a folder left from another model, peak
    finder or an older generator is refused, since its Fmax would be quoted for a design it never measured.
    """
    from pydantic import ValidationError

    from fluorogate.firmware.reports import BuildReport

    path = Path(build_dir) / "build_report.json"
    try:
        rep = BuildReport.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise UserError(f"--build-dir {build_dir}: no build_report.json (made by `fluorogate build`)") from None
    except (json.JSONDecodeError, ValidationError) as exc:
        raise UserError(f"{path}: not a fluorogate build report ({type(exc).__name__})") from None
    built: dict = {}
    if graph is not None:
        if rep.sources_sha256 is None:
            raise UserError(f"{path}: records no digest of its sources (an older build); build it again")
        match = [s for s in sizes if design_digest(graph, s, lanes, peaks) == rep.sources_sha256]
        if match:
            built = {"size": match[0], "lanes": lanes}  # the frame (size x size) and lanes the build is of
        else:
            what = f"this model's design{_with_peaks(peaks)}"
            raise UserError(f"--build-dir {build_dir}: built from other sources than {what} at "
                            f"{', '.join(map(str, sizes))} px wide, {lanes} lane(s) (another model, size, peak "
                            "finder or generator version); build it again")
    return {
        "build_dir": str(build_dir), "board": rep.board, "part": rep.part, "core": rep.core,
        "fmax_mhz": round(min(c.achieved_mhz for c in rep.clocks), 2),
        "requested_mhz": rep.requested_mhz, "timing_met": rep.timing_met,
        "core_cells": rep.core_cells,
        "placed": {k: {"used": v.used, "available": v.available} for k, v in rep.resources.items()},
        "step_seconds": rep.step_seconds, **built,
    }



def run_build_for(graph: IntegerGraph, size: int, lanes: int, out: Path, board: str, freq_mhz: float,
                  router: str = "router2", peaks: PeakConfig | None = None) -> dict:
    """Generate the design at `size`x`size` and run the open bitstream flow on it (place and route: minutes)."""
    from fluorogate.firmware.build import BuildConfig, run_build
    from fluorogate.firmware.generate import RtlConfig, write_design

    rtl = out / "rtl"
    design = write_design(graph, RtlConfig(width=size, height=size, lanes=lanes, peaks=peaks), rtl, force=True)
    sources = [rtl / line for line in (rtl / "files.f").read_text().split()]
    cfg = BuildConfig(sources=sources, core=design.top, board=board, freq_mhz=freq_mhz,
                      line_beats=size // lanes, lines=size, pnr_args=["--router", router])
    run_build(cfg, out / "build", force=True)
    return read_build(out / "build") | {"size": size, "lanes": lanes}


def _with_peaks(peaks: PeakConfig | None) -> str:
    return "" if peaks is None else (f" + peak finder (threshold {peaks.threshold} codes over baseline "
                                     f"{peaks.baseline}: localization list out)")


def per_size(sizes: list[int], graph: IntegerGraph, lanes: int, fmax_mhz: float | None, rate: float) -> list[dict]:
    """Per frame size: cycles and latency from the cycle model; with an Fmax, time, Mpx/s and fps.

    `rate` is the measured pixels per clock per lane (1.0 when the simulation confirmed the model).
    """
    rows = []
    for size in sizes:
        m = cycle_model(graph, size, lanes)
        row = {"size": size, "frame_cycles": m["frame_cycles"], "latency_cycles": m["latency_cycles"]}
        if fmax_mhz:
            period_us = m["frame_cycles"] / rate / fmax_mhz
            row |= {"us_per_frame": round(period_us, 2), "latency_us": round(m["latency_cycles"] / fmax_mhz, 3),
                    "mpx_per_s": round(fmax_mhz * rate * lanes, 1), "max_fps": round(1e6 / period_us, 2)}
            if m["out_lanes"] != lanes:
                row["out_mpx_per_s"] = round(fmax_mhz * rate * m["out_lanes"], 1)
        if m["out_lanes"] != lanes:
            row["out_lanes"] = m["out_lanes"]
        rows.append(row)
    return rows


def fpga_rtl(graph: IntegerGraph, sizes: list[int], work: Path, *, sim_size: int = 16, sim_frames: int = 2,
             lanes: int = 1, simulator: str = "icarus", build_dir: Path | None = None, build: bool = True,
             board: str = "ulx3s-85f", freq_mhz: float = 100.0,
             cameras: tuple[CameraMode, ...] = FULL_FRAME_MODES, peaks: PeakConfig | None = None) -> dict:
    """The open RTL back end: simulated small frame, checked cycle model, Fmax/resources, camera keep-up.

    `cameras`: the task's camera modes; each is judged against the routed build (its frame and lanes),
    other lane counts only as arithmetic. `peaks`: the built design is the network followed by this peak
    finder (smlm: localizations out). The simulation and the cycle model stay the network's: the peak
    finder never stalls the map (it drops and counts records instead), so the camera side's rate is the
    network's; the finder's own stream is checked bit-exact by tests/test_firmware_smlm_peaks.py."""
    sim = simulate_small_frame(graph, sim_size, sim_frames, lanes, work / "sim", simulator)
    confirmed = (sim["bit_exact"] and sim["latency_cycles_measured"] == sim["latency_cycles_model"]
                 and sim["frame_cycles_measured"] == sim["frame_cycles_model"])
    out: dict = {"simulation": sim, "cycle_model_confirmed": confirmed,
                 "cycle_model": "frame_cycles = W*H/lanes; latency_cycles = design.json latency_cycles_estimate "
                                "(per 3x3 stage on the longest path: W/lanes+1 beats of look-ahead, plus each "
                                "stage's kernel, register and FIFO cycles; through a 2x upsample the beat-time "
                                "model of firmware/schedule.py, output lanes 4x the input's)",
                                "design": f"the network{_with_peaks(peaks)}"}
    if not confirmed:
        out["error"] = "the simulated small frame does not match the cycle model: no extrapolation"
        return out
    try:  # a failed or missing build leaves the simulation and the cycle counts in the report
        if build_dir is not None:
            out["build"] = read_build(build_dir, graph, sizes, lanes, peaks)
        elif build:
            out["build"] = run_build_for(graph, max(sizes), lanes, work / "build", board, freq_mhz, peaks=peaks)
        else:
            out["build"] = {"skipped": "no --build-dir given and the build was turned off (place and route takes minutes)"}
    except UserError as exc:
        out["build"] = {"skipped": f"build failed or unreadable: {exc}"}
    fmax = out["build"].get("fmax_mhz")
    out["sizes"] = per_size(sizes, graph, lanes, fmax, rate=1.0)
    if fmax:
        # sr2x: 4 output pixels per input pixel; behind a peak finder the output is a list, not pixels
        out_per_in = 1 if peaks else out["sizes"][0].get("out_lanes", lanes) // lanes
        size = out["build"]["size"]
        out["cameras"] = keep_up(fmax * 1e6, pixels_per_clock=1.0, out_per_in=out_per_in, cameras=cameras,
                                 built=(size, size, out["build"]["lanes"]))
        if graph.input.channels > 1:  # sim3: the camera's frames arrive one after another
            for row, cam in zip(out["cameras"], cameras, strict=True):
                row["frame_buffer"] = frame_buffer_place(cam, graph.input.channels, graph.input.quant.bits,
                                                         out["build"])[1]
    return out
