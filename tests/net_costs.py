"""What a network costs in arithmetic, for the tests that hold the tasks to their MAC budgets (docs/tasks.md).

The hardware's own cost (LUTs, Fmax) comes from routed builds; this is the design-time count.
"""

from __future__ import annotations

import torch
from torch import nn

from fluorogate.models.config import ModelConfig
from fluorogate.models.nets import build_model


def macs_per_pixel(cfg: ModelConfig) -> float:
    """Multiply-accumulates per input pixel (for sr2x the convs after the upsample count 4 times)."""
    model = build_model(cfg, quant=False)
    macs = 0.0
    size = 32
    hooks = []

    def count(mod: nn.Module, _inp, out) -> None:
        nonlocal macs
        macs += mod.weight.numel() * out.shape[-1] * out.shape[-2]

    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(count))
    with torch.no_grad():
        model(torch.zeros(1, cfg.spec.in_channels, size, size))
    for h in hooks:
        h.remove()
    return macs / (size * size)
