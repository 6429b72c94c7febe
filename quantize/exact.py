"""Exact integer arithmetic in floating point: the carrier dtypes and the one convolution kernel.

An IEEE float with a p-bit significand represents every integer of magnitude <= 2**p exactly, and a
correctly rounded +, * or fused multiply-add whose exact result is such an integer returns it
unchanged. So a plain sum of integer products whose every partial sum is bounded by 2**p is exact in
floating point, in any order of summation: p = 24 for float32, 53 for float64. Past 2**53 int64 is
used (exact to 2**63, slow). The op classes (`quantize/ops/`) run their arithmetic through these; the
proof that the bounds hold for a graph is `reference.widest_integer` (see reference.py).
"""

from __future__ import annotations

from contextlib import contextmanager

from fluorogate.errors import UserError

FLOAT32_EXACT = 2**24
FLOAT64_EXACT = 2**53


def exact_dtype(bound: int):
    """The cheapest torch dtype in which every integer of magnitude <= bound is exact."""
    import torch

    if bound <= FLOAT32_EXACT:
        return torch.float32
    if bound <= FLOAT64_EXACT:
        return torch.float64
    if bound < 2**63:
        return torch.int64
    raise UserError(
        f"the graph's integers may reach {bound} (>= 2**63): no exact datapath; narrow the bit widths"
    )


@contextmanager
def _ieee_fp32():
    """oneDNN computes float32 convs in TF32/BF16 if the user allowed it: force IEEE float32 then.

    Only touched when needed: changing the setting invalidates oneDNN's primitive cache (2x slower).
    """
    import torch

    conv = torch.backends.mkldnn.conv
    saved = conv.fp32_precision
    if saved in ("none", "ieee"):
        yield
        return
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = saved


def conv_frame(x, wm, bias, kernel: int, pad_rows: bool = True, groups: int = 1):
    """Exact 'same' conv of a frame or a row window x (C, H, W) -> (O, H', W'), in x's carrier dtype.

    `wm` is (O, C / groups, kernel, kernel): `groups=C` is a depthwise conv. `pad_rows=False` is the
    streaming form: the caller supplies the rows above and below (a window of `kernel` rows per output
    row), so only the columns are zero-padded and H' = H - kernel + 1. The algorithm must be a plain
    sum of products (a Winograd or FFT convolution transforms its operands with fractions and is not
    exact): float32 goes to oneDNN's direct convolution (PyTorch asks ideep for
    `convolution_direct`, never Winograd), float64 to ATen's im2col + GEMM; int64 to explicit taps.
    """
    import torch
    import torch.nn.functional as F

    p = kernel // 2
    pad = (p, p) if pad_rows else (0, p)
    if x.dtype == torch.int64:  # no integer conv in torch: sum the taps
        xp = F.pad(x, (p, p, pad[0], pad[0]))
        h, w = xp.shape[1] - kernel + 1, x.shape[2]
        if groups == 1:
            acc = sum(
                torch.einsum("oc,chw->ohw", wm[:, :, dy, dx], xp[:, dy : dy + h, dx : dx + w])
                for dy in range(kernel)
                for dx in range(kernel)
            )
        elif groups == x.shape[0] == wm.shape[0]:
            acc = sum(
                wm[:, 0, dy, dx, None, None] * xp[:, dy : dy + h, dx : dx + w]
                for dy in range(kernel)
                for dx in range(kernel)
            )
        else:  # pragma: no cover - the IR has dense and depthwise convs only
            raise ValueError(f"groups={groups}: only dense (1) and depthwise (= channels) convs")
        return acc if bias is None else acc + bias[:, None, None]
    with _ieee_fp32():
        return F.conv2d(x[None], wm, bias, padding=pad, groups=groups)[0]
