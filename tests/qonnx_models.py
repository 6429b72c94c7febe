"""Exported QONNX models for the integer-reference tests: the project's own networks, calibrated.

A freshly built Brevitas twin has default activation scales; a few training-mode forwards on random
data move them (and the random init gives random weights), which is all a bit-exactness test needs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fluorogate.models import ModelConfig, build_model
from fluorogate.quantize.export import export_qonnx


def calibrated_twin(cfg: ModelConfig, seed: int = 0, weight_gain: float = 1.0) -> torch.nn.Module:
    """A QAT twin with seeded random weights (times `weight_gain`) and data-calibrated scales, in eval
    mode."""
    torch.manual_seed(seed)
    model = build_model(cfg, quant=True)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 4:
                p.mul_(weight_gain)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 1, 16, 16))
    return model.eval()


def exported(
    cfg: ModelConfig, folder: Path, seed: int = 0, weight_gain: float = 1.0
) -> tuple[torch.nn.Module, Path]:
    model = calibrated_twin(cfg, seed, weight_gain)
    path = export_qonnx(model, folder / f"{cfg.task}_{cfg.rounding}_{seed}.qonnx.onnx", size=16)
    return model, path
