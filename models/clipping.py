"""Clipping at training and export: the no-clip camera conversion of a simulated run and the counts an
export records (`clipping.json`). The counting itself is `quantize.clipping`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fluorogate.errors import UserError
from fluorogate.outputs import write_text_atomic
from fluorogate.quantize.clipping import camera_conversion, input_clipping, output_saturation
from fluorogate.quantize.ir import CameraConversion

CLIPPING = "clipping.json"


def simulated_conversion(
    model,
    tc,
    shift: int | None = None,
    allow: bool = False,
    samples: int = 128,
    sigmas: float = 4.0,
    peak_adu: float | None = None,
) -> CameraConversion:
    """The camera conversion of a run trained on the simulator with camera `tc.preset` (e.g. a calibrated
    camera file): the read-noise pedestal below the camera offset, as `models.camera.choose_conversion`,
    and the shift that holds the brightest noise-free pixel of `samples` patches at the top of the photon
    range plus `sigmas` of its noise, or `peak_adu` (the user's movie's, `models.matching.movie_peak`) when
    given (or `shift`, refused if it clips that peak unless `allow`)."""
    from fluorogate.models.data import simulate_pairs
    from fluorogate.models.matching import noisy_peak
    from fluorogate.sim.camera import get_preset

    preset = get_preset(tc.preset)
    bits = model.act_bits
    if peak_adu is None:
        _, truth = simulate_pairs(model.task, samples, tc.patch, tc.photons[1], tc, seed=tc.seed + 77_777)
        peak_adu = noisy_peak(preset, float(truth.max()), sigmas)
    peak = min(peak_adu, preset.max_adu)
    conv = camera_conversion(preset, peak, bits)
    if shift is not None:
        conv = conv.model_copy(update={"shift": shift})
        if input_clipping(np.array([round(peak)]), conv, bits, model.rounding)["high"] and not allow:
            raise UserError(
                f"--input-shift {shift}: the brightest pixels (~{peak:.0f} ADU) would saturate the input "
                f"codes; leave it out (shift {camera_conversion(preset, peak, bits).shift} keeps them) or "
                "pass --allow-clipping"
            )
    return conv


def check_frames(cfg, n: int = 4) -> np.ndarray:
    """Raw ADU frames a run is checked on: its held-out frames (trained on your data), else simulated
    frames at the top of its photon range (the brightest it was trained for)."""
    if cfg.train.data:
        from fluorogate.models.frames import load_data

        _, val = load_data(cfg)
        return np.concatenate(val)[-n:]
    from fluorogate.models.data import simulate_pairs

    adu, _ = simulate_pairs(
        cfg.model.task, n, 64, cfg.train.photons[1], cfg.train, seed=cfg.train.seed + 88_888
    )
    return adu


def record_clipping(run: Path, cfg, graph, force: bool = True) -> dict:
    """Count input codes the camera conversion saturates and output codes at the ceiling, through the
    integer reference (`graph`) on `check_frames`; write `clipping.json` into the run and return it."""
    from fluorogate.quantize.reference import codes_from_adu, run_graph

    if cfg.model.spec.in_channels != 1 or graph.input.camera is None:
        return {}
    adu = check_frames(cfg)
    bits = graph.input.quant.bits
    counts = input_clipping(adu, graph.input.camera, bits, graph.rounding)
    out = np.stack([run_graph(graph, codes_from_adu(graph, f[None]))[0] for f in adu])
    node = graph.node(graph.output)
    top = node.quant.max_int if hasattr(node, "quant") else None
    report = {
        "frames": "held-out frames" if cfg.train.data else f"simulated at {cfg.train.photons[1]:g} photons",
        "input_high": counts["high"],
        "input_low": counts["low"],
        "input_pixels": counts["pixels"],
        "output_at_ceiling": None if top is None else output_saturation(out, top),
        "output_pixels": int(out.size),
        "output_top_code": top,
    }
    write_text_atomic(Path(run) / CLIPPING, json.dumps(report, indent=1) + "\n", force=force)
    return report
