"""FPGA section of `fluorogate bench`: the open RTL back end, measured, then extrapolated by a checked model.

Why a cycle model: every frame size would need its own simulator build (a minute of Verilator's C++
each, or Icarus at hundreds of pixels per second), so the bench simulates one small size and checks the
generator's own timing there (whole frames at any size are `fluorogate cosim`'s job). The generator states
its own timing (one pixel per clock per lane, so `W*H/lanes` cycles per frame, and `design.json:
latency_cycles_estimate` for first-pixel-in to first-pixel-out); the simulation of a small frame must
reproduce both exactly before the model is used for the large frames. Fmax and resources come from a nextpnr
build (`fluorogate build`), of the design at the largest benchmarked size (line buffers scale with the width;
the logic does not).
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


def simulate_small_frame(
    graph: IntegerGraph,
    size: int,
    frames: int,
    lanes: int,
    work: Path,
    simulator: str = "icarus",
    seed: int = 0,
) -> dict:
    """Stream `frames` random frames of `size`x`size` back to back (no gaps, no backpressure) through the
    generated design (`bench.cosim.run_cosim`, the co-simulation's one entry) and return what it measured
    beside what the generator predicted. Camera ADU when the graph has a camera front end, else random
    input codes (an imported model without one)."""
    from fluorogate.bench.cosim.config import CosimConfig
    from fluorogate.bench.cosim.run import run_cosim

    rng = np.random.default_rng(seed)
    cam, q, n = (
        graph.input.camera,
        graph.input.quant,
        frames * graph.input.channels,
    )  # sim3: 3 frames per output
    if cam is not None:
        hi = min(2**cam.adu_bits, cam.offset + (256 << max(cam.shift, 0)))  # spans the input codes' range
        pixels = rng.integers(0, hi, size=(n, size, size))
    else:
        pixels = rng.integers(q.min_int, q.max_int + 1, size=(n, size, size))
    t0 = time.perf_counter()
    rep = run_cosim(graph, pixels, CosimConfig(simulator=simulator, lanes=lanes, localize=False), work)
    return {
        "frame": [size, size],
        "frames": frames,
        "lanes": lanes,
        "simulator": rep.simulator,
        "bit_exact": rep.ok,
        "pixels_compared": rep.pixels_compared,
        "mismatches": rep.mismatches,
        "latency_cycles_measured": rep.latency_cycles,
        "latency_cycles_model": rep.latency_cycles_model,
        "frame_cycles_measured": rep.cycles_per_frame,
        "frame_cycles_model": size * size // lanes,
        "sim_wall_s": round(time.perf_counter() - t0, 1),
    }


def cycle_model(graph: IntegerGraph, size: int, lanes: int) -> dict:
    """The generator's timing at `size`x`size`: cycles per frame, added latency (first pixel in -> out) and
    output lanes (4x the input's after a 2x upsample: the output pixel rate is 4x the input's)."""
    from fluorogate.firmware.generate import RtlConfig, generate

    rep = generate(graph, RtlConfig(width=size, height=size, lanes=lanes)).report
    return {
        "frame_cycles": size * size // lanes,
        "latency_cycles": rep["latency_cycles_estimate"],
        "out_lanes": rep["out_lanes"],
    }


def _build_report(build_dir: Path):
    from pydantic import ValidationError

    from fluorogate.firmware.reports import BuildReport

    path = Path(build_dir) / "build_report.json"
    try:
        return BuildReport.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise UserError(
            f"--build-dir {build_dir}: no build_report.json (made by `fluorogate build`)"
        ) from None
    except (json.JSONDecodeError, ValidationError) as exc:
        raise UserError(f"{path}: not a fluorogate build report ({type(exc).__name__})") from None


def built_design(
    build_dir: Path, graph: IntegerGraph, sizes: list[int], peaks: PeakConfig | None = None
) -> dict:
    """{"size", "lanes"} of the design a `fluorogate build` folder is of, read from the identity it recorded
    (`design.json`: IR digest, RtlConfig), after checking it is `graph`'s design (with `peaks`: followed by
    that peak finder) at one of the square `sizes`. A folder left from another model, size or peak finder is
    refused: its Fmax would be quoted for a design it never measured. Nothing is generated again."""
    design = _build_report(build_dir).design
    if not design.get("ir_sha256"):
        raise UserError(
            f"--build-dir {build_dir}: the build records no design identity (not a generated core, "
            "or built by an older fluorogate); build it again"
        )
    cfg = design.get("rtl_config", {})
    built_peaks = cfg.get("peaks")
    wanted_peaks = None if peaks is None else peaks.model_dump(mode="json")
    problems = []
    if design["ir_sha256"] != graph.digest():
        problems.append(f"IR {design.get('ir')!r} is another model's (IR digest {design['ir_sha256'][:12]})")
    if design["width"] != design["height"] or design["width"] not in sizes:
        problems.append(
            f"its frame {design['width']}x{design['height']} is not one of {', '.join(map(str, sizes))}"
        )
    if built_peaks != wanted_peaks:
        problems.append(
            f"it is the network{_with_peaks(PeakConfig(**built_peaks) if built_peaks else None)}, "
            f"not the network{_with_peaks(peaks)}"
        )
    if problems:
        raise UserError(
            f"--build-dir {build_dir}: not this model's design: {'; '.join(problems)}; build it again"
        )
    return {"size": design["width"], "lanes": design["lanes"]}


def read_build(
    build_dir: Path, graph: IntegerGraph | None = None, sizes: list[int] = (), peaks: PeakConfig | None = None
) -> dict:
    """Fmax and resources from a `fluorogate build` folder's build_report.json; with `graph`, also the frame
    and lanes of the design it built, checked to be `graph`'s (`built_design`)."""
    rep = _build_report(build_dir)
    built = built_design(build_dir, graph, sizes, peaks) if graph is not None else {}
    return {
        "build_dir": str(build_dir),
        "board": rep.board,
        "part": rep.part,
        "core": rep.core,
        "fmax_mhz": round(min(c.achieved_mhz for c in rep.clocks), 2),
        "requested_mhz": rep.requested_mhz,
        "board_clock_mhz": rep.pll_mhz,  # what the board top clocks the core at (PLL, or the oscillator)
        "timing_met": rep.timing_met,
        "core_cells": rep.core_cells,
        "placed": {k: {"used": v.used, "available": v.available} for k, v in rep.resources.items()},
        "step_seconds": rep.step_seconds,
        **built,
    }


def run_build_for(
    graph: IntegerGraph,
    size: int,
    lanes: int,
    out: Path,
    board: str,
    freq_mhz: float,
    router: str = "router2",
    peaks: PeakConfig | None = None,
) -> dict:
    """Generate the design at `size`x`size` and run the open bitstream flow on it (place and route:
    minutes)."""
    from fluorogate.firmware.build import core_build_config, run_build
    from fluorogate.firmware.generate import RtlConfig, write_design

    write_design(graph, RtlConfig(width=size, height=size, lanes=lanes, peaks=peaks), out / "rtl", force=True)
    cfg = core_build_config(out / "rtl", board=board, freq_mhz=freq_mhz, pnr_args=["--router", router])
    run_build(cfg, out / "build", force=True)
    return read_build(out / "build") | {"size": size, "lanes": lanes}


def _with_peaks(peaks: PeakConfig | None) -> str:
    return (
        ""
        if peaks is None
        else (
            f" + peak finder (threshold {peaks.threshold} codes over baseline "
            f"{peaks.baseline}: localization list out)"
        )
    )


def per_size(
    sizes: list[int], graph: IntegerGraph, lanes: int, fmax_mhz: float | None, rate: float
) -> list[dict]:
    """Per frame size: cycles and latency from the cycle model; with an Fmax, time, Mpx/s and fps.

    `rate` is the measured pixels per clock per lane (1.0 when the simulation confirmed the model).
    """
    rows = []
    for size in sizes:
        m = cycle_model(graph, size, lanes)
        row = {"size": size, "frame_cycles": m["frame_cycles"], "latency_cycles": m["latency_cycles"]}
        if fmax_mhz:
            period_us = m["frame_cycles"] / rate / fmax_mhz
            row |= {
                "us_per_frame": round(period_us, 2),
                "latency_us": round(m["latency_cycles"] / fmax_mhz, 3),
                "mpx_per_s": round(fmax_mhz * rate * lanes, 1),
                "max_fps": round(1e6 / period_us, 2),
            }
            if m["out_lanes"] != lanes:
                row["out_mpx_per_s"] = round(fmax_mhz * rate * m["out_lanes"], 1)
        if m["out_lanes"] != lanes:
            row["out_lanes"] = m["out_lanes"]
        rows.append(row)
    return rows


def fpga_rtl(
    graph: IntegerGraph,
    sizes: list[int],
    work: Path,
    *,
    sim_size: int = 16,
    sim_frames: int = 2,
    lanes: int = 1,
    simulator: str = "icarus",
    build_dir: Path | None = None,
    build: bool = True,
    board: str = "ulx3s-85f",
    freq_mhz: float = 100.0,
    cameras: tuple[CameraMode, ...] = FULL_FRAME_MODES,
    peaks: PeakConfig | None = None,
) -> dict:
    """The open RTL back end: simulated small frame, checked cycle model, Fmax/resources, camera keep-up.

    `cameras`: the task's camera modes; each is judged against the routed build (its frame and lanes),
    other lane counts only as arithmetic. `peaks`: the built design is the network followed by this peak
    finder (smlm: localizations out). The simulation and the cycle model stay the network's: the peak
    finder never stalls the map (it drops and counts records instead), so the camera side's rate is the
    network's; the finder's own stream is checked bit-exact by tests/test_firmware_smlm_peaks.py."""
    if build_dir is not None:  # simulate and judge at the lanes the routed build has
        lanes = built_design(build_dir, graph, sizes, peaks)["lanes"]
    sim = simulate_small_frame(graph, sim_size, sim_frames, lanes, work / "sim", simulator)
    confirmed = (
        sim["bit_exact"]
        and sim["latency_cycles_measured"] == sim["latency_cycles_model"]
        and sim["frame_cycles_measured"] == sim["frame_cycles_model"]
    )
    out: dict = {
        "simulation": sim,
        "cycle_model_confirmed": confirmed,
        "cycle_model": "frame_cycles = W*H/lanes; latency_cycles = design.json latency_cycles_estimate "
        "(per 3x3 stage on the longest path: W/lanes+1 beats of look-ahead, plus each "
        "stage's kernel, register and FIFO cycles; through a 2x upsample the beat-time "
        "model of firmware/schedule.py, output lanes 4x the input's)",
        "design": f"the network{_with_peaks(peaks)}",
    }
    if not confirmed:
        out["error"] = "the simulated small frame does not match the cycle model: no extrapolation"
        return out
    try:  # a failed or missing build leaves the simulation and the cycle counts in the report
        if build_dir is not None:
            out["build"] = read_build(build_dir, graph, sizes, peaks)
        elif build:
            out["build"] = run_build_for(
                graph, max(sizes), lanes, work / "build", board, freq_mhz, peaks=peaks
            )
        else:
            out["build"] = {
                "skipped": "no --build-dir given and the build was turned off (place and route takes minutes)"
            }
    except UserError as exc:
        out["build"] = {"skipped": f"build failed or unreadable: {exc}"}
    fmax = out["build"].get("fmax_mhz")
    out["sizes"] = per_size(sizes, graph, lanes, fmax, rate=1.0)
    if fmax:
        # sr2x: 4 output pixels per input pixel; behind a peak finder the output is a list, not pixels
        out_per_in = 1 if peaks else out["sizes"][0].get("out_lanes", lanes) // lanes
        size = out["build"]["size"]
        out["cameras"] = keep_up(
            fmax * 1e6,
            pixels_per_clock=1.0,
            out_per_in=out_per_in,
            cameras=cameras,
            built=(size, size, out["build"]["lanes"]),
        )
        _at_board_clock(out["cameras"], cameras, out["build"])
        if graph.input.channels > 1:  # sim3: the camera's frames arrive one after another
            for row, cam in zip(out["cameras"], cameras, strict=True):
                row["frame_buffer"] = frame_buffer_place(
                    cam, graph.input.channels, graph.input.quant.bits, out["build"]
                )[1]
    return out


def _at_board_clock(rows: list[dict], cameras: tuple[CameraMode, ...], build: dict) -> None:
    """Where the board top clocks the core below its Fmax (a board without a PLL runs from its oscillator:
    the Mega 138K Pro), a camera the routed core carries may still be too fast for the board as built:
    say so in the verdict, never only in a footnote."""
    clock = build.get("board_clock_mhz")
    if not clock or clock >= build["fmax_mhz"]:
        return
    rate = clock * 1e6 * build["lanes"]
    for row, cam in zip(rows, cameras, strict=True):
        if row.get("keeps_up"):
            row["keeps_up_at_board_clock"] = cam.pixel_rate <= rate
            if not row["keeps_up_at_board_clock"]:
                row["verdict"] += (
                    f"; not at the board's own {clock:g} MHz clock ({rate / 1e6:.0f} Mpx/s as built): "
                    "needs a faster clock into the core"
                )
