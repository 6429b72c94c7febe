"""PNG previews of camera frames, so a user can see at a glance what was simulated or restored."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fluorogate.outputs import atomic_path


def preview_path(tiff_path: str | os.PathLike) -> Path:
    """`movie.ome.tif` -> `movie.png`, beside it."""
    path = Path(tiff_path)
    stem = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return path.with_name(stem + ".png")


def save_preview(
    path: str | os.PathLike,
    panels: Sequence[tuple[str, np.ndarray]],
    pixel_nm: float | None,
    title: str,
    force: bool = False,
) -> Path:
    """Side-by-side grey panels (1st-99.8th percentile stretch each) with a scale bar, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6), squeeze=False)
    for ax, (label, img) in zip(axes[0], panels, strict=True):
        img = np.asarray(img, dtype=np.float32)
        lo, hi = np.percentile(img, [1, 99.8])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=max(hi, lo + 1e-6), interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.set_axis_off()
        if pixel_nm:
            bar_um = _nice_bar_um(img.shape[1] * pixel_nm / 1000 / 5)
            bar_px = bar_um * 1000 / pixel_nm
            h, w = img.shape
            ax.plot([w * 0.95 - bar_px, w * 0.95], [h * 0.94] * 2, color="white", linewidth=3)
            ax.text(w * 0.95 - bar_px / 2, h * 0.91, f"{bar_um:g} µm", color="white", ha="center", fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_path(path, force) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)


def _nice_bar_um(target: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above `target` (at least 0.1 um)."""
    best = 0.1
    for base in (1, 2, 5):
        for exp in range(-1, 4):
            value = base * 10**exp
            if best < value <= target:
                best = value
    return best
