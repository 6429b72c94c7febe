"""Clipping at training and export: the no-clip camera conversion of a simulated run and the counts an
export records (`clipping.json`). The counting itself is `quantize.clipping`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from fluorogate.errors import UserError
from fluorogate.outputs import write_text_atomic
from fluorogate.quantize.clipping import input_clipping, no_clip_shift, output_saturation
from fluorogate.quantize.ir import CameraConversion
from fluorogate.quantize.rounding import round_shift

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
    from fluorogate.sim.camera import get_preset

    preset = get_preset(tc.preset)
    bits = model.act_bits
    pedestal = max(1, math.ceil(5.0 * preset.read_noise_e * preset.gain_adu_per_e))
    offset = preset.offset_adu - pedestal
    if peak_adu is None:
        _, truth = simulate_pairs(model.task, samples, tc.patch, tc.photons[1], tc, seed=tc.seed + 77_777)
        top = float(truth.max())
        a = preset.gain_adu_per_e * (2 * preset.em_gain if preset.em_gain > 1 else 1)
        noise_var = max(a * (top - preset.offset_adu), 0) + (preset.read_noise_e * preset.gain_adu_per_e) ** 2
        peak_adu = top + sigmas * math.sqrt(noise_var)
    peak = min(peak_adu, preset.max_adu)
    conv = CameraConversion(
        adu_bits=preset.adu_bits,
        offset=offset,
        shift=no_clip_shift(peak, offset, bits) if shift is None else shift,
    )
    if shift is not None:
        clipped = int(
            np.count_nonzero(
                round_shift(np.array([round(peak)]) - offset, shift, model.rounding) > 2**bits - 1
            )
        )
        if clipped and not allow:
            raise UserError(
                f"--input-shift {shift}: the brightest simulated pixels (~{peak:.0f} ADU) would saturate "
                f"the input codes; leave it out (shift {no_clip_shift(peak, offset, bits)} keeps them) "
                "or pass --allow-clipping"
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
