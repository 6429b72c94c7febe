"""The demo's steps: the whole chain on the built-in default, each step one stage of the pipeline.

Every step takes the `DemoContext`, writes into `ctx.out`, puts what later steps (and the final
summary) need into `ctx.results` (JSON values and paths only: the demo caches them), and returns a
one-line summary. The joints where two implementations meet are checked bit for bit, and the counts
go into the results as `mismatches_<joint>`.
"""

from __future__ import annotations

import numpy as np

from fluorogate.errors import UserError


def step_simulate(ctx) -> str:
    """A short simulated camera movie: OME-TIFF, noise-free truth and a PNG preview."""
    from fluorogate.sim.pairs import simulate_movie
    from fluorogate.sim.save import write_movie

    c = ctx.config
    movie = simulate_movie(c.frames, c.size, c.photons, c.background, c.preset, c.specimen, c.seed)
    title = f"{c.preset}, {c.specimen}, {c.photons:g} photons/px over {c.background:g}"
    paths = write_movie(movie, ctx.out / "movie.ome.tif", title, force=True, truth=True)
    ctx.results.update(movie=paths[0], movie_preview=paths[1], movie_truth=paths[2])
    return f"{c.frames} frames {c.size}x{c.size}: {paths[0]} (preview {paths[1].name}, truth {paths[2].name})"


def step_model(ctx) -> str:
    """The shipped default denoiser as a run folder, or (`--train`) one trained now with its recorded
    recipe."""
    from fluorogate.models.shipped import default_config, shipped_run

    run = ctx.out / "run"
    if ctx.config.train:
        from fluorogate.models.run_folder import save_config
        from fluorogate.models.train import train

        cfg = default_config(ctx.config.rounding)
        run.mkdir(parents=True, exist_ok=True)
        (run / "checkpoint.pt").unlink(missing_ok=True)
        save_config(run, cfg)
        metrics = train(run, cfg)
        how = f"trained now ({metrics['step']} steps)"
    else:
        shipped_run(run, ctx.config.rounding, force=True)
        how = "shipped weights"
    ctx.results["run"] = run
    return f"denoise W4A8 {ctx.config.rounding}, {how}: {run}"


def step_export(ctx) -> str:
    """QONNX (with the camera conversion and rounding in its metadata), float ONNX, and the IR."""
    from fluorogate.models.export_run import export_run

    paths = export_run(ctx.results["run"], force=True)
    ctx.results.update(qonnx=paths["model.qonnx.onnx"], float_onnx=paths["model.onnx"], ir=paths["ir.json"])
    graph = _graph(ctx)
    widths = {n: r.bits for n, r in graph.ranges.items() if graph.node(n).op == "conv"}
    return f"{len(graph.nodes)} IR nodes, accumulator widths {list(widths.values())} bits: {paths['ir.json']}"


def step_reference(ctx) -> str:
    """The integer reference on every frame of the movie, against the Brevitas QAT model, bit for bit."""
    import torch

    from fluorogate.imageio import read_tiff, write_tiff
    from fluorogate.models.metrics import psnr
    from fluorogate.models.run_folder import load_config
    from fluorogate.models.train import load_models
    from fluorogate.quantize.camera import codes_to_real, real_to_adu
    from fluorogate.quantize.reference import codes_from_adu, run_graph
    from fluorogate.sim.preview import save_preview

    graph = _graph(ctx)
    cfg = load_config(ctx.results["run"])
    _, qat = load_models(ctx.results["run"], cfg)
    image = read_tiff(ctx.results["movie"])
    movie = image.data
    truth = np.broadcast_to(
        read_tiff(ctx.results["movie_truth"]).data.astype(np.float64), movie.shape
    )  # one specimen
    codes = codes_from_adu(graph, movie)
    ref = np.stack([run_graph(graph, c)[0] for c in codes])
    with torch.no_grad():
        y = qat(torch.from_numpy(codes_to_real(codes, cfg.model.act_bits))[:, None]).numpy()[:, 0]
    out_exp = graph.exps()[graph.output]
    qat_codes = np.rint(y.astype(np.float64) * 2.0**-out_exp).astype(np.int64)
    mism = int(np.count_nonzero(qat_codes != ref))
    restored = real_to_adu(ref * 2.0**out_exp, cfg.camera, cfg.model.act_bits)
    path = write_tiff(
        ctx.out / "restored.ome.tif",
        np.clip(np.rint(restored), 0, 65535).astype(np.uint16),
        image.pixel_size_um,
        force=True,
    )
    pixel_nm = image.pixel_size_um * 1000 if image.pixel_size_um else None
    save_preview(
        ctx.out / "restored.png",
        [
            ("camera frame", movie[0]),
            ("restored (= FPGA output)", restored[0]),
            ("noise-free truth", truth[0]),
        ],
        pixel_nm,
        "integer reference on the first frame",
        force=True,
    )
    ctx.results.update(
        restored=path,
        mismatches_brevitas_vs_reference=mism,
        pixels_brevitas_vs_reference=int(ref.size),
        psnr_noisy_db=round(psnr(movie.astype(np.float64), truth), 2),
        psnr_restored_db=round(psnr(restored, truth), 2),
    )
    return (
        f"{ref.size} pixels, {mism} differ from Brevitas; PSNR {ctx.results['psnr_noisy_db']} dB noisy -> "
        f"{ctx.results['psnr_restored_db']} dB restored: {path}"
    )


def step_hls4ml(ctx) -> str:
    """An hls4ml (Vitis) project for the movie's frame size, and whole movie frames through its g++
    C-simulation (the AXI4-Stream video wrapper's testbench), every pixel against the reference."""
    graph, c = _graph(ctx), ctx.config
    rep = _cosim(ctx, "hls4ml", _movie(ctx)[: c.hls4ml_frames * graph.input.channels])
    ctx.results.update(
        hls_project=ctx.out / "hls4ml" / "sim" / "hls4ml",
        hls_report=ctx.out / "hls4ml" / "cosim.md",
        mismatches_reference_vs_hls4ml_csim=rep.mismatches,
        pixels_reference_vs_hls4ml_csim=rep.pixels_compared,
    )
    h, w = rep.frame_shape[1:]
    return (
        f"{rep.outputs} whole {w}x{h} frame(s) through the C-sim: {rep.mismatches} of {rep.pixels_compared} "
        f"pixels differ ({rep.sim_s:.0f} s C-sim after a {rep.build_s:.0f} s build); "
        f"{ctx.out / 'hls4ml' / 'cosim.md'}"
    )


def step_rtl(ctx) -> str:
    """Every frame of the movie through the generated Verilog (`run_cosim`: Verilator where installed,
    else Icarus), with valid gaps and backpressure; every pixel against the reference.

    Rate and latency without stalls are measured by the bench step (checked there against the cycle model).
    """
    c = ctx.config
    rep = _cosim(ctx, "rtl", _movie(ctx), gaps=c.rtl_gaps, backpressure=c.rtl_backpressure)
    ctx.results.update(
        cosim_report=ctx.out / "cosim" / "cosim.md",
        mismatches_reference_vs_rtl=rep.mismatches,
        pixels_reference_vs_rtl=rep.pixels_compared,
        rtl_sim_cycles_per_s=rep.sim_cycles_per_s,
        rtl_sim_px_per_s=rep.sim_pixels_per_s,
    )
    h, w = rep.frame_shape[1:]
    return (
        f"{rep.outputs} whole {w}x{h} frames under {rep.simulator} with valid gaps {c.rtl_gaps:g} and "
        f"backpressure {c.rtl_backpressure:g}: {rep.mismatches} of {rep.pixels_compared} pixels differ; "
        f"{rep.cycles:,} cycles in {rep.sim_s:.1f} s ({rep.sim_cycles_per_s:,} cycles/s; build "
        f"{'cached' if rep.build_reused else f'{rep.build_s:.0f} s'}); {ctx.out / 'cosim' / 'cosim.md'}"
    )


def _cosim(ctx, backend: str, frames: np.ndarray, **stream):
    """`run_cosim` on the demo's run; the report written beside the simulation (`cosim/` or `hls4ml/`).
    A failed flag or count (not a mismatching pixel: that is the joint's count) stops the demo."""
    from fluorogate.bench.cosim.config import CosimConfig
    from fluorogate.bench.cosim.reporting import summary, write_cosim_report
    from fluorogate.bench.cosim.run import run_cosim
    from fluorogate.models.run_folder import RunFolder

    out = ctx.out / ("cosim" if backend == "rtl" else "hls4ml")
    rep = run_cosim(
        RunFolder(ctx.results["run"]),
        frames,
        CosimConfig(backend=backend, seed=ctx.config.seed, **stream),
        out / "sim",
        source=str(ctx.results["movie"]),
    )
    write_cosim_report(rep, out, force=True)
    if [e for e in rep.errors if "pixels differ" not in e]:
        raise UserError(f"{backend} co-simulation: {summary(rep)}; see {out / 'cosim.md'}")
    return rep


def step_bitstream(ctx) -> str:
    """The design at the camera's full frame width, through yosys + nextpnr to an ECP5 (ULX3S 85F)
    bitstream."""
    from fluorogate.firmware.build import core_build_config, run_build
    from fluorogate.firmware.generate import RtlConfig, write_design

    graph, c = _graph(ctx), ctx.config
    write_design(
        graph, RtlConfig(width=c.bitstream_width, height=c.bitstream_height), ctx.out / "rtl", force=True
    )
    cfg = core_build_config(ctx.out / "rtl", board="ulx3s-85f", freq_mhz=c.freq_mhz)
    report = run_build(cfg, ctx.out / "bitstream", force=True)
    ctx.results.update(
        bitstream=ctx.out / "bitstream" / report.bitstream,
        timing_met=report.timing_met,
        fmax_mhz=min(clk.achieved_mhz for clk in report.clocks),
        core_cells=report.core_cells,
    )
    return report.summary()


def step_bench(ctx) -> str:
    """`fluorogate bench` on the demo's run, reusing its bitstream build: latency, cameras, speed, quality.

    The FINN section (minutes) and the larger software sizes are left to `fluorogate bench` itself.
    """
    from fluorogate.bench.run import BenchConfig, run_bench

    build = ctx.out / "bitstream"
    cfg = BenchConfig(
        build=False,
        build_dir=build if (build / "build_report.json").is_file() else None,
        software_sizes=[512],
        software_repeats=1,
        hls_sizes=[16],
    )
    report = run_bench(
        ctx.results["run"],
        None,
        ctx.out / "bench",
        sections=["fpga", "software", "quality"],
        cfg=cfg,
        force=True,
    )
    fpga = report.fpga
    ctx.results["bench_report"] = ctx.out / "bench" / "bench.md"
    row = fpga.size(2048) if fpga else None
    if row is None or row.us_per_frame is None:
        why = report.sections["fpga"].get("error") if fpga is None else fpga.error or fpga.build
        return f"{ctx.out / 'bench' / 'bench.md'} (no Fmax: {why})"
    build_info, sim = fpga.build, fpga.simulation
    kept = [c.camera for c in fpga.cameras if c.keeps_up]
    arithmetic = [c.camera for c in fpga.cameras if c.within_max_lanes and not c.keeps_up]
    lanes = build_info.get("lanes", 1)
    ctx.results.update(
        fmax_mhz=fpga.fmax_mhz,
        us_per_frame_2048=row.us_per_frame,
        max_fps_2048=row.max_fps,
        latency_us_2048=row.latency_us,
    )
    return (
        f"RTL sim {sim.frame[0]}x{sim.frame[1]}: {sim.frame_cycles_model / sim.frame_cycles_measured:.3f} "
        f"px/clock, latency {sim.latency_cycles_measured} cycles (cycle model confirmed: "
        f"{fpga.cycle_model_confirmed}); 2048x2048: {row.us_per_frame} us per frame ({row.max_fps} fps) and "
        f"{row.latency_us} us added latency at {fpga.fmax_mhz} MHz (timing "
        f"{'met' if build_info['timing_met'] else 'NOT met'} at {build_info['requested_mhz']:g}); the routed "
        f"build ({lanes} lane(s)) keeps up with: {', '.join(kept) or 'none'}; arithmetic, not built: up to 4 "
        f"lanes at this Fmax would carry {', '.join(arithmetic) or 'none'}. Report: "
        f"{ctx.out / 'bench' / 'bench.md'}"
    )


def _graph(ctx):
    from fluorogate.quantize.ir import IntegerGraph

    return IntegerGraph.load(ctx.results["ir"])


def _movie(ctx) -> np.ndarray:
    """The demo's camera movie (frames, H, W) as stored (uint16 ADU)."""
    from fluorogate.imageio import read_tiff

    return read_tiff(ctx.results["movie"]).data
