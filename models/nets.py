"""The restoration networks, written once for the float model and its Brevitas QAT twin.

Each network asks an `Ops` factory for its layers; `Ops(cfg, quant=False)` gives torch layers and
`Ops(cfg, quant=True)` the Brevitas ones, so both share one definition and the same parameter names
(a float checkpoint loads into the QAT twin). Only what every hardware back end supports is used:
'same' convolutions with stride 1 (3x3, or 5x5 with `ModelConfig.kernel`; the feature-to-feature
convs optionally depthwise-separable, `ModelConfig.separable`), ReLU, channel concat, maxpool 2x2,
nearest upsample 2x.

Every quantizer that rounds sees non-negative values only (each is a ReLU quantizer; the input
arrives on its grid), so `half_up` means the same in Brevitas, QONNX, FINN and the IR. That is why
the global skip is a concat of the input into the last conv rather than an add of a signed residual
(see docs/models.md). A concat's two inputs go through ONE shared quantizer, so they share a scale.
"""

from __future__ import annotations

import torch
from torch import nn

from fluorogate.models.config import ModelConfig


class Ops:
    """Layer factory: float torch layers or their Brevitas twins, per `quant`."""

    def __init__(self, cfg: ModelConfig, quant: bool):
        self.cfg = cfg
        self.quant = quant
        if quant:
            from fluorogate.quantize.qat import make_quantizers

            self.q = make_quantizers(cfg.act_bits, cfg.rounding, cfg.weight_scale)

    def input(self) -> nn.Module:
        """Camera codes in: exact (constant scale `2**-act_bits`) in the QAT twin."""
        if not self.quant:
            return nn.Identity()
        import brevitas.nn as qnn

        return qnn.QuantIdentity(act_quant=self.q.input, return_quant_tensor=True)

    def conv(
        self, cin: int, cout: int, weight_bits: int | None = None, kernel: int | None = None, groups: int = 1
    ) -> nn.Module:
        """A 'same' conv, `cfg.kernel` x `cfg.kernel` unless `kernel` says (`groups=cin`: depthwise)."""
        k = kernel or self.cfg.kernel
        if not self.quant:
            return nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups)
        import brevitas.nn as qnn

        return qnn.QuantConv2d(
            cin,
            cout,
            k,
            padding=k // 2,
            groups=groups,
            weight_quant=self.q.weight(weight_bits or self.cfg.weight_bits),
            bias_quant=self.q.bias,
            return_quant_tensor=False,
        )

    def features(self, cin: int, cout: int) -> nn.Module:
        """A conv from features to features: dense, or with `cfg.separable` the depthwise-separable block
        (depthwise k x k, ReLU quantizer, pointwise 1x1: k*k + cout MACs per input channel and pixel
        where a dense conv takes k*k*cout). A conv reading one channel (the camera) stays dense."""
        if not self.cfg.separable or cin == 1:
            return self.conv(cin, cout)
        return nn.Sequential(self.conv(cin, cin, groups=cin), self.relu(), self.conv(cin, cout, kernel=1))

    def relu(self, out: bool = False, input_grid: bool = False) -> nn.Module:
        """ReLU + unsigned activation quantizer; `out=True` returns a plain tensor (the net's output).

        `input_grid=True` fixes the quantizer to the input's grid (constant scale `2**-act_bits`) instead
        of a learned one: used for the output and for the global skip, so the input passes the skip
        exactly and the output covers the input's full range. (Learned from runtime statistics, both
        settled on half the range, saturating bright pixels: the float-QAT gap was 0.5-2 dB.) The output's
        grid is refined by `cfg.out_extra_bits` fractional bits.
        """
        if not self.quant:
            return nn.ReLU()
        import brevitas.nn as qnn

        quant = self.q.input_grid(self.cfg.out_extra_bits if out else 0) if input_grid else self.q.relu
        return qnn.QuantReLU(act_quant=quant, return_quant_tensor=not out)


def _value(x):
    """A plain tensor from a Brevitas QuantTensor (training) or a tensor (float, export)."""
    return x.value if hasattr(x, "value") and not isinstance(x, torch.Tensor) else x


class DenoiseNet(nn.Module):
    """Residual-style CNN: `layers - 1` conv+ReLU, then one conv over [input, features] (global skip).

    1 -> C -> ... -> C, concat the input -> C+1 -> 1. At C=8, 4 layers: 1,305 MACs per pixel.
    """

    def __init__(self, cfg: ModelConfig, quant: bool):
        super().__init__()
        ops = Ops(cfg, quant)
        c = cfg.channels
        self.inp = ops.input()
        self.head = ops.conv(1, c)
        self.head_act = ops.relu()
        self.body = nn.ModuleList(ops.features(c, c) for _ in range(cfg.layers - 3))
        self.body_act = nn.ModuleList(ops.relu() for _ in range(cfg.layers - 3))
        self.skip_conv = ops.features(c, c)
        self.skip = ops.relu(input_grid=True)  # shared by both inputs of the concat
        self.tail = ops.conv(c + 1, 1, cfg.last_weight_bits)
        self.out = ops.relu(out=True, input_grid=True)

    def features(self, xq: torch.Tensor) -> torch.Tensor:
        """The head and body convs (each with its ReLU) on the quantized input."""
        h = self.head_act(self.head(xq))
        for conv, act in zip(self.body, self.body_act, strict=True):
            h = act(conv(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xq = self.inp(x)
        cat = torch.cat([self.skip(xq), self.skip(self.skip_conv(self.features(xq)))], dim=1)
        return self.out(self.tail(cat))


class UNet(nn.Module):
    """Tiny U-Net: one maxpool level (2C channels there), nearest upsample + conv, concat skips.

    `layers` >= 5: encoder conv, `layers - 4` (>= 1) bottleneck convs, up conv, decoder conv, last conv.
    """

    def __init__(self, cfg: ModelConfig, quant: bool):
        super().__init__()
        ops = Ops(cfg, quant)
        c = cfg.channels
        self.inp = ops.input()
        self.enc = ops.conv(1, c)
        self.skip1 = ops.relu()  # shared: encoder features and up path, the inner concat
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.ModuleList(ops.features(c if i == 0 else 2 * c, 2 * c) for i in range(cfg.layers - 4))
        self.mid_act = nn.ModuleList(ops.relu() for _ in range(cfg.layers - 4))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_conv = ops.features(2 * c, c)
        self.dec = ops.features(2 * c, c)
        self.skip = ops.relu(input_grid=True)  # shared: input and decoder features, the global concat
        self.tail = ops.conv(c + 1, 1, cfg.last_weight_bits)
        self.out = ops.relu(out=True, input_grid=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xq = self.inp(x)
        e = self.skip1(self.enc(xq))
        h = self.pool(e)
        for conv, act in zip(self.mid, self.mid_act, strict=True):
            h = act(conv(h))
        d = self.skip1(self.up_conv(self.up(h)))
        d = self.skip(self.dec(torch.cat([e, d], dim=1)))
        return self.out(self.tail(torch.cat([self.skip(xq), d], dim=1)))


class SR2xNet(DenoiseNet):
    """2x super-resolution: `layers - 2` convs at input resolution, nearest upsample, conv, last conv.

    The last conv sees [upsampled input, features] (global skip), like `DenoiseNet`.
    """

    def __init__(self, cfg: ModelConfig, quant: bool):
        super().__init__(cfg, quant)  # the same layers and parameter names as the denoiser
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xq = self.inp(x)
        h = self.skip(self.skip_conv(self.up(self.features(xq))))
        return self.out(self.tail(torch.cat([self.skip(self.up(xq)), h], dim=1)))


class Sim3Net(DenoiseNet):
    """SIM from 3 raw frames (one per pattern angle, as input channels) to an image at 2x sampling.

    The denoiser's layers at the camera's sampling (head takes the 3 frames), then nearest 2x of
    [input frames, features] (the global skip as a concat) and only the last conv at 2x: its 3x3
    window straddles the nearest blocks differently per output phase, which places detail between
    camera pixels. Cheap: C=8, 5 layers: 2,340 MACs per input pixel (docs/tasks.md, "sim3").
    """

    def __init__(self, cfg: ModelConfig, quant: bool):
        super().__init__(cfg, quant)  # same parameter names; head and tail re-made for the frames
        ops, k = Ops(cfg, quant), cfg.spec.in_channels
        self.head = ops.conv(k, cfg.channels)
        self.tail = ops.conv(cfg.channels + k, 1, cfg.last_weight_bits)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xq = self.inp(x)
        h = self.up(self.skip(self.skip_conv(self.features(xq))))
        return self.out(self.tail(torch.cat([self.skip(self.up(xq)), h], dim=1)))


class SMLMNet(nn.Module):
    """Deep-STORM-style localization: camera frame -> density map at 2x (`models/smlm.py`).

    `layers - 2` conv+ReLU at the camera's sampling, nearest upsample, one conv+ReLU and the last conv
    at 2x. No global skip: the target is a sparse map of spots, not the frame plus a correction. At C=8,
    3 layers: 72 + 4 x (576 + 72) = 2,664 MACs per input pixel. (All convs at 1x and only the last one
    at 2x, 1,321 parameters, collapsed to an all-zero output in a float trial; this one did not.)
    """

    def __init__(self, cfg: ModelConfig, quant: bool):
        super().__init__()
        ops = Ops(cfg, quant)
        c = cfg.channels
        self.inp = ops.input()
        self.body = nn.ModuleList(ops.features(1 if i == 0 else c, c) for i in range(cfg.layers - 2))
        self.body_act = nn.ModuleList(ops.relu() for _ in range(cfg.layers - 2))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_conv = ops.features(c, c)
        self.up_act = ops.relu()
        self.tail = ops.conv(c, 1, cfg.last_weight_bits)
        self.out = ops.relu(out=True, input_grid=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for conv, act in zip(self.body, self.body_act, strict=True):
            h = act(conv(h))
        return self.out(self.tail(self.up_act(self.up_conv(self.up(h)))))


NETS: dict[str, type[nn.Module]] = {
    "denoise": DenoiseNet,
    "unet": UNet,
    "sr2x": SR2xNet,
    "smlm": SMLMNet,
    "sim3": Sim3Net,
}


def build_model(cfg: ModelConfig, quant: bool) -> nn.Module:
    """The float network (`quant=False`) or its Brevitas QAT twin, same parameter names.

    The model keeps its config as `.cfg` (export reads the rounding from it).
    """
    model = NETS[cfg.spec.net](cfg, quant)
    model.cfg = cfg
    return model


def start_training(model: nn.Module, run=None) -> None:
    """Give a network that training starts from scratch its `ModelConfig.tail_init`.

    Applied by training only (`models.train`), not by `build_model`: the back ends' bit-exactness tests
    build untrained twins whose random tail lets every feature reach the output. `run` (a `RunConfig`)
    gives "pedestal" its camera; without it, the camera of the task's default run (`target_pedestal`)."""
    if model.cfg.tail_init == "identity":
        init_tail_identity(model.tail, model.cfg.spec.in_channels)
    elif model.cfg.tail_init == "pedestal":
        init_tail_pedestal(model.tail, target_pedestal(model.cfg, run))


def target_pedestal(cfg: ModelConfig, run=None) -> float:
    """The target's pedestal on the network's scale: the value of a map with no signal (smlm's density map
    where there are no emitters). The target is camera-offset + gain x photons ADU (`sim.smlm`), put on the
    network's scale as the input is (`data.to_network`: (adu - conversion offset) x 2**-(shift + bits)), so
    its floor is the conversion's read-noise pedestal, `preset offset - conversion offset` ADU: the input's
    dark level, and `models.smlm.peak_config`'s baseline (2 codes = 2/256 on scmos, w4a8 smlm). `run` is
    the `RunConfig` whose camera to use; None: the task's default run (its `TaskSpec.train`, the default
    preset, `choose_conversion`), as `fluorogate train --task smlm` makes it."""
    from fluorogate.models.config import TrainConfig
    from fluorogate.quantize.camera import choose_conversion
    from fluorogate.sim.camera import get_preset

    if run is None:
        train = TrainConfig(**cfg.spec.train)
        preset = get_preset(train.preset)
        camera = choose_conversion(preset, train.peak_photons, bits=cfg.act_bits)
    else:
        preset, camera = get_preset(run.train.preset), run.camera
    return (preset.offset_adu - camera.offset) * 2.0 ** (-camera.shift - cfg.act_bits)


def init_tail_pedestal(tail: nn.Conv2d, pedestal: float) -> None:
    """Start the last conv at the target's pedestal (`tail_init="pedestal"`, nets without a global skip).

    Weights 0, bias `pedestal` (> 0): the output is the pedestal everywhere, what the target is where it
    holds no signal, so the output ReLU passes every pixel (a gradient everywhere) and training starts at
    the target's floor, learning the spots on top (SkipInit/ReZero-style zero branch, as "identity" does
    with its feature taps). The other layers get a gradient from the second step on, through the tail's
    weights. PyTorch's random tail instead left smlm's output dead at init for 5 of seeds 0-7
    (docs/models.md). The RNG stream is untouched: the other layers start exactly as under "default".
    """
    if not pedestal > 0:
        raise ValueError(f"tail_init 'pedestal' needs a pedestal > 0, got {pedestal}")
    with torch.no_grad():
        tail.weight.zero_()
        tail.bias.fill_(pedestal)


def init_tail_identity(tail: nn.Conv2d, frames: int) -> None:
    """Start the last conv as the identity through the global skip's input taps (`tail_init="identity"`).

    The input channels come first in the tail's concat and share the output's grid (both on the input's
    scale, `Ops.relu(input_grid=True)`), so centre taps of `1 / frames` make the output the input (the
    mean of the frames; nearest-upsampled for the 2x tasks, like their nearest baseline) and the output
    ReLU passes every pixel above 0. Every other tap and the bias start at 0 (SkipInit/ReZero-style): the
    features get no gradient at step 0 only, since the tail's feature taps do (the output is alive) and
    then pass it on. Keeping the feature taps random instead left seed 3 (C=8) 15% dead, the output up to
    70% off the input, and 300 float steps of seed 1 at 21.8/24.4/31.7 dB (5/10/20 ph) vs 30.3/30.5/35.3
    (docs/models.md). The RNG stream is untouched: the other layers start exactly as under "default".
    """
    centre = tail.weight.shape[-1] // 2
    with torch.no_grad():
        tail.weight.zero_()
        tail.weight[:, :frames, centre, centre] = 1.0 / frames
        tail.bias.zero_()
