"""`fluorogate bench`: a run folder's model measured on every back end, as a list of named sections.

Each section is a function `(BenchContext) -> dict`; `SECTIONS` maps names to them, and `run_bench`
runs the ones asked for, in order. A section that cannot run (no tool, no half_up twin for FINN, a
failed build) records `{"skipped"|"error": why}` instead of ending the benchmark, so one report
always comes out. An imported run (`fluorogate import`: no training config, no float twin) is benchmarked
on everything its IR and QONNX allow: the RTL against the full-frame cameras, FINN when it rounds
half_up, the reference's speed alone (nothing to race it against), no quality section (no task, data or
float model to compare with). The report (bench.json, bench.md, latency.png, and psnr_bits.png when a sweep's
results are passed) carries the machine's state at the start and at the end: timings on a shared
machine are noisy, and the load says how noisy.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fluorogate.bench.report import BenchReport
from fluorogate.errors import UserError
from fluorogate.models.run_folder import RunFolder
from fluorogate.quantize.ir import IntegerGraph
from fluorogate.steps import StepRecord, run_steps

NO_CONFIG = "no training config (an imported model has none)"


class BenchConfig(BaseModel):
    """What to measure and how hard: frame sizes, the small simulated frame, the build, repeats."""

    model_config = ConfigDict(extra="forbid")

    sizes: list[int] = Field(default_factory=lambda: [256, 512, 2048])
    sim_size: int = Field(default=16, ge=8)  # simulated RTL frame (Icarus: ~400 cycles/s with da4ml kernels)
    sim_frames: int = Field(default=2, ge=2)  # two back to back: the frame period needs two frame ends
    lanes: int = 1
    simulator: str = "icarus"
    build_dir: Path | None = None  # reuse a `fluorogate build` folder's report
    build: bool = True  # else: no Fmax/resources unless build_dir is given
    board: str = "ulx3s-85f"
    freq_mhz: float = 100.0
    finn_clock_ns: float = 5.0
    software_repeats: int = Field(default=3, ge=1)
    software_sizes: list[int] | None = None  # None: the benchmark's sizes
    hls_sizes: list[int] = Field(default_factory=lambda: [16])  # hls4ml C-sim: 15-50 us per pixel
    threads: int = Field(default=1, ge=1)
    quality_frames: int = Field(default=4, ge=1)
    quality_size: int = Field(default=128, ge=16)

    @field_validator("sizes", "hls_sizes")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(s < 8 for s in v):
            raise ValueError(f"frame sizes must be >= 8, got {v}")
        return v


@dataclass
class BenchContext:
    """What the sections share: the run folder, its IR, the config and a scratch folder."""

    run: Path
    graph: IntegerGraph
    cfg: BenchConfig
    work: Path

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run)

    def run_config(self):
        """The run's training config, or None for a run without one (imported with `fluorogate import`)."""
        return self.folder.config if self.folder.has_config else None


Section = Callable[[BenchContext], dict]


def section_fpga(ctx: BenchContext) -> dict:
    """The RTL back end, judged against the camera modes of the run's task (`TaskSpec.cameras`)."""
    from fluorogate.bench.fpga import fpga_rtl
    from fluorogate.bench.keep_up import FULL_FRAME_MODES, task_cameras
    from fluorogate.bench.report import FpgaSection

    c = ctx.cfg
    run_cfg = ctx.run_config()
    task = run_cfg.model.task if run_cfg else ctx.folder.kind  # 'imported' (or 'exported': the exports alone)
    spec = run_cfg.model.spec if run_cfg else None
    out = fpga_rtl(
        ctx.graph,
        c.sizes,
        ctx.work / "fpga",
        sim_size=c.sim_size,
        sim_frames=c.sim_frames,
        lanes=c.lanes,
        simulator=c.simulator,
        build_dir=c.build_dir,
        build=c.build,
        board=c.board,
        freq_mhz=c.freq_mhz,
        cameras=task_cameras(task) if run_cfg else FULL_FRAME_MODES,
        peaks=spec.hook("peaks")(run_cfg) if spec and spec.peaks else None,
    )
    # typed here, where it is made: a field the demo or the CLI reads cannot go missing unnoticed
    return FpgaSection.model_validate({"task": task, **out}).model_dump(mode="json", exclude_none=True)


def section_finn(ctx: BenchContext) -> dict:
    """FINN's estimates per size. FINN computes half_up; a half_even model is benchmarked by its shipped
    half_up twin when the run is the shipped default, else skipped (the numbers would be another model's)."""
    from fluorogate.bench.finn import bench_finn

    qonnx, graph, note = ctx.run / "model.qonnx.onnx", ctx.graph, "this run's model"
    if graph.rounding != "half_up":
        twin = _shipped_twin(ctx)
        if twin is None:
            return {
                "skipped": f"FINN computes half_up; this model rounds {graph.rounding} (train it with "
                "--rounding half_up to get FINN's estimates)"
            }
        qonnx, graph, note = (
            twin / "model.qonnx.onnx",
            IntegerGraph.load(twin / "ir.json"),
            "the shipped half_up twin (same config, trained with half_up rounding)",
        )
    out = bench_finn(qonnx, graph, tuple(ctx.cfg.sizes), clock_ns=ctx.cfg.finn_clock_ns)
    return {**out, "model": note}


def _shipped_twin(ctx: BenchContext) -> Path | None:
    from fluorogate.models.export_run import export_run
    from fluorogate.models.shipped import default_config, shipped_run

    if ctx.run_config() != default_config("half_even"):
        return None
    twin = shipped_run(ctx.work / "half_up_twin", "half_up", force=True)
    export_run(twin, force=True)
    return twin


def section_software(ctx: BenchContext) -> dict:
    """The run's own model: reference (fast and spec paths), float torch, onnxruntime per size (interleaved),
    and hls4ml C-sim on small frames."""
    from fluorogate.bench.hls import bench_hls
    from fluorogate.bench.software import software_throughput

    out: dict = {"threads": ctx.cfg.threads, "sizes": {}}
    for size in ctx.cfg.software_sizes or ctx.cfg.sizes:
        out["sizes"][size] = software_throughput(
            ctx.run, size=size, repeats=ctx.cfg.software_repeats, threads=ctx.cfg.threads, graph=ctx.graph
        )
    if ctx.cfg.hls_sizes:
        out["hls4ml_csim"] = bench_hls(
            ctx.run / "model.qonnx.onnx",
            ctx.graph,
            tuple(ctx.cfg.hls_sizes),
            frames=1,
            workdir=ctx.work / "hls",
        )
    return out


def section_quality(ctx: BenchContext) -> dict:
    from fluorogate.bench.quality import quality

    if ctx.run_config() is None:
        checked = (
            " (the integer reference equals the model bit for bit: checked at import)"
            if ctx.folder.is_imported
            else ""
        )
        return {
            "skipped": f"{NO_CONFIG}, no float twin and no task: nothing to measure quality against{checked}"
        }
    return quality(ctx.run, ctx.graph, frames=ctx.cfg.quality_frames, size=ctx.cfg.quality_size)


def section_framestore(ctx: BenchContext) -> dict:
    """Where a multi-frame task (sim3) holds its earlier camera frames, per camera mode of the task, and
    whether that memory's bandwidth carries the camera; stored as the network's input codes (the conversion
    in front)."""
    from fluorogate.bench.framestore import frame_store_rows
    from fluorogate.bench.keep_up import FULL_FRAME_MODES, task_cameras

    run_cfg = ctx.run_config()
    if run_cfg is None:
        channels = ctx.graph.input.channels
        if channels == 1:
            return {"skipped": "one camera frame per output image, nothing to buffer"}
        name, cameras = ctx.folder.kind, FULL_FRAME_MODES
    else:
        task = run_cfg.model.spec
        if task.in_channels == 1:
            return {"skipped": f"task {task.name}: one camera frame per output image, nothing to buffer"}
        name, channels, cameras = task.name, task.in_channels, task_cameras(task.name)
    bits = ctx.graph.input.quant.bits
    build = None  # with --build-dir: the blocks the routed network left free decide "on chip", as in fpga
    if ctx.cfg.build_dir is not None:
        from fluorogate.bench.fpga import read_build

        try:
            build = read_build(ctx.cfg.build_dir, ctx.graph, ctx.cfg.sizes)
        except UserError:
            build = None  # the fpga section reports why the build is refused
    return {
        "task": name,
        "frames": channels,
        "bits_stored": bits,
        "rows": frame_store_rows(cameras, channels, bits, build=build),
    }


SECTIONS: dict[str, Section] = {
    "fpga": section_fpga,
    "finn": section_finn,
    "software": section_software,
    "quality": section_quality,
    "framestore": section_framestore,
}


def run_bench(
    run: str | Path,
    sizes: list[int] | None,
    out_dir: str | Path,
    sections: list[str | Section] | None = None,
    cfg: BenchConfig | None = None,
    force: bool = False,
    sweep: dict | None = None,
) -> BenchReport:
    """Benchmark run `run` (a folder, trained or imported, or a shipped model's name: `open_run`), write
    bench.json/.md/latency.png into `out_dir`, return the report.

    `sizes` (frame sizes) overrides `cfg.sizes` unless None. `sections`: names from SECTIONS or
    callables (default: all, in SECTIONS' order). `sweep`: a `fluorogate sweep` result, for the
    PSNR-vs-bit-width plot.
    """

    from fluorogate.bench.machine import machine_state
    from fluorogate.bench.plots import latency_plot, psnr_bits_plot
    from fluorogate.bench.render import bench_markdown
    from fluorogate.bench.report import write_report
    from fluorogate.models.runs import open_run
    from fluorogate.outputs import check_writable, write_atomic

    cfg = cfg or BenchConfig()
    if sizes is not None:
        cfg = BenchConfig.model_validate(cfg.model_dump() | {"sizes": sizes})
    out_dir = Path(out_dir)
    for name in ("bench.json", "bench.md", "latency.png", "psnr_bits.png"):
        check_writable(out_dir / name, force)
    chosen = [
        (s, SECTIONS[s]) if isinstance(s, str) else (s.__name__.removeprefix("section_"), s)
        for s in _check_sections(sections)
    ]
    folder = open_run(run)
    run, graph = folder.path, folder.graph
    report = BenchReport(
        run=str(run),
        kind=folder.kind,
        ir=graph.name,
        rounding=graph.rounding,
        config=cfg.model_dump(mode="json"),
        machine_start=machine_state(),
    )

    def keep(rec: StepRecord) -> None:
        report.sections[rec.name] = rec.result
        report.section_seconds[rec.name] = round(rec.seconds, 1)

    with tempfile.TemporaryDirectory(prefix="fluorogate-bench-") as tmp:
        ctx = BenchContext(run, graph, cfg, Path(tmp))
        run_steps(
            [(name, _error_as_result(fn)) for name, fn in chosen],
            ctx,
            desc="bench",
            progress=True,
            after=keep,
        )
    report.machine_end, report.sweep = machine_state(), sweep
    data = report.model_dump(mode="json")  # what bench.json holds; the Markdown and plot are drawn from it
    write_report(data, bench_markdown(data), out_dir, stem="bench", force=force)
    write_atomic(out_dir / "latency.png", lambda p: latency_plot(data, p), force)
    if sweep is not None:
        write_atomic(out_dir / "psnr_bits.png", lambda p: psnr_bits_plot(sweep, p), force)
    return report


def _error_as_result(section: Section) -> Section:
    """A section that reports bad input (a `UserError`) as its result, so the other sections still run."""

    def run(ctx: BenchContext) -> dict:
        try:
            return section(ctx)
        except UserError as exc:
            return {"error": str(exc)}

    return run


def _check_sections(sections: list | None) -> list:
    if sections is None:
        return list(SECTIONS)
    unknown = [s for s in sections if isinstance(s, str) and s not in SECTIONS]
    if unknown:
        raise UserError(f"--sections: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return sections
