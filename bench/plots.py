"""The benchmark's plots: time per frame vs frame size by back end (log-log), PSNR vs bit width, Pareto.

All read the report dicts only (bench.json / sweep.json), so they can be redrawn from saved results.
"""

from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def frame_times(report: dict) -> dict[str, dict[int, float]]:
    """Back end -> {frame size: milliseconds per frame}, from whichever sections ran."""
    sec = report["sections"]
    series: dict[str, dict[int, float]] = {}
    for row in sec.get("fpga", {}).get("sizes", []):
        if "us_per_frame" in row:
            series.setdefault("open RTL (ECP5, nextpnr Fmax)", {})[row["size"]] = row["us_per_frame"] / 1e3
    for size, est in sec.get("finn", {}).get("sizes", {}).items():
        series.setdefault(f"FINN estimate ({est['clock_mhz']:.0f} MHz)", {})[int(size)] = 1e3 / est["fps"]
    sw = sec.get("software", {})
    for size, res in sw.get("sizes", {}).items():
        for name, ms in res["ms_per_frame"].items():
            series.setdefault(name, {})[int(size)] = ms
    for size, res in sw.get("hls4ml_csim", {}).get("sizes", {}).items():
        series.setdefault("hls4ml C-sim", {})[int(size)] = res["csim_s_per_frame"] * 1e3
    return series


def latency_plot(report: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, pts in frame_times(report).items():
        sizes = sorted(pts)
        ax.plot(sizes, [pts[s] for s in sizes], "o-", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("frame size (pixels per side)")
    ax.set_ylabel("time per frame (ms)")
    ax.set_title("Time per frame by back end (CPU: best of interleaved runs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def psnr_bits_plot(sweep: dict, path: Path) -> None:
    """Mean QAT PSNR vs weight bits, one line per channel count."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    by_ch: dict[int, list[tuple[int, float]]] = {}
    for p in sweep["points"]:
        if p.get("psnr_qat") is not None:
            by_ch.setdefault(p["channels"], []).append((p["weight_bits"], p["psnr_qat"]))
    for ch, pts in sorted(by_ch.items()):
        pts.sort()
        ax.plot([b for b, _ in pts], [v for _, v in pts], "o-", label=f"{ch} channels")
    ax.set_xlabel("weight bits (activations 8)")
    ax.set_ylabel("mean QAT PSNR (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def pareto_plot(sweep: dict, path: Path) -> None:
    """PSNR vs LUTs, Pareto-optimal points joined; marker colour = latency cycles at the sweep's size."""
    plt = _plt()
    pts = [p for p in sweep["points"] if p.get("lut") and p.get("psnr_qat") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    if pts:
        sc = ax.scatter(
            [p["lut"] for p in pts],
            [p["psnr_qat"] for p in pts],
            c=[p["latency_cycles"] for p in pts],
            cmap="viridis",
            s=50,
            zorder=3,
        )
        fig.colorbar(sc, ax=ax, label=f"latency (cycles, {sweep['config']['latency_size']}-wide frame)")
        for p in pts:
            fmax = f", {p['fmax_mhz']:.0f} MHz" if p.get("fmax_mhz") else ""
            ax.annotate(
                f"{p['bits']} c{p['channels']}{fmax}",
                (p["lut"], p["psnr_qat"]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
        front = sorted((p for p in pts if p["pareto"]), key=lambda p: p["lut"])
        ax.plot([p["lut"] for p in front], [p["psnr_qat"] for p in front], "r--", lw=1, label="Pareto front")
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("LUT4 (yosys synth_ecp5, core)")
    ax.set_ylabel("mean QAT PSNR (dB)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
