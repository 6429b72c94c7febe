"""`fluorogate sweep`: the design space over bit widths and channel counts, as PSNR vs LUTs vs Fmax vs latency.

Each grid point is a short training run (the default recipe's data and camera, fewer steps: the
points are compared with each other, not with the shipped model), exported, its PSNR measured on the
evaluation's simulated conditions (`models.evaluate`), its RTL generated at a small frame width and
synthesized with yosys `synth_ecp5` (LUTs; the logic does not depend on the width, the line buffers
do), optionally placed and routed (Fmax). Points run in a local process pool (`--jobs`, one torch
thread each). Writes sweep.json, sweep.md and pareto.png (+ psnr_bits.png).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from fluorogate.errors import UserError


class SweepConfig(BaseModel):
    """The grid and how much work each point gets."""

    model_config = ConfigDict(extra="forbid")

    bits: list[str] = Field(default_factory=lambda: ["w2a8", "w4a8", "w8a8"])
    channels: list[int] = Field(default_factory=lambda: [8, 16])
    steps: int = Field(default=300, ge=4)  # split 3:1 float:QAT like `fluorogate train --steps`
    size: int = Field(default=64, ge=8)  # RTL frame width for synthesis
    latency_size: int = Field(default=2048, ge=8)  # frame width the latency is quoted at
    eval_frames: int = Field(default=2, ge=1)
    eval_size: int = Field(default=64, ge=16)
    jobs: int = Field(default=2, ge=1)
    pnr: bool = False
    board: str = "ulx3s-85f"
    freq_mhz: float = 100.0
    seed: int = 0


def point_config(bits: str, channels: int, cfg: SweepConfig):
    """The RunConfig of one grid point: the shipped default's recipe with this width, depth and step count."""
    from fluorogate.models.camera import choose_conversion
    from fluorogate.models.config import parse_bits
    from fluorogate.models.shipped import default_config
    from fluorogate.sim.camera import get_preset

    w, a = parse_bits(bits)
    base = default_config()
    model = base.model.model_copy(update={"weight_bits": w, "act_bits": a, "channels": channels})
    train = base.train.model_copy(update={"float_steps": cfg.steps - cfg.steps // 4, "qat_steps": cfg.steps // 4,
                                          "seed": cfg.seed, "threads": 1})
    camera = choose_conversion(get_preset(train.preset), train.peak_photons, bits=a)
    return base.model_copy(update={"model": model, "train": train, "camera": camera,
                                   "command": f"fluorogate sweep (point {bits} c{channels}, {cfg.steps} steps)"})


def measure_psnr(run: Path, frames: int, size: int) -> dict[str, float]:
    """Mean PSNR of the float and QAT nets over the evaluation's conditions (no baselines: they do not move)."""
    import numpy as np

    from fluorogate.models.evaluate import eval_conditions, run_network
    from fluorogate.models.metrics import psnr
    from fluorogate.models.run import load_config
    from fluorogate.models.train import load_models
    from fluorogate.sim.camera import get_preset

    cfg = load_config(run)
    flt, qat = load_models(run, cfg)
    offset = get_preset(cfg.train.preset).offset_adu
    got: dict[str, list[float]] = {"float": [], "qat": []}
    for _, adu, truth_adu in eval_conditions(cfg, frames, size):
        truths = [t.astype(np.float64) - offset for t in truth_adu]
        rng = float(np.max(truths) - np.min(truths))
        if rng == 0:  # a near-empty simulated crop: PSNR is infinite for every method, it ranks nothing
            continue
        for name, model in (("float", flt), ("qat", qat)):
            out = run_network(model, adu, cfg) - offset
            got[name].append(float(np.mean([psnr(o, t, rng) for o, t in zip(out, truths, strict=True)])))
    if not got["qat"]:
        raise UserError(f"{run}: every evaluation frame was empty; raise the sweep's eval_size")
    return {f"psnr_{k}": round(float(np.mean(v)), 3) for k, v in got.items()} | {"psnr_conditions": len(got["qat"])}


def step_stat_report(state) -> None:
    """Build step that ends a synthesis-only flow: the report from yosys' cell counts, no clocks."""
    from fluorogate.firmware.reports import BuildReport, ResourceUse, core_cells, parse_yosys_stat

    cells = parse_yosys_stat(state.folder / "synth_stat.json")
    fam = state.board.family
    state.report = BuildReport(
        board=state.board.name, part=state.board.part, core=state.cfg.core, top="(synthesis only)",
        requested_mhz=state.cfg.freq_mhz, pll_mhz=state.pll_mhz,
        resources={k: ResourceUse(used=v) for k, v in cells["design"].items()}, headline=list(fam.headline),
        core_cells=core_cells(cells.get(state.cfg.core, {}), fam.bel_of_cell),
        clocks=[], critical_paths={}, step_seconds=dict(state.step_seconds))


SYNTH_ONLY = ("copy_sources", "board_top", "synth", step_stat_report)
PNR = ("copy_sources", "board_top", "synth", "pnr", "report")


def hardware(graph, cfg: SweepConfig, folder: Path) -> dict:
    """LUTs (and with --pnr Fmax) of the point's RTL at `cfg.size`, latency at `cfg.latency_size`."""
    from fluorogate.bench.fpga import cycle_model
    from fluorogate.firmware.build import BuildConfig, run_build
    from fluorogate.firmware.generate import RtlConfig, write_design

    design = write_design(graph, RtlConfig(width=cfg.size, height=cfg.size), folder / "rtl", force=True)
    sources = [folder / "rtl" / name for name in (folder / "rtl" / "files.f").read_text().split()]
    bcfg = BuildConfig(sources=sources, core=design.top, board=cfg.board, freq_mhz=cfg.freq_mhz,
                       line_beats=cfg.size, lines=cfg.size)
    rep = run_build(bcfg, folder / "build", force=True, steps=PNR if cfg.pnr else SYNTH_ONLY)
    cells = rep.core_cells
    return {"lut": cells.get("LUT4", 0), "ff": cells.get("TRELLIS_FF", 0), "ccu2c": cells.get("CCU2C", 0),
            "dp16kd": cells.get("DP16KD", 0), "mult18": cells.get("MULT18X18D", 0),
            "fmax_mhz": round(min(c.achieved_mhz for c in rep.clocks), 1) if rep.clocks else None,
            "latency_cycles": cycle_model(graph, cfg.latency_size, 1)["latency_cycles"],
            "build_s": rep.step_seconds}


def run_point(bits: str, channels: int, cfg: SweepConfig, folder: Path) -> dict:
    """Train, export, measure one grid point (runs in a worker process)."""
    from fluorogate.models.export_run import export_run
    from fluorogate.models.run import save_config
    from fluorogate.models.train import train
    from fluorogate.quantize.ir import IntegerGraph

    t0 = time.perf_counter()
    run = folder / "run"
    run.mkdir(parents=True, exist_ok=True)
    rc = point_config(bits, channels, cfg)
    save_config(run, rc)
    train(run, rc, progress=False)
    graph = IntegerGraph.load(export_run(run, force=True)["ir.json"])
    t1 = time.perf_counter()
    point = {"bits": bits, "channels": channels, "weight_bits": rc.model.weight_bits, "act_bits": rc.model.act_bits,
             **measure_psnr(run, cfg.eval_frames, cfg.eval_size), **hardware(graph, cfg, folder)}
    return point | {"train_s": round(t1 - t0, 1), "total_s": round(time.perf_counter() - t0, 1)}


def mark_pareto(points: list[dict]) -> None:
    """`pareto` = no other point has at most its LUTs and latency and at least its PSNR, one strictly better."""
    def dominates(a: dict, b: dict) -> bool:
        ge = a["lut"] <= b["lut"] and a["latency_cycles"] <= b["latency_cycles"] and a["psnr_qat"] >= b["psnr_qat"]
        gt = a["lut"] < b["lut"] or a["latency_cycles"] < b["latency_cycles"] or a["psnr_qat"] > b["psnr_qat"]
        return ge and gt

    ok = [p for p in points if "error" not in p]
    for p in ok:
        p["pareto"] = not any(dominates(q, p) for q in ok if q is not p)


def run_sweep(cfg: SweepConfig, out: str | Path, force: bool = False) -> dict:
    """Every (bits, channels) point of `cfg` in a pool of `cfg.jobs` processes; writes the report into `out`."""
    import multiprocessing

    from tqdm import tqdm

    from fluorogate.bench.machine import machine_state
    from fluorogate.bench.plots import pareto_plot, psnr_bits_plot
    from fluorogate.bench.report import markdown_table, write_report
    from fluorogate.outputs import check_writable, write_atomic

    out = Path(out)
    for name in ("sweep.json", "sweep.md", "pareto.png", "psnr_bits.png"):
        check_writable(out / name, force)
    grid = [(b, c) for b in cfg.bits for c in cfg.channels]
    if not grid:
        raise UserError("the sweep grid is empty: give at least one --bits and one --channels value")
    points: list[dict] = []
    start = machine_state()
    # spawn: fresh interpreters (torch threads, no forked locks); the points write under out/points/
    pool = ProcessPoolExecutor(max_workers=cfg.jobs, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        futures = {pool.submit(run_point, b, c, cfg, out / "points" / f"{b}_c{c}"): (b, c) for b, c in grid}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="sweep", unit="point"):
            b, c = futures[fut]
            try:
                points.append(fut.result())
            except UserError as exc:
                points.append({"bits": b, "channels": c, "error": str(exc)})
    points.sort(key=lambda p: (p["channels"], p["bits"]))
    mark_pareto(points)
    result = {"config": cfg.model_dump(), "size": cfg.size, "points": points, "machine_start": start,
              "machine_end": machine_state()}
    cols = ["bits", "channels", "psnr_float", "psnr_qat", "lut", "ff", "ccu2c", "dp16kd", "fmax_mhz",
            "latency_cycles", "pareto", "total_s", "error"]
    md = (f"# fluorogate sweep\n\n{cfg.steps} training steps per point; PSNR: mean over the evaluation's conditions "
          f"({cfg.eval_frames} frames of {cfg.eval_size}x{cfg.eval_size}); resources: yosys synth_ecp5 of the core at "
          f"{cfg.size}x{cfg.size}; latency: cycles at {cfg.latency_size}-wide frames. Load average at start "
          f"{start['load_avg_1_5_15']}, at end {result['machine_end']['load_avg_1_5_15']}.\n\n"
          + markdown_table(points, [c for c in cols if any(c in p for p in points)]))
    write_report(result, md, out, stem="sweep", force=force)
    write_atomic(out / "pareto.png", lambda p: pareto_plot(result, p), force)
    write_atomic(out / "psnr_bits.png", lambda p: psnr_bits_plot(result, p), force)
    return result
