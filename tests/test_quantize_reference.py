"""The integer reference, bit for bit: against Brevitas's QAT forward and qonnx's execute_onnx, on
random, simulated, real and extreme frames, both roundings; and the float-exactness proof at its edges."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from qonnx_models import exported

from fluorogate.errors import UserError
from fluorogate.models import ModelConfig
from fluorogate.quantize.from_qonnx import build_integer_graph
from fluorogate.quantize.ir import CameraConversion, IntegerGraph
from fluorogate.quantize.ranges import analyze, conv_bounds
from fluorogate.quantize.reference import (
    FLOAT32_EXACT,
    FLOAT64_EXACT,
    codes_from_adu,
    exact_dtype,
    plan_for,
    quantize_float_input,
    run_graph,
    run_graph_tensors,
    to_real,
)

# Every task and both roundings, in 4 exports (random models below cover the other combinations), and the
# 5x5 and depthwise convs (a depthwise-separable U-Net of 5x5 windows).
CASES = [
    ("denoise", "half_even", {}),
    ("denoise", "half_up", {}),
    ("unet", "half_up", {}),
    ("sr2x", "half_even", {}),
    ("unet", "half_even", {"kernel": 5, "separable": True}),
]


@pytest.fixture(
    scope="module", params=CASES, ids=[f"{t}-{r}" + "".join(f"-{k}" for k in o) for t, r, o in CASES]
)
def net(request, tmp_path_factory):
    task, rounding, ops = request.param
    model, path = exported(ModelConfig(task=task, rounding=rounding, **ops), tmp_path_factory.mktemp("q"))
    return model, path, build_integer_graph(path)


def _brevitas(model, codes: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(codes.astype(np.float32) / 256)[None, None]).numpy()[0]


def _frames(size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:size, :size]
    hot = np.zeros((size, size), np.int64)
    hot[size // 2, size // 3] = hot[0, 0] = hot[-1, -1] = 255
    return {
        "random": rng.integers(0, 256, (size, size)),
        "zero": np.zeros((size, size), np.int64),
        "max": np.full((size, size), 255),
        "checker": ((yy + xx) % 2) * 255,
        "hot": hot,
        "stripes": (xx % 3 == 0) * 255,
    }


def test_equals_qonnx_execution(net):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    _, path, graph = net
    wrapper = ModelWrapper(str(path))
    name_in, name_out = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    for what, codes in _frames(16).items():
        x = (codes.astype(np.float32) / 256)[None, None]
        want = execute_onnx(wrapper, {name_in: x})[name_out][0]
        got = to_real(graph, run_graph(graph, codes))
        assert np.array_equal(got, want), f"{what}: {np.sum(got != want)} pixels differ"


@pytest.mark.parametrize("engine", ["spec", "fast"])  # the torch spec path and the fast kernels (g++)
def test_equals_brevitas_on_extremes_and_odd_sizes(net, engine):
    model, _, graph = net
    for what, codes in _frames(24).items():
        assert np.array_equal(to_real(graph, run_graph(graph, codes, engine)), _brevitas(model, codes)), what
    codes = np.random.default_rng(3).integers(0, 256, (20, 36))  # not square, not the export size
    assert np.array_equal(to_real(graph, run_graph(graph, codes, engine)), _brevitas(model, codes))


def test_equals_brevitas_on_simulated_and_real_frames(net):
    from fluorogate.quantize.camera import choose_conversion
    from fluorogate.sim.camera import get_preset
    from fluorogate.sim.pairs import denoise_batch
    from fluorogate.sim.real import load_real_crop

    model, _, graph = net
    preset = get_preset("scmos")
    cam_graph = graph.model_copy(deep=True)
    cam_graph.input.camera = choose_conversion(preset, peak_photons=60)
    noisy, _ = denoise_batch(1, 32, photons=30, seed=5)
    codes = codes_from_adu(cam_graph, noisy[0])
    assert codes.max() > 0
    assert np.array_equal(to_real(graph, run_graph(cam_graph, codes)), _brevitas(model, codes))
    crop = load_real_crop().data[:64, :64].astype(np.int64)
    cam_graph.input.camera = CameraConversion(
        adu_bits=16, offset=int(crop.min()), shift=max(0, int(crop.max() - crop.min()).bit_length() - 8)
    )
    codes = codes_from_adu(cam_graph, crop)
    assert codes.max() > 128
    assert np.array_equal(to_real(graph, run_graph(cam_graph, codes)), _brevitas(model, codes))


def test_float_input_is_quantized_like_the_input_quantizer(net):
    model, _, graph = net
    x = np.random.default_rng(4).uniform(-0.2, 1.2, (16, 16)).astype(np.float32)
    x[0, :4] = [0.5 / 256, 1.5 / 256, 2.5 / 256, 254.5 / 256]  # ties
    x[1, :2] = [
        np.nextafter(np.float32(0.5), np.float32(0)) / 256,
        np.nextafter(np.float32(1.5), np.float32(0)) / 256,
    ]
    with torch.no_grad():
        want = model(torch.from_numpy(x)[None, None]).numpy()[0]
    assert np.array_equal(to_real(graph, run_graph(graph, quantize_float_input(graph, x))), want)


def _check_random_model(
    folder,
    task,
    channels,
    extra_layers,
    weight_bits,
    act_bits,
    last_bits,
    rounding,
    seed,
    gain,
    out_extra_bits=0,
):
    layers = {"denoise": 3, "unet": 5, "sr2x": 3}[task] + extra_layers
    cfg = ModelConfig(
        task=task,
        channels=channels,
        layers=layers,
        weight_bits=weight_bits,
        act_bits=act_bits,
        last_weight_bits=last_bits,
        rounding=rounding,
        out_extra_bits=out_extra_bits,
    )
    try:
        model, path = exported(cfg, folder, seed=seed, weight_gain=gain)
    except UserError as exc:
        # export_qonnx refuses a twin whose weight scale moves when its weights are snapped onto their
        # grid (random low-bit weights, untrained): an export-side limit, not an exactness question.
        assume("changed its scale" not in str(exc))
        raise
    try:
        graph = build_integer_graph(path)
    except UserError as exc:
        # A quantizer that saw only zeros while calibrating (a dead random net) collapses to Brevitas's
        # scaling_min_val 1e-10: refusing it is right and says nothing about exactness.
        assume("collapsed scale" not in str(exc))
        raise
    codes = np.random.default_rng(seed).integers(0, 2**act_bits, (16, 20))
    with torch.no_grad():
        want = model(torch.from_numpy(codes.astype(np.float32) * 2.0**-act_bits)[None, None]).numpy()[0]
    for engine in ("spec", "fast"):
        assert np.array_equal(to_real(graph, run_graph(graph, codes, engine)), want)
    out = graph.node(graph.output)
    assert (out.quant.bits, out.quant.exp) == (act_bits + out_extra_bits, -act_bits - out_extra_bits)


def test_finer_output_grid_equals_brevitas(tmp_path):
    """`out_extra_bits`: a 10-bit output on a 4x finer grid than the 8-bit input, still bit-exact."""
    _check_random_model(tmp_path, "denoise", 4, 0, 4, 8, 8, "half_up", seed=3, gain=1.0, out_extra_bits=2)


_RANDOM_MODELS = dict(
    task=st.sampled_from(["denoise", "unet", "sr2x"]),
    channels=st.integers(2, 6),
    extra_layers=st.integers(0, 1),
    weight_bits=st.integers(2, 8),
    act_bits=st.integers(2, 8),
    last_bits=st.integers(2, 8),
    rounding=st.sampled_from(["half_even", "half_up"]),
    seed=st.integers(0, 2**16),
    gain=st.sampled_from([0.5, 1.0, 4.0]),
    out_extra_bits=st.integers(0, 2),
)
_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # an export per example: shrinking takes minutes


@settings(max_examples=3, deadline=None, phases=_NO_SHRINK, suppress_health_check=list(HealthCheck))
@given(**_RANDOM_MODELS)
def test_random_models_equal_brevitas(tmp_path_factory, **kw):
    _check_random_model(tmp_path_factory.mktemp("h"), **kw)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, phases=_NO_SHRINK, suppress_health_check=list(HealthCheck))
@given(**_RANDOM_MODELS)
def test_many_random_models_equal_brevitas(tmp_path_factory, **kw):
    _check_random_model(tmp_path_factory.mktemp("h"), **kw)


# --- the float-exactness proof at its edges: hand-made graphs, an independent Python-int oracle ---


def _one_conv(in_bits: int, w: np.ndarray, w_bits: int, bias: list[int]) -> IntegerGraph:
    return IntegerGraph.model_validate(
        {
            "name": "edge",
            "rounding": "half_even",
            "output": "c",
            "nodes": [
                {
                    "op": "input",
                    "name": "x",
                    "channels": w.shape[1],
                    "quant": {"bits": in_bits, "signed": True, "exp": 0},
                },
                {
                    "op": "conv",
                    "name": "c",
                    "inputs": ["x"],
                    "kernel": 3,
                    "weight": w.tolist(),
                    "bias": bias,
                    "weight_quant": {"bits": w_bits, "signed": True, "exp": 0},
                },
            ],
        }
    )


def _oracle(graph: IntegerGraph, codes: np.ndarray) -> np.ndarray:
    """'same' conv in Python ints: slow, obviously right, no floating point anywhere."""
    conv = graph.node("c")
    w = conv.weight_array.astype(object)
    xp = np.pad(codes.astype(object), ((0, 0), (1, 1), (1, 1)))
    h, wd = codes.shape[1:]
    out = np.zeros((w.shape[0], h, wd), dtype=object)
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("oc,chw->ohw", w[:, :, dy, dx], xp[:, dy : dy + h, dx : dx + wd])
    return out + np.array(conv.bias, dtype=object)[:, None, None]


@pytest.mark.parametrize(
    ("in_bits", "w_bits", "channels", "dtype"),
    [
        (8, 8, 114, torch.float32),  # bound 114 * 9 * 127 * 128 + 1 = 16678657, just under 2**24
        (8, 8, 115, torch.float64),  # 16824961, just over 2**24: float32 could round, so float64
        (16, 8, 29, torch.float64),  # ~2**30
        (32, 24, 1, torch.int64),  # past 2**53: the int64 carrier
    ],
)
def test_exact_at_the_bound(in_bits, w_bits, channels, dtype):
    wmax = 2 ** (w_bits - 1) - 1
    xmax, xmin = 2 ** (in_bits - 1) - 1, -(2 ** (in_bits - 1))
    w = np.full((2, channels, 3, 3), wmax, dtype=np.int64)
    w[1] = -wmax
    w[1, :, 1, 1] = wmax - 1  # odd sums, so a float rounding would show
    graph = _one_conv(in_bits, w, w_bits, [1, -1])
    graph.ranges = analyze(graph)
    bound = conv_bounds(graph)["c"]
    assert exact_dtype(bound) == dtype == plan_for(graph).carrier
    rng = np.random.default_rng(0)
    cases = [
        np.full((channels, 8, 8), xmin),
        np.full((channels, 8, 8), xmax),
        rng.choice([xmin, xmax, xmax - 1, 1], size=(channels, 8, 8)),
    ]
    for codes in cases:  # the spec path's carrier, and the fast path where it proves int32 enough (< 2**31)
        for engine in ("spec", "auto"):
            got = run_graph(graph, codes.astype(np.int64), engine)
            assert np.array_equal(got.astype(object), _oracle(graph, codes))
    peak = int(np.abs(_oracle(graph, cases[0])).max())
    assert peak >= bound // 2  # the test really drives the accumulator near the proven bound
    r = graph.ranges["c"]
    assert r.lo <= int(_oracle(graph, cases[0]).min()) and int(_oracle(graph, cases[1]).max()) <= r.hi


def test_float32_would_not_be_exact_past_the_bound():
    """Why the dtype choice matters: an accumulator past 2**24, forced into float32, loses bits."""
    x = torch.full((1, 65, 4, 4), 2047.0)
    w = torch.full((1, 65, 3, 3), 127.0)
    w[0, 0, 1, 1] = 126.0
    exact = (127 * 2047 * 65 * 9) - 2047
    assert exact > FLOAT32_EXACT and exact < FLOAT64_EXACT
    got32 = torch.nn.functional.conv2d(x, w, padding=1)[0, 0, 2, 2].item()
    got64 = torch.nn.functional.conv2d(x.double(), w.double(), padding=1)[0, 0, 2, 2].item()
    assert got64 == exact and got32 != exact


def test_ranges_are_sound_and_tight_on_the_first_layer(net):
    _, _, graph = net
    first = next(n for n in graph.nodes if n.op == "conv")
    # one pixel pattern that drives output channel 0 of the first conv to its proven maximum
    w0, k = first.weight_array[0, 0], first.kernel
    lo, hi = graph.ranges["input"].lo, graph.ranges["input"].hi
    codes = np.zeros((k + 3, k + 3), np.int64)
    codes[1 : k + 1, 1 : k + 1] = np.where(w0 > 0, hi, lo)
    probe = graph.model_copy(update={"output": first.name})
    acc = run_graph(probe, codes)
    bias0 = first.bias[0] if first.bias else 0
    assert acc[0, 1 + k // 2, 1 + k // 2] == int(np.sum(np.where(w0 > 0, w0 * hi, w0 * lo))) + bias0
    assert acc.max() <= graph.ranges[first.name].hi
    tensors = run_graph_tensors(graph, np.random.default_rng(1).integers(lo, hi + 1, (12, 12)))
    for name, t in tensors.items():  # every tensor of a random frame stays inside its proven range
        assert graph.ranges[name].lo <= t.min() and t.max() <= graph.ranges[name].hi, name


def test_bad_inputs_are_user_errors(net):
    _, _, graph = net
    with pytest.raises(UserError, match="outside the input quantizer"):
        run_graph(graph, np.full((8, 8), 256))
    with pytest.raises(UserError, match="integer codes wanted"):
        run_graph(graph, np.zeros((8, 8), np.float32))
    with pytest.raises(UserError, match="input shape"):
        run_graph(graph, np.zeros((2, 8, 8), np.int64))
    with pytest.raises(UserError, match="no camera conversion"):
        codes_from_adu(graph, np.zeros((8, 8), np.uint16))
    with pytest.raises(UserError, match="NaN"):
        quantize_float_input(graph, np.full((4, 4), np.nan, np.float32))
