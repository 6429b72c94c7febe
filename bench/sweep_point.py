"""One grid point of `fluorogate sweep`: its config and its stages (train, export, synth, pnr), each cached.

Each stage is a thin wrapper over the pipeline's own stage function (`models.train.train`,
`models.export_run.export_run`, `firmware.generate.write_design`, `firmware.build.run_build`) that
writes into a folder of the content-addressed `StageCache` and returns a JSON result. Its fingerprint
chains the previous stage's fingerprint, the stage's name, the code (`fluorogate.fingerprint`, the
demo's) and the parameters the stage depends on, so a finished stage is never recomputed: not after
Ctrl-C, not by another sweep sharing the cache folder, not by another user on the same cluster.

`run_stage` is the unit an executor schedules (a Ray task per stage, or all stages of a point in one
local process, `run_point`); it never raises for a failed stage: the point's record gets `error`,
`failed_stage` and `log`, and the sweep goes on.
"""

from __future__ import annotations

import json
import math
import resource
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from fluorogate.bench.stage_cache import StageCache, StageFailed
from fluorogate.errors import UserError
from fluorogate.fingerprint import code_fingerprint, fingerprint


class StageResources(BaseModel):
    """What one stage's task reserves on a cluster node, so that place and route jobs cannot oversubscribe
    it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: float = Field(default=1.0, gt=0)
    memory_gb: float = Field(default=2.0, gt=0)


def default_resources() -> dict[str, StageResources]:
    """One CPU each (training runs one torch thread, yosys and nextpnr one thread); memory from peak RSS
    measured here with headroom (docs/sweep.md, "Peak RSS"): nextpnr on a camera-wide design is the most."""
    return {
        "train": StageResources(memory_gb=2),
        "export": StageResources(memory_gb=1),
        "synth": StageResources(memory_gb=2),
        "pnr": StageResources(memory_gb=4),
    }


class SweepConfig(BaseModel):
    """The grid, how much work each point gets, and how it is scheduled."""

    model_config = ConfigDict(extra="forbid")

    bits: list[str] = Field(default_factory=lambda: ["w2a8", "w4a8", "w8a8"])
    channels: list[int] = Field(default_factory=lambda: [8, 16])
    steps: int = Field(default=300, ge=4)  # split 3:1 float:QAT like `fluorogate train --steps`
    size: int = Field(default=64, ge=8)  # RTL frame width for synthesis
    latency_size: int = Field(default=2048, ge=8)  # frame width the latency is quoted at
    eval_frames: int = Field(default=2, ge=1)
    eval_size: int = Field(default=64, ge=16)
    jobs: int = Field(default=2, ge=1)  # local processes, or CPUs of the local Ray cluster
    pnr: bool = False
    board: str = "ulx3s-85f"
    freq_mhz: float = 100.0
    seed: int = 0
    timeout_minutes: float = Field(default=60.0, gt=0)  # per tool run (yosys, nextpnr)
    resources: dict[str, StageResources] = Field(default_factory=default_resources)

    def stages(self) -> list[str]:
        return ["train", "export", "synth", *(["pnr"] if self.pnr else [])]


def point_config(bits: str, channels: int, cfg: SweepConfig):
    """The RunConfig of one grid point: the shipped default's recipe with this width, depth and step count."""
    from fluorogate.models.config import parse_bits
    from fluorogate.models.shipped import default_config
    from fluorogate.quantize.camera import choose_conversion
    from fluorogate.sim.camera import get_preset

    w, a = parse_bits(bits)
    base = default_config()
    model = base.model.model_copy(update={"weight_bits": w, "act_bits": a, "channels": channels})
    train = base.train.model_copy(
        update={
            "float_steps": cfg.steps - cfg.steps // 4,
            "qat_steps": cfg.steps // 4,
            "seed": cfg.seed,
            "threads": 1,
        }
    )
    camera = choose_conversion(get_preset(train.preset), train.peak_photons, bits=a)
    return base.model_copy(
        update={
            "model": model,
            "train": train,
            "camera": camera,
            "command": f"fluorogate sweep (point {bits} c{channels}, {cfg.steps} steps)",
        }
    )


def measure_psnr(run: Path, frames: int, size: int) -> dict[str, float]:
    """Mean PSNR of the float and QAT nets over the evaluation's conditions (no baselines: they do not
    move)."""
    import numpy as np

    from fluorogate.models.evaluate import eval_conditions, run_network
    from fluorogate.models.metrics import psnr
    from fluorogate.models.run_folder import load_config
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
    return {f"psnr_{k}": round(float(np.mean(v)), 3) for k, v in got.items()} | {
        "psnr_conditions": len(got["qat"])
    }


def step_stat_report(state) -> None:
    """Build step that ends a synthesis-only flow: the report from yosys' cell counts, no clocks."""
    from fluorogate.firmware.reports import BuildReport, ResourceUse, core_cells, parse_yosys_stat

    cells = parse_yosys_stat(state.folder / "synth_stat.json")
    fam = state.board.family
    state.report = BuildReport(
        board=state.board.name,
        part=state.board.part,
        core=state.cfg.core,
        top="(synthesis only)",
        requested_mhz=state.cfg.freq_mhz,
        pll_mhz=state.pll_mhz,
        resources={k: ResourceUse(used=v) for k, v in cells["design"].items()},
        headline=list(fam.headline),
        core_cells=core_cells(cells.get(state.cfg.core, {}), fam.bel_of_cell),
        clocks=[],
        critical_paths={},
        step_seconds=dict(state.step_seconds),
    )


SYNTH_ONLY = ("copy_sources", "board_top", "synth", step_stat_report)


def _build_config(rtl: Path, cfg: SweepConfig):
    """The build of the core generated into `rtl` at the sweep's frame width
    (`firmware.build.core_build_config`)."""
    from fluorogate.firmware.build import core_build_config

    return core_build_config(rtl, board=cfg.board, freq_mhz=cfg.freq_mhz, timeout_s=cfg.timeout_minutes * 60)


# The stages: (work folder, sweep config, bits, channels, earlier stages' folders) -> JSON result.


def stage_train(work: Path, cfg: SweepConfig, bits: str, channels: int, before: dict[str, Path]) -> dict:
    """Train the point's network (`models.train.train`) and measure its PSNR; a diverged training fails."""
    from fluorogate.models.run_folder import save_config
    from fluorogate.models.train import train

    rc = point_config(bits, channels, cfg)
    run = work / "run"
    run.mkdir()
    save_config(run, rc)
    metrics = train(run, rc, progress=False)
    if not math.isfinite(metrics["loss"]):
        raise UserError(
            f"training diverged: loss {metrics['loss']} at step {metrics['step']} ({metrics['phase']})"
        )
    quality = measure_psnr(run, cfg.eval_frames, cfg.eval_size)
    if not all(math.isfinite(v) for v in quality.values()):
        raise UserError(f"training diverged: PSNR {quality}")
    return {"loss": metrics["loss"], **quality}


def stage_export(work: Path, cfg: SweepConfig, bits: str, channels: int, before: dict[str, Path]) -> dict:
    """QONNX, float ONNX and the IR (`models.export_run.export_run`) of a copy of the trained run folder."""
    from fluorogate.models.export_run import export_run
    from fluorogate.quantize.ir import IntegerGraph

    shutil.copytree(before["train"] / "run", work / "run")
    graph = IntegerGraph.load(export_run(work / "run", force=True)["ir.json"])
    return {"ir_nodes": len(graph.nodes)}


def stage_synth(work: Path, cfg: SweepConfig, bits: str, channels: int, before: dict[str, Path]) -> dict:
    """RTL at `cfg.size` (`firmware.generate.write_design`), yosys synthesis (`run_build`, synthesis
    steps)."""
    from fluorogate.bench.fpga import cycle_model
    from fluorogate.firmware.build import run_build
    from fluorogate.firmware.generate import RtlConfig, write_design
    from fluorogate.quantize.ir import IntegerGraph

    graph = IntegerGraph.load(before["export"] / "run" / "ir.json")
    write_design(graph, RtlConfig(width=cfg.size, height=cfg.size), work / "rtl", force=True)
    cells = run_build(_build_config(work / "rtl", cfg), work / "build", steps=SYNTH_ONLY).core_cells
    return {
        "lut": cells.get("LUT4", 0),
        "ff": cells.get("TRELLIS_FF", 0),
        "ccu2c": cells.get("CCU2C", 0),
        "dp16kd": cells.get("DP16KD", 0),
        "mult18": cells.get("MULT18X18D", 0),
        "fmax_mhz": None,
        "latency_cycles": cycle_model(graph, cfg.latency_size, 1)["latency_cycles"],
    }


def stage_pnr(work: Path, cfg: SweepConfig, bits: str, channels: int, before: dict[str, Path]) -> dict:
    """nextpnr on the synth stage's netlist (`run_build` with synthesis replaced by a copy of its result).

    Timing not met is a result (the Fmax is what the sweep measures), recorded in `timing`.
    """
    from fluorogate.firmware.build import run_build

    synth = before["synth"]

    def step_reuse_synthesis(state) -> None:
        for name in ("synth.json", "synth_stat.json"):
            shutil.copyfile(synth / "build" / name, state.folder / name)

    steps = ("copy_sources", "board_top", step_reuse_synthesis, "pnr", "report")
    rep = run_build(_build_config(synth / "rtl", cfg), work / "build", steps=steps)
    fmax = min(c.achieved_mhz for c in rep.clocks)
    timing = (
        "met" if rep.timing_met else f"not met: {fmax:.1f} MHz < {cfg.freq_mhz:g} MHz (build/build_report.md)"
    )
    return {"fmax_mhz": round(fmax, 1), "timing": timing}


STAGES: dict[str, Callable[[Path, SweepConfig, str, int, dict[str, Path]], dict]] = {
    "train": stage_train,
    "export": stage_export,
    "synth": stage_synth,
    "pnr": stage_pnr,
}


def stage_params(stage: str, cfg: SweepConfig, bits: str, channels: int) -> str:
    """What a stage's result depends on besides the earlier stages and the code (its fingerprint's input).

    Scheduling (jobs, resources) and tool time limits are left out: they do not change a finished result.
    """
    if stage == "train":
        return json.dumps(
            {
                "run": point_config(bits, channels, cfg).model_dump(mode="json"),
                "eval": [cfg.eval_frames, cfg.eval_size],
            },
            sort_keys=True,
        )
    if stage == "synth":
        return json.dumps([cfg.size, cfg.latency_size, cfg.board, cfg.freq_mhz])
    return ""


def new_point(bits: str, channels: int) -> dict:
    """A point's record before its first stage; `run_stage` fills it in."""
    from fluorogate.models.config import parse_bits

    w, a = parse_bits(bits)
    return {
        "bits": bits,
        "channels": channels,
        "weight_bits": w,
        "act_bits": a,
        "fingerprints": {},
        "seconds": {},
        "cached": [],
        "hosts": {},
    }


def _peak_rss_mb() -> float:
    """Peak resident memory of this worker process or its largest tool run so far (an upper bound for the
    stage)."""
    kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return round(kib / 1024, 1)


def run_stage(stage: str, point: dict, cfg: SweepConfig, cache_root: str, code: str) -> dict:
    """Run (or take from the cache) one stage of `point`; return the record with the stage's result merged in.

    `code` is the driver's code fingerprint: a worker whose code differs (another version installed on a
    cluster node) refuses, since its results would be cached under the driver's fingerprint.
    """
    if "error" in point:
        return point  # an earlier stage failed: the point stops there
    host = socket.gethostname()
    if code_fingerprint() != code:
        return point | {
            "error": f"{stage}: worker {host} runs other fluorogate code than the sweep's driver; "
            "install the same version on every node",
            "failed_stage": stage,
        }
    cache = StageCache(cache_root)
    bits, channels = point["bits"], point["channels"]
    fp = fingerprint(
        next(reversed(point["fingerprints"].values()), ""),
        stage,
        code,
        stage_params(stage, cfg, bits, channels),
    )
    result = cache.load(stage, fp)
    cached = result is not None
    if not cached:
        before = {s: cache.entry(s, f) for s, f in point["fingerprints"].items()}
        try:
            result = cache.compute(
                stage,
                fp,
                lambda work: (
                    STAGES[stage](work, cfg, bits, channels, before) | {"peak_rss_mb": _peak_rss_mb()}
                ),
            )
        except StageFailed as failed:
            return point | {
                "error": f"{stage}: {failed.reason}",
                "failed_stage": stage,
                "log": str(failed.log),
            }
    values = {k: v for k, v in result.items() if k not in ("seconds", "peak_rss_mb")}
    return (
        point
        | values
        | {
            "fingerprints": point["fingerprints"] | {stage: fp},
            "seconds": point["seconds"] | {stage: result["seconds"]},
            "peak_rss_mb": point.get("peak_rss_mb", {}) | {stage: result.get("peak_rss_mb")},
            "cached": point["cached"] + ([stage] if cached else []),
            "hosts": point["hosts"] | ({} if cached else {stage: host}),
            "folder": str(cache.entry(stage, fp)),
        }
    )


def run_point(bits: str, channels: int, cfg: SweepConfig, cache_root: str, code: str) -> dict:
    """Every stage of one point in this process (the local executor's unit of work)."""
    point = new_point(bits, channels)
    for stage in cfg.stages():
        point = run_stage(stage, point, cfg, cache_root, code)
    return point
