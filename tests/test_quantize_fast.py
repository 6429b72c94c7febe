"""The fast reference (quantize/fast) == the spec path (torch), bit for bit: every op, both roundings, the
camera front end, saturating and extreme inputs and weights, random IR graphs from a hypothesis strategy,
the accumulator bounds' edges; and where it steps aside (bounds, no g++, the engine switch)."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import rtl_graphs
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fluorogate.errors import UserError
from fluorogate.quantize.fast import fast_program
from fluorogate.quantize.fast.library import kernel_library
from fluorogate.quantize.fast.program import Refused, lower
from fluorogate.quantize.fast.steps import ConvStep
from fluorogate.quantize.ir import IntegerGraph
from fluorogate.quantize.ranges import analyze
from fluorogate.quantize.reference import codes_from_adu, run_graph

pytestmark = pytest.mark.integration  # g++ builds the kernels (once per machine, cached)

ROUNDINGS = ["half_even", "half_up"]
ZOO = {
    **{
        kind: (lambda r, k=kind: rtl_graphs.layer_graph(k, r))
        for kind in ("conv3", "conv1", "conv5", "separable", "requant", "concat")
    },
    "residual": rtl_graphs.residual_denoiser,
    "unet": rtl_graphs.unet_like,
    "sr": rtl_graphs.sr_like,
}


def _same(graph: IntegerGraph, codes: np.ndarray, program=None) -> np.ndarray:
    """The fast path (`program`, else the graph's own) and the spec path agree, bit for bit."""
    spec = run_graph(graph, codes, engine="spec")
    fast = (
        program.run(np.asarray(codes).reshape(_spec_shape(graph, codes)))
        if program
        else run_graph(graph, codes, engine="fast")
    )
    assert fast.dtype == spec.dtype == np.int64 and fast.shape == spec.shape
    assert np.array_equal(fast, spec), f"{np.sum(fast != spec)} of {fast.size} values differ"
    return fast


def _spec_shape(graph: IntegerGraph, codes: np.ndarray) -> tuple[int, ...]:
    return (graph.input.channels, *np.shape(codes)[-2:])


def _frames(graph: IntegerGraph, h: int, w: int, seed: int) -> dict[str, np.ndarray]:
    """Random, saturating (all min, all max), a min/max checkerboard, random extremes."""
    q = graph.input.quant
    shape = (graph.input.channels, h, w)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    return {
        "random": rng.integers(q.min_int, q.max_int + 1, shape),
        "min": np.full(shape, q.min_int),
        "max": np.full(shape, q.max_int),
        "checker": np.broadcast_to(np.where((yy + xx) % 2, q.max_int, q.min_int), shape).copy(),
        "extremes": rng.choice([q.min_int, q.max_int, q.min_int + 1, q.max_int - 1, 0], shape),
    }


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_fast_equals_spec(name, rounding):
    graph = ZOO[name](rounding)
    assert fast_program(graph) is not None
    sizes = [(6, 8), (2, 2), (10, 130)] if name == "unet" else [(6, 8), (1, 1), (7, 13), (3, 130)]
    for h, w in sizes:
        for what, codes in _frames(graph, h, w, seed=h * w).items():
            try:
                _same(graph, codes)
            except AssertionError as exc:
                raise AssertionError(f"{name} {rounding} {h}x{w} {what}: {exc}") from exc


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_camera_front_end(rounding):
    """Raw ADU through the camera conversion (dark, saturating, hot pixels), then the fast graph."""
    graph = rtl_graphs.residual_denoiser(rounding)
    rng = np.random.default_rng(1)
    adu = rng.integers(0, 2**16, (9, 21))
    adu[0] = 0
    adu[1] = 2**16 - 1
    adu[4, 4] = 99  # below the offset
    _same(graph, codes_from_adu(graph, adu))


def test_shipped_default_on_a_whole_frame():
    """The shipped default (a trained w4a8 denoiser, concat skip) on a 512 x 512 frame: the bench's case."""
    from fluorogate.models.runs import open_run

    graph = open_run("default").graph
    rng = np.random.default_rng(0)
    program = fast_program(graph, required=True)
    assert [s.lanes for s in program.steps if isinstance(s, ConvStep)] == [16, 16, 16, 32]  # from the bounds
    _same(graph, rng.integers(0, 256, (512, 512)))


def test_threads_and_frame_sizes():
    """Each thread keeps its own buffers; frame sizes may change from call to call."""
    graph = rtl_graphs.unet_like("half_even")
    want = {s: run_graph(graph, np.full((s, s), 200), engine="spec") for s in (8, 24, 40)}
    errors = []

    def work(sizes):
        try:
            for s in sizes * 3:
                assert np.array_equal(run_graph(graph, np.full((s, s), 200), engine="fast"), want[s])
        except AssertionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(order,)) for order in ([8, 24, 40], [40, 8, 24])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --- random IR graphs --------------------------------------------------------------------------------


def _quant(bits, signed, exp, narrow=False):
    return {"bits": bits, "signed": signed, "exp": exp, "narrow": narrow}


@st.composite
def random_graphs(draw) -> tuple[IntegerGraph, np.ndarray]:
    """A random IR graph over every op (convs 1/3/5, depthwise, relu, requant to finer and coarser grids,
    add and concat of skips, maxpool, upsample), extreme weights, and a frame of codes for it."""
    in_bits, in_signed = draw(st.integers(2, 16)), draw(st.booleans())
    nodes = [
        {
            "op": "input",
            "name": "x",
            "channels": draw(st.integers(1, 3)),
            "quant": _quant(in_bits, in_signed, draw(st.integers(-8, 0))),
        }
    ]
    # name -> (channels, exp, level: pools minus upsamples, narrow: bounded by 16 bits, fit for a conv)
    tensors = {"x": (nodes[0]["channels"], nodes[0]["quant"]["exp"], 0, True)}
    deepest = 0
    for i in range(draw(st.integers(1, 7))):
        name = f"n{i}"
        src = draw(st.sampled_from(sorted(tensors)))
        ch, exp, level, narrow = tensors[src]
        kind = draw(
            st.sampled_from(
                [
                    "conv",
                    "conv",
                    "dwconv",
                    "relu",
                    "requant",
                    "requant",
                    "add",
                    "concat",
                    "maxpool2",
                    "upsample2",
                ]
            )
        )
        if kind in ("conv", "dwconv") and (narrow or draw(st.booleans())):  # wide: now and then past 2**31
            k = draw(st.sampled_from([1, 3, 5] if kind == "conv" else [3, 5]))
            bits = draw(st.integers(2, 8))
            lim = 2 ** (bits - 1) - 1
            out = ch if kind == "dwconv" else draw(st.integers(1, 4))
            shape = (out, 1 if kind == "dwconv" else ch, k, k)
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            weight = np.where(
                rng.random(shape) < draw(st.sampled_from([0.0, 0.5, 1.0])),
                rng.choice([-lim, lim], shape),
                rng.integers(-lim, lim + 1, shape),
            )
            wexp = draw(st.integers(-6, 0))
            nodes.append(
                {
                    "op": kind,
                    "name": name,
                    "inputs": [src],
                    "kernel": k,
                    "weight": weight.tolist(),
                    "weight_quant": _quant(bits, True, wexp, True),
                    "bias": rng.integers(-(2**12), 2**12, out).tolist(),
                }
            )
            tensors[name] = (out, exp + wexp, level, False)
        elif kind == "relu":
            nodes.append({"op": "relu", "name": name, "inputs": [src]})
            tensors[name] = (ch, exp, level, narrow)
        elif kind in ("add", "concat"):
            peers = sorted(
                t for t, (c, _, lv, _) in tensors.items() if lv == level and (c == ch or kind == "concat")
            )
            other = draw(st.sampled_from(peers))
            nodes.append({"op": kind, "name": name, "inputs": [src, other]})
            c2, e2 = tensors[other][:2]
            tensors[name] = (ch if kind == "add" else ch + c2, min(exp, e2), level, False)
        elif kind == "maxpool2" and level < 2:
            nodes.append({"op": kind, "name": name, "inputs": [src]})
            tensors[name] = (ch, exp, level + 1, narrow)
            deepest = max(deepest, level + 1)
        elif kind == "upsample2" and level > -1:
            nodes.append({"op": kind, "name": name, "inputs": [src]})
            tensors[name] = (ch, exp, level - 1, narrow)
        else:  # requant, and the fallback of a kind that did not fit here: finer or coarser grid
            bits, signed = draw(st.integers(2, 16)), draw(st.booleans())
            nodes.append(
                {
                    "op": "requant",
                    "name": name,
                    "inputs": [src],
                    "quant": _quant(bits, signed, exp + draw(st.integers(-3, 12))),
                }
            )
            tensors[name] = (ch, nodes[-1]["quant"]["exp"], level, True)
    graph = IntegerGraph.model_validate(
        {
            "name": "random",
            "rounding": draw(st.sampled_from(ROUNDINGS)),
            "nodes": nodes,
            "output": nodes[-1]["name"],
        }
    )
    graph.ranges = analyze(graph)
    h, w = (draw(st.integers(1, 9)) * 2**deepest, draw(st.integers(1, 40)) * 2**deepest)
    q = graph.input.quant
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    codes = rng.integers(q.min_int, q.max_int + 1, (graph.input.channels, h, w))
    codes[rng.random(codes.shape) < 0.3] = q.max_int
    codes[rng.random(codes.shape) < 0.2] = q.min_int
    return graph, codes


def _check_random(graph: IntegerGraph, codes: np.ndarray) -> None:
    if fast_program(graph) is None:
        with pytest.raises(UserError, match=r"2\*\*31 - 1"):  # only ever for a proven-too-wide value
            run_graph(graph, codes, engine="fast")
        event("spec path: a value past 2**31 - 1")
        return
    event("fast path")
    for op in {n.op for n in graph.nodes}:
        event(f"fast path through {op}")
    _same(graph, codes)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_graphs())
def test_random_graphs_fast_equals_spec(case):
    _check_random(*case)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_graphs())
def test_many_random_graphs_fast_equals_spec(case):
    _check_random(*case)


# --- the accumulator bounds' edges: hand-made convs driven to their bound, a Python-int oracle ----------


def _edge_conv(in_bits: int, weights: list[int], w_bits: int, bias: int, requant_shift: int | None = None):
    """One 3x3 conv (a single input and output channel, taps `weights` then zeros), optionally requantized."""
    w = np.zeros((1, 1, 3, 3), np.int64)
    w.reshape(-1)[: len(weights)] = weights
    nodes = [
        {"op": "input", "name": "x", "channels": 1, "quant": _quant(in_bits, True, 0)},
        {
            "op": "conv",
            "name": "c",
            "inputs": ["x"],
            "kernel": 3,
            "weight": w.tolist(),
            "bias": [bias],
            "weight_quant": _quant(w_bits, True, 0),
        },
    ]
    if requant_shift is not None:
        nodes.append({"op": "requant", "name": "q", "inputs": ["c"], "quant": _quant(8, True, requant_shift)})
    graph = IntegerGraph.model_validate(
        {"name": "edge", "rounding": "half_even", "nodes": nodes, "output": nodes[-1]["name"]}
    )
    graph.ranges = analyze(graph)
    return graph


def _oracle_conv(graph: IntegerGraph, codes: np.ndarray) -> np.ndarray:
    conv = graph.node("c")
    w = conv.weight_array.astype(object)[0, 0]
    xp = np.pad(codes[0].astype(object), 1)
    h, wd = codes.shape[1:]
    return (
        sum(w[dy, dx] * xp[dy : dy + h, dx : dx + wd] for dy in range(3) for dx in range(3)) + conv.bias[0]
    )[None]


@pytest.mark.parametrize(
    ("in_bits", "weights", "w_bits", "bias", "lanes"),
    [
        (8, [127, 127, 1], 8, -127, 16),  # sum|w| * 128 + 127 = 32767: int16 lanes, reached
        (8, [127, 127, 1], 8, -128, 32),  # 32768: one past int16, so int32 lanes
        (16, [32767, 32767, 1], 16, -32767, 32),  # 65535 * 32768 + 32767 = 2**31 - 1: int32 lanes, reached
        (16, [32767, 32767, 1], 16, -32768, None),  # 2**31: no exact lanes, the spec path (float64)
    ],
)
def test_accumulator_at_the_bound(in_bits, weights, w_bits, bias, lanes):
    graph = _edge_conv(in_bits, weights, w_bits, bias)
    bound = graph.node("c").accumulator_bound([graph.ranges["x"]])
    lo = -(2 ** (in_bits - 1))
    frames = [
        np.full((1, 5, 7), lo),
        np.full((1, 5, 7), -lo - 1),
        np.random.default_rng(0).choice([lo, -lo - 1, 0, 1], (1, 5, 7)),
    ]
    peak = max(int(np.abs(_oracle_conv(graph, f)).max()) for f in frames)
    assert peak == bound  # the frames really drive the accumulator to its proven bound
    for codes in frames:
        assert np.array_equal(run_graph(graph, codes).astype(object), _oracle_conv(graph, codes))
    program = fast_program(graph)
    if lanes is None:
        assert program is None
        with pytest.raises(UserError, match="may reach 2147483648 > 2"):
            run_graph(graph, frames[0], engine="fast")
    else:
        assert [s.lanes for s in program.steps if isinstance(s, ConvStep)] == [lanes]
        for codes in frames:
            _same(graph, codes)


@pytest.mark.parametrize("shift", [1, -1])
def test_requant_operand_at_the_bound(shift):
    """A requant after an accumulator of 2**31 - 1: rounding adds 2**(s-1) before the right shift, a left
    shift doubles it; either passes 2**31 - 1, so the graph is refused and runs on the spec path (float64),
    which equals the oracle."""
    graph = _edge_conv(16, [32767, 32767, 1], 16, -32767, requant_shift=shift)
    assert fast_program(graph) is None
    codes = np.full((1, 4, 4), -(2**15))
    acc = _oracle_conv(graph, codes)
    q = graph.node("q").quant
    want = np.clip(
        [
            [
                (v + (1 << (shift - 1)) - 1 + ((v >> shift) & 1)) >> shift if shift > 0 else v << -shift
                for v in row
            ]
            for row in acc
        ],
        q.min_int,
        q.max_int,
    )
    assert np.array_equal(run_graph(graph, codes), want.astype(np.int64))


def test_32_bit_quantizers():
    """A 32-bit requant whose proven values are small runs fast (its clamp cut to int32 storage); 32-bit
    unsigned codes may pass 2**31 - 1: refused even where nothing computes on them (a maxpool), as no
    buffer holds them."""
    rng = np.random.default_rng(5)
    small = rtl_graphs.graph(
        [
            rtl_graphs.camera_input(),
            rtl_graphs.conv("c", "x", 1, 2, 3, rng),
            rtl_graphs.requant("y", "c", bits=32, signed=True, exp=-6),
        ],
        "y",
    )
    assert fast_program(small) is not None
    for codes in _frames(small, 5, 9, seed=1).values():
        _same(small, codes)
    wide = rtl_graphs.graph(
        [
            {"op": "input", "name": "x", "channels": 1, "quant": _quant(32, False, 0)},
            {"op": "maxpool2", "name": "y", "inputs": ["x"]},
        ],
        "y",
    )
    codes = np.full((1, 4, 4), 2**32 - 1)
    with pytest.raises(UserError, match=r"its values may reach 4294967295 > 2\*\*31 - 1"):
        run_graph(wide, codes, engine="fast")
    assert np.array_equal(run_graph(wide, codes), np.full((1, 2, 2), 2**32 - 1))


# --- where it steps aside ----------------------------------------------------------------------------


def test_engine_switch(monkeypatch):
    graph = rtl_graphs.residual_denoiser()
    codes = np.full((6, 8), 17)

    def no_fast(*_, **__):
        raise AssertionError("the fast path ran under FLUOROGATE_REFERENCE=spec")

    monkeypatch.setenv("FLUOROGATE_REFERENCE", "spec")
    monkeypatch.setattr("fluorogate.quantize.fast.fast_program", no_fast)
    want = run_graph(graph, codes)
    monkeypatch.setenv("FLUOROGATE_REFERENCE", "nonsense")
    with pytest.raises(UserError, match="reference engine 'nonsense'"):
        run_graph(graph, codes)
    monkeypatch.undo()
    assert np.array_equal(run_graph(graph, codes), want)


def test_without_gxx_the_spec_path_runs(monkeypatch, caplog):
    graph = rtl_graphs.layer_graph("concat")
    codes = np.full((5, 5), 9)
    want = run_graph(graph, codes, engine="spec")
    kernel_library.cache_clear()
    monkeypatch.setattr("fluorogate.quantize.fast.library.shutil.which", lambda _: None)
    try:
        with caplog.at_level(logging.WARNING):
            assert np.array_equal(run_graph(rtl_graphs.layer_graph("concat"), codes), want)
        assert "no g++ on PATH" in caplog.text
        with pytest.raises(UserError, match="kernels could not be built"):
            run_graph(rtl_graphs.layer_graph("concat"), codes, engine="fast")
    finally:
        kernel_library.cache_clear()


def test_an_op_without_a_handler_refuses_the_graph(monkeypatch):
    from fluorogate.quantize.fast.handlers import FAST

    graph = rtl_graphs.unet_like()
    monkeypatch.delitem(FAST._handlers, "maxpool2")
    with pytest.raises(Refused, match="'maxpool2'"):
        lower(graph, kernel_library())


def test_portable_build_is_exact():
    """The kernels built for the x86-64 baseline (SSE2, no AVX): GCC's generic vector lowering."""
    lib = kernel_library("x86-64")
    assert lib is not None
    for name in ("separable", "unet", "concat"):
        for rounding in ROUNDINGS:
            graph = ZOO[name](rounding)
            for codes in _frames(graph, 6, 34, seed=2).values():
                _same(graph, codes, lower(graph, lib))
