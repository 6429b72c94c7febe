"""A co-simulation's report on disk: cosim.json (every field), cosim.md (for people), and mismatch.png
when any pixel differs (where in the frame, over all frames, and the first bad frame's difference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fluorogate.bench.cosim.config import CosimReport, Mismatch
from fluorogate.outputs import atomic_path, write_text_atomic

PER_FRAME_ROWS = 50  # frames listed in cosim.md (all of them are in cosim.json)


def write_cosim_report(report: CosimReport, out: Path, force: bool = False) -> list[Path]:
    """Write the report files into `out`; never over existing ones without `force`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        write_text_atomic(out / "cosim.json", report.model_dump_json(indent=1) + "\n", force),
        write_text_atomic(out / "cosim.md", markdown(report), force),
    ]
    maps = report._maps
    if report.mismatches and maps.get("first_diff") is not None:
        paths.append(mismatch_png(maps["count"], maps["first_diff"], report, out / "mismatch.png", force))
    return paths


def _where(m: Mismatch | None) -> str:
    if m is None:
        return "-"
    return (
        f"frame {m.frame}, line {m.line}, column {m.column}, channel {m.channel}: got {m.got}, want {m.want}"
    )


def _num(value, unit: str = "", digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 10 ** (digits - 1) else f"{value:,.{digits}g}"
    else:
        text = f"{value:,}"
    return f"{text}{unit}"


def summary(report: CosimReport) -> str:
    """One line: the verdict and the counts."""
    c, h, w = report.frame_shape
    what = f"{report.outputs} frame(s) of {w}x{h}" + (f" ({c} camera frames each)" if c > 1 else "")
    if report.ok:
        return f"bit-exact: {what}, {report.pixels_compared:,} output pixels, 0 differ"
    where = report.localization.first_stage if report.localization else None
    return f"FAILED: {what}: {'; '.join(report.errors)}; first mismatch {_where(report.first_mismatch)}" + (
        f"; first deviating stage {where}" if where else ""
    )


def markdown(report: CosimReport) -> str:
    r = report
    c, h, w = r.frame_shape
    frames = f"{r.frames[0]}..{r.frames[-1]}" if r.frames else "-"
    rows = [
        ("result", "**bit-exact**" if r.ok else f"**FAILED**: {'; '.join(r.errors)}"),
        ("model", r.model),
        ("back end", f"{r.backend} ({r.simulator})"),
        (
            "input",
            f"{r.source or '-'}: movie frames {frames}, {w}x{h}"
            + (f", {c} frames per input" if c > 1 else ""),
        ),
        (
            "output",
            f"{r.outputs} frame(s) of {r.out_shape[2]}x{r.out_shape[1]}, {r.out_shape[0]} channel(s)"
            if r.out_shape
            else "-",
        ),
        ("pixels compared", _num(r.pixels_compared)),
        ("mismatching pixels", f"{r.mismatches:,} in {len(r.mismatching_frames)} frame(s)"),
        ("first mismatch", _where(r.first_mismatch)),
    ]
    if r.localization is not None:
        loc = r.localization
        bad = next((s for s in loc.stages if s.stage == loc.first_stage), None)
        rows.append(
            (
                "first deviating stage",
                f"{bad.stage} ({' -> '.join(bad.nodes)}), {_where(bad.first)}" if bad else loc.note,
            )
        )
    if r.backend == "rtl":
        rows += [
            (
                "stream",
                f"{r.lanes} lane(s), valid gaps {r.gaps:g} (probability of an idle cycle before a beat), "
                f"backpressure {r.backpressure:g} (fraction of cycles tready low)",
            ),
            ("cycles per frame", _num(r.cycles_per_frame)),
            ("pixels per clock (input)", _num(r.pixels_per_clock)),
            (
                "latency, first pixel in to first out",
                f"{_num(r.latency_cycles)} cycles (design.json estimate {_num(r.latency_cycles_model)})",
            ),
            (
                "error flags",
                f"err_line_length {r.err_line_length}, err_missing_sof {r.err_missing_sof}, wrong "
                f"tuser/tlast {r.flag_errors}, undefined (X) beats {r.x_beats}"
                + (f" (first: beat {r.first_x_beat[0]}, cycle {r.first_x_beat[1]})" if r.first_x_beat else "")
                + f", deadlock {'YES' if r.stalled else 'no'}",
            ),
            (
                "counts",
                f"frames_in {r.frames_in}, frames_out {r.frames_out}, output beats {_num(r.out_beats)} of "
                f"{_num(r.out_beats_expected)}, {_num(r.cycles)} cycles",
            ),
        ]
    build = "cached" if r.build_reused else f"{r.build_s:.1f} s"
    speed = [f"{r.sim_s:.2f} s wall" + (f" ({r.sim_cpu_s:.2f} CPU-s)" if r.sim_cpu_s is not None else "")]
    if r.sim_cycles_per_s:
        speed.append(f"{r.sim_cycles_per_s:,} cycles/s")
    if r.sim_pixels_per_s:
        speed.append(f"{r.sim_pixels_per_s:,} px/s")
    rows += [
        ("build", build),
        ("simulation", ", ".join(speed)),
        ("machine load (1 min)", " -> ".join(f"{x:g}" for x in r.load_avg) or "-"),
        ("files", r.work),
    ]
    text = [
        f"# Co-simulation: {r.model}, {r.backend}",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
    ]
    if r.localization is not None:
        text += [
            f"## Node-wise check of frame {r.localization.frame}",
            "",
            "Every stage's output stream, tapped in the RTL, against the reference's tensor "
            "(pipeline order).",
            "",
            "| stage | nodes | tensor | values | differing | first difference |",
            "|---|---|---|---|---|---|",
        ]
        text += [
            f"| {s.stage} | {' -> '.join(s.nodes)} | {s.tensor} | {s.values:,} | {s.mismatches:,} | "
            f"{_where(s.first)} |"
            for s in r.localization.stages
        ]
        text.append("")
    shown = [f for f in r.per_frame if f.mismatches or f.flag_errors] or r.per_frame
    text += [
        "## Frames",
        "",
        "| frame | pixels | differing | tuser/tlast errors | last output beat (cycle) |",
        "|---|---|---|---|---|",
    ]
    text += [
        f"| {f.frame} | {f.pixels:,} | {f.mismatches:,} | {f.flag_errors} | {_num(f.end_cycle)} |"
        for f in shown[:PER_FRAME_ROWS]
    ]
    if len(shown) > PER_FRAME_ROWS:
        text.append(f"\n{len(shown) - PER_FRAME_ROWS} more in cosim.json.")
    if r.mismatches:
        text += ["", "![mismatch map](mismatch.png)"]
    return "\n".join(text) + "\n"


def mismatch_png(
    count: np.ndarray, first_diff: np.ndarray, report: CosimReport, path: Path, force: bool
) -> Path:
    """Left: per output position, the number of frames in which it differed; right: the first bad
    frame's got - want (the channel with the most differences)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    channel = int(np.count_nonzero(first_diff, axis=(1, 2)).argmax())
    diff = first_diff[channel]
    lim = max(1, int(np.abs(diff).max()))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    im = axes[0].imshow(count, cmap="magma", interpolation="nearest", vmin=0, vmax=max(1, int(count.max())))
    axes[0].set_title(f"frames differing per pixel ({len(report.mismatching_frames)} of {report.outputs})")
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    im = axes[1].imshow(diff, cmap="coolwarm", interpolation="nearest", vmin=-lim, vmax=lim)
    first = report.first_mismatch
    axes[1].set_title(f"frame {first.frame if first else '?'}, channel {channel}: got - want")
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    if first is not None:
        axes[1].plot([first.column], [first.line], "o", mfc="none", mec="lime", ms=12)
    for ax in axes:
        ax.set_xlabel("column")
        ax.set_ylabel("line")
    where = report.localization.first_stage if report.localization else None
    fig.suptitle(
        f"{report.model} ({report.backend}): {report.mismatches:,} of {report.pixels_compared:,} pixels "
        "differ" + (f"; first deviating stage {where}" if where else "")
    )
    fig.tight_layout()
    with atomic_path(path, force) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
