"""bench.json -> bench.md: one table per section, in words a microscopy engineer can check."""

from __future__ import annotations

from fluorogate.bench.report import markdown_table


def _machine(m: dict) -> str:
    return (
        f"{m['timestamp_utc']}, {m['cpu_count']} CPUs ({m['cpu_model']}), load average (1/5/15 min) "
        f"{' / '.join(str(x) for x in m['load_avg_1_5_15'])}, torch threads {m['torch_threads']}"
    )


def _fpga(sec: dict) -> list[str]:
    sim = sec["simulation"]
    lines = [
        "## FPGA: open RTL back end",
        "",
        f"Simulated ({sim['simulator']}): {sim['frames']} frames of {sim['frame'][0]}x{sim['frame'][1]} "
        f"back to back, {sim['lanes']} lane(s): bit-exact with the integer reference: **{sim['bit_exact']}** "
        f"({sim['pixels_compared']} pixels, {sim['mismatches']} mismatches). Latency "
        f"{sim['latency_cycles_measured']} cycles measured vs {sim['latency_cycles_model']} modelled; frame "
        f"period {sim['frame_cycles_measured']} cycles measured vs {sim['frame_cycles_model']} modelled. "
        f"Cycle model confirmed: **{sec['cycle_model_confirmed']}** ({sec['cycle_model']}).",
        "",
    ]
    if "error" in sec:
        return [*lines, f"**{sec['error']}**", ""]
    b = sec["build"]
    if "skipped" in b:
        lines += [f"Fmax/resources: skipped ({b['skipped']}).", ""]
    else:
        cells = ", ".join(f"{k} {v}" for k, v in b["core_cells"].items())
        lines += [
            f"Build of {sec.get('design', 'the network')} ({b['board']}, {b['part']}): Fmax "
            f"**{b['fmax_mhz']} MHz** (requested {b['requested_mhz']:g}, timing met: {b['timing_met']}); "
            f"core cells after synthesis: {cells}.",
            "",
        ]
    lines += [markdown_table(sec["sizes"]), ""]
    if sec.get("cameras"):  # judged only against a routed build
        lines += [
            f"Camera modes of the task {sec.get('task', '')} (one lane = Fmax pixels/s). keeps_up: the "
            f"routed build itself ({b['size']}x{b['size']}, {b['lanes']} lane(s) at {b['fmax_mhz']} MHz) "
            "carries the camera; within_max_lanes is arithmetic (4 lanes at this Fmax, not built):",
            "",
            markdown_table(sec["cameras"]),
            "",
        ]
    return lines


def _finn(sec: dict) -> list[str]:
    lines = ["## FPGA: FINN estimates", ""]
    if "sizes" not in sec:
        return [*lines, f"Not run: {sec.get('skipped') or sec.get('error')}", ""]
    rows = [
        {
            "size": s,
            **{
                k: v[k]
                for k in (
                    "lut",
                    "bram18",
                    "dsp",
                    "max_cycles",
                    "latency_cycles",
                    "clock_mhz",
                    "fps",
                    "meets_camera_rate",
                    "build_s",
                )
            },
        }
        for s, v in sec["sizes"].items()
    ]
    return [
        *lines,
        f"Model: {sec['model']}; board {sec['board']}, folded for camera '{sec['camera']}'. FINN's "
        "analytical estimates after folding (not synthesis); each build passed the per-step bit-exact check.",
        "",
        markdown_table(rows),
        "",
    ]


def _software(sec: dict) -> list[str]:
    lines = [
        "## Software (CPU), side by side",
        "",
        f"The run's own model (its `ir.json`, float `model.onnx` and float checkpoint) on one random frame, "
        f"best of interleaved rounds, {sec['threads']} thread(s) for torch and onnxruntime (the fast "
        "reference runs on one). Speedup = the contender's time / the reference's.",
        "",
    ]
    rows, skipped = [], {}
    for size, r in sec["sizes"].items():
        load = r["machine"]["load_avg_1_5_15"][0], r["machine_end"]["load_avg_1_5_15"][0]
        rows.append(
            {
                "size": size,
                **{f"{k} ms": v for k, v in r["ms_per_frame"].items()},
                **{f"speedup vs {k}": v for k, v in r["reference_speedup"].items()},
                "reference path": r["reference_path"],
                "load (start, end)": f"{load[0]}, {load[1]}",
            }
        )
        skipped.update(r["skipped"])
    lines += [markdown_table(rows), ""]
    lines += [f"Not run: {k}: {why}." for k, why in skipped.items()] + ([""] if skipped else [])
    hls = sec.get("hls4ml_csim")
    if hls:
        rows = [
            {
                "size": s,
                "csim ms/frame": v["csim_s_per_frame"] * 1e3,
                "reference ms/frame": v["reference_s_per_frame"] * 1e3,
                "csim / reference": v["csim_s_per_frame"] / v["reference_s_per_frame"],
                "bit_exact": v["bit_exact"],
                "convert s": v["convert_s"],
                "g++ s": v["compile_s"],
            }
            for s, v in hls["sizes"].items()
        ]
        lines += [
            "hls4ml C-sim (`predict` through the compiled bridge, small frames only):",
            "",
            markdown_table(rows),
            "",
        ]
    return lines


def _quality(sec: dict) -> list[str]:
    chk = sec["reference_equals_qat"]
    methods = list(next(iter(sec["conditions"].values())))
    rows = [
        {"condition": c, **{m: f"{r[m]['psnr']:.2f} / {r[m]['ssim']:.3f}" for m in methods}}
        for c, r in sec["conditions"].items()
    ]
    return [
        "## Quality (PSNR dB / SSIM)",
        "",
        f"{sec['frames']} frames of {sec['size']}x{sec['size']} per simulated condition (the real crop: "
        f"256x256). Integer reference == QAT, bit for bit: **{chk['bit_exact']}** ({chk['pixels_checked']} "
        f"pixels checked, {chk['pixels_differing']} differing).",
        "",
        markdown_table(rows),
        "",
    ]


def _framestore(sec: dict) -> list[str]:
    return [
        "## Frame store (multi-frame task)",
        "",
        f"Task {sec['task']}: {sec['frames']} camera frames per output image; the first {sec['frames'] - 1} "
        f"are held ({sec['bits_stored']}-bit input codes) while the last streams in, then read beside it. On "
        "chip where they fit the block-RAM budget, else an external memory: sustained = peak x burst "
        "efficiency x (1 - refresh share), data-sheet timings, no controller built (bench/framestore.py).",
        "",
        markdown_table(sec["rows"]),
        "",
    ]


RENDERERS = {
    "fpga": _fpga,
    "finn": _finn,
    "software": _software,
    "quality": _quality,
    "framestore": _framestore,
}


def bench_markdown(report: dict) -> str:
    lines = [
        f"# fluorogate bench: {report['ir']} ({report['rounding']})",
        "",
        f"Run: `{report['run']}`. Machine at start: {_machine(report['machine_start'])}; at end: "
        f"{_machine(report['machine_end'])}. Timings on a shared machine are noisy.",
        "",
    ]
    order = [n for n in RENDERERS if n in report["sections"]] + [
        n for n in report["sections"] if n not in RENDERERS
    ]
    for name in order:  # the same layout whichever order the sections ran in
        sec = report["sections"][name]
        if set(sec) <= {"error", "skipped"}:
            lines += [f"## {name}", "", f"Not run: {sec.get('error') or sec.get('skipped')}", ""]
        elif name in RENDERERS:
            lines += RENDERERS[name](sec)
        else:
            lines += [f"## {name}", "", "```", str(sec), "```", ""]
    secs = ", ".join(f"{k} {v} s" for k, v in report["section_seconds"].items())
    return "\n".join([*lines, f"Section wall times: {secs}.", ""])
