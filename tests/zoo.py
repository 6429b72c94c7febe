"""A zoo of foreign models: Brevitas networks built outside `models/nets`, as a user would write them.

`zoo_specs()` is a hypothesis strategy for `ZooSpec`: a small random DAG over the quantized input of
- `conv`: `QuantConv2d` 1x1 or 3x3 ('same'), 1-16 output channels, 2-8 bit power-of-two weights,
  with an `Int16Bias` or without one (a bias needs a quantized input: Brevitas takes its scale from it);
- `relu`: `QuantReLU`, 2-8 bits unsigned; `requant`: `QuantIdentity`, 2-8 bits, signed or unsigned;
- `add` of two unsigned branches and `concat` of any two (on the plain tensors, as a user writes them
  when the branches' scales differ: Brevitas refuses to add or concatenate QuantTensors of unequal scales);
- `maxpool` (2x2) and `upsample` (nearest x2), at most two levels down;
each layer's quantizer with the model's rounding (`half_even`: Brevitas's default `torch.round`;
`half_up`: the user's own `floor(x + 0.5)` module, which Brevitas's export labels `ROUND`, so such a
model is imported with `rounding='half_up'`), with or without a camera front end.

`build_module(spec)` makes the `nn.Module` (calibrated on a few training-mode batches, as QAT would
start), and the `check_*` functions take it through `fluorogate.models.import_run.import_brevitas`
and each back end. `Ledger` counts what was tried, what was bit-exact per back end, what was refused
and why; `FLUOROGATE_ZOO_LEDGER=file.jsonl` appends every outcome to that file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st
from torch import nn

from fluorogate.errors import UserError
from fluorogate.quantize.camera import CameraSettings

FRAME = 16  # the check frames: divisible by 4 (two maxpool levels)
CAMERA = CameraSettings(offset_adu=100, gain_adu_per_e=2.17, read_noise_e=1.4, adu_bits=16)  # an sCMOS
KINDS = ("conv", "relu", "requant", "add", "concat", "maxpool", "upsample")


@dataclass(frozen=True)
class Op:
    """One layer: `kind`, the tensors it reads (0 = the quantized input, k = op k-1's output)."""

    kind: str
    inputs: tuple[int, ...]
    channels: int = 0  # conv: output channels
    kernel: int = 3  # conv: 1 or 3
    bias: bool = False  # conv
    bits: int = 8  # conv: weight bits; relu/requant: activation bits
    signed: bool = False  # requant


@dataclass(frozen=True)
class ZooSpec:
    in_channels: int
    in_bits: int
    in_signed: bool
    camera: bool
    rounding: str
    ops: tuple[Op, ...]
    seed: int = 0

    def describe(self) -> str:
        layers = " ".join(
            f"{o.kind}{o.kernel}x{o.kernel}c{o.channels}w{o.bits}{'b' if o.bias else ''}"
            if o.kind == "conv"
            else f"{o.kind}{'s' if o.signed else ''}{o.bits}"
            if o.kind in ("relu", "requant")
            else o.kind
            for o in self.ops
        )
        return (
            f"in {self.in_channels}ch {'s' if self.in_signed else 'u'}{self.in_bits}"
            f"{' camera' if self.camera else ''} {self.rounding}: {layers}"
        )


@dataclass
class _Tensor:
    channels: int
    level: int  # 0 = the input's resolution, +1 per maxpool, -1 per upsample
    quant: bool  # a QuantTensor (a conv reading it may have a bias)
    nonneg: bool


def _tensors(spec_in: tuple[int, bool], ops: list[Op]) -> list[_Tensor]:
    """The tensors of a DAG prefix, with what the strategy must know of each."""
    ts = [_Tensor(spec_in[0], 0, True, not spec_in[1])]
    for o in ops:
        src = [ts[i] for i in o.inputs]
        a = src[0]
        if o.kind == "conv":
            ts.append(_Tensor(o.channels, a.level, a.quant, False))
        elif o.kind == "relu":
            ts.append(_Tensor(a.channels, a.level, True, True))
        elif o.kind == "requant":
            ts.append(_Tensor(a.channels, a.level, True, not o.signed))
        elif o.kind == "add":
            ts.append(_Tensor(a.channels, a.level, False, True))
        elif o.kind == "concat":
            ts.append(_Tensor(a.channels + src[1].channels, a.level, False, a.nonneg and src[1].nonneg))
        elif o.kind == "maxpool":
            ts.append(_Tensor(a.channels, a.level + 1, a.quant, a.nonneg))
        else:
            ts.append(_Tensor(a.channels, a.level - 1, a.quant, a.nonneg))
    return ts


@st.composite
def zoo_specs(draw, max_ops: int = 8, camera: bool | None = None, rounding: str | None = None) -> ZooSpec:
    """A random foreign model (see the module docstring). Every drawn DAG is a valid Brevitas network;
    whether the hardware takes it is for the import to say."""
    cam = draw(st.booleans()) if camera is None else camera
    rnd = draw(st.sampled_from(["half_even", "half_up"])) if rounding is None else rounding
    in_signed = False if cam else draw(st.booleans())
    in_channels = 1 if cam else draw(st.integers(1, 3))
    in_bits = draw(st.integers(4, 8))
    ops: list[Op] = []
    n_ops = draw(st.integers(1, max_ops))
    for _ in range(n_ops):
        ts = _tensors((in_channels, in_signed), ops)
        last = len(ts) - 1
        # mostly extend the newest tensor (a chain), sometimes branch from an older one
        src = draw(st.one_of(st.just(last), st.integers(0, last)))
        t = ts[src]
        kinds = ["conv", "conv", "relu", "requant"]
        pairs_add = [
            i
            for i, u in enumerate(ts)
            if i != src and u.nonneg and t.nonneg and u.level == t.level and u.channels == t.channels
        ]
        pairs_cat = [
            i for i, u in enumerate(ts) if i != src and u.level == t.level and u.channels + t.channels <= 16
        ]
        if pairs_add:
            kinds.append("add")
        if pairs_cat:
            kinds.append("concat")
        if t.level < 2:
            kinds.append("maxpool")
        if t.level > -1:
            kinds.append("upsample")
        kind = draw(st.sampled_from(kinds))
        if kind == "conv":
            ops.append(
                Op(
                    "conv",
                    (src,),
                    channels=draw(st.integers(1, 16)),
                    kernel=draw(st.sampled_from([1, 3])),
                    bias=t.quant and draw(st.booleans()),
                    bits=draw(st.integers(2, 8)),
                )
            )
        elif kind in ("relu", "requant"):
            ops.append(
                Op(
                    kind,
                    (src,),
                    bits=draw(st.integers(2, 8)),
                    signed=kind == "requant" and draw(st.booleans()),
                )
            )
        elif kind in ("add", "concat"):
            other = draw(st.sampled_from(pairs_add if kind == "add" else pairs_cat))
            ops.append(Op(kind, (src, other)))
        else:
            ops.append(Op(kind, (src,)))
    # the output: the last op's tensor; half the models end in an output quantizer, as most networks do
    # (FINN's accelerator needs one: it emits integer codes), the others in whatever came last
    if draw(st.booleans()):
        ops.append(Op(draw(st.sampled_from(["relu", "requant"])), (len(ops),), bits=draw(st.integers(2, 8))))
    return ZooSpec(in_channels, in_bits, in_signed, cam, rnd, tuple(ops), seed=draw(st.integers(0, 2**16)))


class FloorHalfUp(nn.Module):
    """A user's own `floor(x + 0.5)` rounding (straight-through), for half_up quantizers."""

    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (torch.floor(x + 0.5) - x).detach()


def _quantizers(rounding: str):
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8WeightPerTensorFixedPoint,
        Int16Bias,
        Uint8ActPerTensorFixedPoint,
    )

    quants = (
        Int8WeightPerTensorFixedPoint,
        Int16Bias,
        Uint8ActPerTensorFixedPoint,
        Int8ActPerTensorFixedPoint,
    )
    if rounding == "half_up":
        return tuple(q.let(float_to_int_impl=FloorHalfUp) for q in quants)
    return quants


class ZooNet(nn.Module):
    """The network of a `ZooSpec`: one module per layer, the DAG evaluated in `forward`."""

    def __init__(self, spec: ZooSpec):
        import brevitas.nn as qnn

        super().__init__()
        self.spec = spec
        weight, bias, uact, sact = _quantizers(spec.rounding)
        ts = _tensors((spec.in_channels, spec.in_signed), list(spec.ops))
        self.inp = qnn.QuantIdentity(
            act_quant=sact if spec.in_signed else uact, bit_width=spec.in_bits, return_quant_tensor=True
        )
        layers = []
        for o in spec.ops:
            t = ts[o.inputs[0]]
            if o.kind == "conv":
                layers.append(
                    qnn.QuantConv2d(
                        t.channels,
                        o.channels,
                        o.kernel,
                        padding=o.kernel // 2,
                        weight_quant=weight,
                        weight_bit_width=o.bits,
                        bias=o.bias,
                        bias_quant=bias if o.bias else None,
                        return_quant_tensor=t.quant,
                    )
                )
            elif o.kind == "relu":
                layers.append(qnn.QuantReLU(act_quant=uact, bit_width=o.bits, return_quant_tensor=True))
            elif o.kind == "requant":
                layers.append(
                    qnn.QuantIdentity(
                        act_quant=sact if o.signed else uact, bit_width=o.bits, return_quant_tensor=True
                    )
                )
            else:
                layers.append(nn.Identity())  # add, concat, maxpool, upsample: plain torch ops in forward
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        vals = [self.inp(x)]
        for o, layer in zip(self.spec.ops, self.layers, strict=True):
            a = vals[o.inputs[0]]
            if o.kind == "add":
                vals.append(_plain(a) + _plain(vals[o.inputs[1]]))
            elif o.kind == "concat":
                vals.append(torch.cat([_plain(a), _plain(vals[o.inputs[1]])], dim=1))
            elif o.kind == "maxpool":
                vals.append(nn.functional.max_pool2d(a, 2))
            elif o.kind == "upsample":
                vals.append(nn.functional.interpolate(a, scale_factor=2, mode="nearest"))
            else:
                vals.append(layer(a))
        return _plain(vals[-1])


def _plain(t):
    return getattr(t, "value", t)


def build_module(spec: ZooSpec) -> ZooNet:
    """The spec's network with seeded random weights, its activation scales calibrated on a few
    training-mode batches of random inputs (signed inputs span both signs), in eval mode."""
    torch.manual_seed(spec.seed)
    model = ZooNet(spec)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            x = torch.rand(2, spec.in_channels, FRAME, FRAME)
            model(x * 2 - 1 if spec.in_signed else x)
    return model.eval()


@dataclass
class Ledger:
    """Counts of the zoo: models tried, bit-exact per back end, refused with the reason."""

    tried: int = 0
    exact: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    path: Path | None = field(
        default_factory=lambda: Path(p) if (p := os.environ.get("FLUOROGATE_ZOO_LEDGER")) else None
    )

    def record(self, spec: ZooSpec, outcome: dict) -> None:
        """`outcome`: back end -> "exact" or the refusal's message."""
        self.tried += 1
        for backend, result in outcome.items():
            if result == "exact":
                self.exact[backend] = self.exact.get(backend, 0) + 1
            else:
                reason = f"{backend}: {refusal_reason(result)}"
                self.refused[reason] = self.refused.get(reason, 0) + 1
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(
                    json.dumps(
                        {
                            "spec": spec.describe(),
                            "ops": [asdict(o) for o in spec.ops],
                            **{k: v for k, v in asdict(spec).items() if k != "ops"},
                            **outcome,
                        }
                    )
                    + "\n"
                )


def refusal_reason(message: str) -> str:
    """A refusal's reason without the node's name and numbers, for counting."""
    text = re.sub(r"node \S+", "node N", message)
    return re.sub(r"[-+]?\d[\d.e+-]*", "#", text)[:120]


NODE = re.compile(r"node \S+ \(\w+\)|node \S+: op \w+")


def backend_refusal(exc: Exception) -> str | None:
    """The message when a back end declines a model it cannot build (a `UserError` naming the node), None
    when `exc` is a failure: a failed check (`VerificationError`: a mismatch, a type disagreement with
    the IR, a FIFO deadlock), a compile error, or a bug."""
    from fluorogate.errors import VerificationError

    if not isinstance(exc, UserError) or isinstance(exc, VerificationError) or "g++" in str(exc):
        return None
    return str(exc) if re.search(r"\bnode \S+", str(exc)) else None


def import_or_refusal(spec: ZooSpec, out: Path):
    """(module, run folder) if the import takes the model, else (module, the refusal's message), which
    must name the ONNX node and its op."""
    from fluorogate.models.import_run import import_brevitas

    module = build_module(spec)
    try:
        run = import_brevitas(
            module,
            out,
            channels=spec.in_channels,
            size=FRAME,
            camera=CAMERA if spec.camera else None,
            rounding=spec.rounding,
            peak_photons=60,
            force=True,
        )
    except UserError as exc:
        msg = str(exc)
        assert NODE.search(msg), f"a refusal must name the node and its op: {msg}"
        return module, msg
    return module, run


def hardware_frame(spec: ZooSpec) -> int:
    """The smallest frame a spec's back-end checks use: 4 pixels at its deepest pool level, at least 8
    (cocotb simulates about a hundred pixels per second: the frame decides the zoo's time)."""
    deepest = max(t.level for t in _tensors((spec.in_channels, spec.in_signed), list(spec.ops)))
    return max(8, 4 * 2**deepest)


def frames_for(graph, n: int, seed: int, size: int = FRAME) -> list[np.ndarray]:
    """`n` (C, H, W) input frames: camera ADU spanning the codes' range (and below the offset) when the
    graph has a camera front end, else input codes over the quantizer's range."""
    rng = np.random.default_rng(seed)
    q, c = graph.input.quant, graph.input.channels
    cam = graph.input.camera
    if cam is None:
        return [rng.integers(q.min_int, q.max_int + 1, size=(c, size, size)) for _ in range(n)]
    hi = min(2**cam.adu_bits, cam.offset + ((q.max_int + 8) << max(cam.shift, 0)))
    return [rng.integers(max(0, cam.offset - 20), hi, size=(c, size, size)) for _ in range(n)]


def reference_codes(graph, frames: list[np.ndarray]) -> np.ndarray:
    """(N, C', H', W') reference output codes of input `frames` (ADU through the front end if any)."""
    from fluorogate.quantize.reference import codes_from_adu, run_graph

    to_codes = (lambda f: codes_from_adu(graph, f)) if graph.input.camera else (lambda f: f)
    return np.stack([run_graph(graph, to_codes(f)) for f in frames])


def check_streaming(graph, frames: list[np.ndarray], seed: int = 0) -> int:
    """The streaming reference (line buffers, blanking and random valid gaps, backpressure) vs the whole
    frame reference: mismatching output values (single-channel inputs only: the streaming form's)."""
    from fluorogate.quantize.streaming import run_stream, stream_to_tensors
    from fluorogate.sim.stream import StreamConfig, frames_to_beats, ready_pattern

    h, w = frames[0].shape[-2:]
    stream = frames_to_beats(
        [f[0] for f in frames], StreamConfig(line_gap=2, frame_gap=5, valid_prob=0.7, seed=seed)
    )
    out = run_stream(
        graph,
        stream,
        w,
        h,
        adu=graph.input.camera is not None,
        ready=ready_pattern(20 * len(stream), 0.7, seed),
    )
    want = reference_codes(graph, frames)
    oc, oh, ow = want.shape[1:]
    got = np.stack(stream_to_tensors(out, ow, oh, oc, 1))
    return int(np.count_nonzero(got != want))


def check_hls4ml(run, work: Path, frames: list[np.ndarray]) -> int:
    """hls4ml project at the frames' size, its own g++ testbench (bounded FIFOs) on the frames' input
    codes vs the reference: mismatching output values."""
    from fluorogate.hls.hls4ml.build import build_project
    from fluorogate.hls.hls4ml.config import make_config
    from fluorogate.hls.hls4ml.csim import run_hls4ml_testbench
    from fluorogate.quantize.reference import codes_from_adu

    graph = run.graph
    h, w = frames[0].shape[-2:]
    ctx = build_project(str(run.qonnx_path), graph, make_config(width=w, height=h), work / "hls", force=True)
    codes = np.stack([codes_from_adu(graph, f) if graph.input.camera else f for f in frames])
    want = reference_codes(graph, frames)
    got = run_hls4ml_testbench(ctx.out_dir, ctx.cfg.project_name, graph, codes, want)
    return int(np.count_nonzero(got != want))


def check_rtl(run, work: Path, frames: list[np.ndarray], seed: int = 0):
    """The generated RTL under cocotb (Icarus), frames streamed with blanking and random valid gaps, random
    backpressure: the `StreamResult` (every output pixel compared with the reference in the bench)."""
    from fluorogate.bench.cosim.cocotb_run import simulate_graph
    from fluorogate.sim.stream import StreamConfig, frames_to_beats, pack_channels

    graph = run.graph
    bits = graph.input.camera.adu_bits if graph.input.camera else graph.input.quant.bits
    words = [pack_channels(f & ((1 << bits) - 1), bits) for f in frames]  # two's complement per channel
    stream = frames_to_beats(words, StreamConfig(line_gap=3, frame_gap=7, valid_prob=0.75, seed=seed))
    return simulate_graph(graph, frames, work, stream=stream, ready_prob=0.7, seed=seed)


def check_finn(run, work: Path, size: int = FRAME) -> dict:
    """FINN (finn-plus) build of a half_up model at `size`, its execution compared with the reference
    after every step (`FinnCheckError` on a mismatch): the build's check summary."""
    from fluorogate.hls.finn.flow import FinnConfig, build_finn

    cfg = FinnConfig(size=(size, size), check_size=(size, size), check_frames=2)
    return build_finn(run.qonnx_path, run.graph, cfg, work / "finn", progress=False).summary["check"]
