"""Quality section of `fluorogate bench`: PSNR/SSIM of float, QAT, the integer reference and the baselines.

The conditions, baselines and metrics are the models engineer's evaluation (`models.evaluate`), so the
numbers are the ones `fluorogate eval` reports. Added here: the integer reference (`run_graph` on the
IR the hardware is built from) on the same camera frames, and the check that it equals the QAT
network bit for bit on every pixel (the reference's output times 2**exp == QAT's float output).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def quality(run: Path, graph, frames: int = 4, size: int = 128) -> dict:
    """Per condition: {method: {psnr, ssim, param}} with 'reference' added, and the bit-exact check."""
    import torch

    from fluorogate.models.evaluate import eval_conditions, restorations, run_network, score_restorations
    from fluorogate.models.run_folder import load_config
    from fluorogate.models.train import load_models
    from fluorogate.quantize.camera import real_to_adu
    from fluorogate.quantize.reference import codes_from_adu, run_graph, to_real
    from fluorogate.sim.camera import get_preset

    cfg = load_config(run)
    flt, qat = load_models(run, cfg)
    torch.set_num_threads(cfg.train.threads)
    offset = get_preset(cfg.train.preset).offset_adu
    table: dict[str, dict] = {}
    checked = differing = 0
    for cond, adu, truth_adu in eval_conditions(cfg, frames, size):
        truths = [t.astype(np.float64) - offset for t in truth_adu]
        restored = restorations(cfg, flt, qat, adu, truths)
        # the integer reference on the hardware's input codes, in the same units as the networks' output
        ref_real = np.stack([to_real(graph, run_graph(graph, codes_from_adu(graph, a)))[0] for a in adu])
        qat_real = run_network(qat, adu, cfg)
        want = real_to_adu(ref_real, cfg.camera, cfg.model.act_bits)
        checked += qat_real.size
        differing += int(np.count_nonzero(want != qat_real))
        restored["reference"] = (list(want - offset), "")
        table[cond] = score_restorations(restored, truths)
    return {
        "frames": frames,
        "size": size,
        "model": cfg.model.model_dump(),
        "conditions": table,
        "reference_equals_qat": {
            "pixels_checked": checked,
            "pixels_differing": differing,
            "bit_exact": differing == 0 and checked > 0,
        },
    }
