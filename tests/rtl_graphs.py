"""Small IntegerGraphs for the RTL tests: one per layer type, and a residual denoiser like the default.

Random integer weights are legitimate test inputs: the RTL must equal the integer reference for any
weights, and random ones reach corners (negative ties, saturation) that trained ones rarely do.
"""

from __future__ import annotations

import numpy as np

from fluorogate.quantize.ir import IntegerGraph
from fluorogate.quantize.ranges import analyze

CAMERA = {"adu_bits": 16, "offset": 100, "shift": 2}


def quant(bits: int, signed: bool, exp: int, narrow: bool = False) -> dict:
    return {"bits": bits, "signed": signed, "exp": exp, "narrow": narrow}


def conv(name: str, src: str, cin: int, cout: int, k: int, rng: np.random.Generator, wbits: int = 4) -> dict:
    lim = 2 ** (wbits - 1) - 1
    return {
        "op": "conv",
        "name": name,
        "inputs": [src],
        "kernel": k,
        "weight": rng.integers(-lim, lim + 1, size=(cout, cin, k, k)).tolist(),
        "weight_quant": quant(wbits, True, -3, True),
        "bias": rng.integers(-64, 64, size=cout).tolist(),
    }


def dwconv(name: str, src: str, ch: int, k: int, rng: np.random.Generator, wbits: int = 4) -> dict:
    """A depthwise k x k conv: one random filter per channel."""
    lim = 2 ** (wbits - 1) - 1
    return {
        "op": "dwconv",
        "name": name,
        "inputs": [src],
        "kernel": k,
        "weight": rng.integers(-lim, lim + 1, size=(ch, 1, k, k)).tolist(),
        "weight_quant": quant(wbits, True, -3, True),
        "bias": rng.integers(-64, 64, size=ch).tolist(),
    }


def requant(name: str, src: str, bits: int = 8, signed: bool = False, exp: int = -4) -> dict:
    return {"op": "requant", "name": name, "inputs": [src], "quant": quant(bits, signed, exp)}


def camera_input(name: str = "x") -> dict:
    return {"op": "input", "name": name, "channels": 1, "quant": quant(8, False, -4), "camera": CAMERA}


def graph(nodes: list[dict], output: str, rounding: str = "half_even", name: str = "t") -> IntegerGraph:
    g = IntegerGraph.model_validate({"name": name, "rounding": rounding, "nodes": nodes, "output": output})
    g.ranges = analyze(g)
    return g


def residual_denoiser(rounding: str = "half_even", seed: int = 0, ch: int = 4) -> IntegerGraph:
    """conv3-requant, conv3-relu-requant, conv3-requant, + input (global skip), requant: the default's
    shape."""
    rng = np.random.default_rng(seed)
    nodes = [
        camera_input(),
        conv("c1", "x", 1, ch, 3, rng),
        requant("q1", "c1"),
        conv("c2", "q1", ch, ch, 3, rng),
        {"op": "relu", "name": "r2", "inputs": ["c2"]},
        requant("q2", "r2"),
        conv("c3", "q2", ch, 1, 3, rng),
        requant("q3", "c3", signed=True),
        {"op": "add", "name": "a", "inputs": ["q3", "x"]},
        requant("y", "a"),
    ]
    return graph(nodes, "y", rounding)


def layer_graph(kind: str, rounding: str = "half_even", seed: int = 0) -> IntegerGraph:
    """One layer type under test behind the camera input."""
    rng = np.random.default_rng(seed)
    x = camera_input()
    if kind == "conv3":  # raw accumulator out: bias, padding and the kernel, no rounding
        return graph([x, conv("c", "x", 1, 3, 3, rng)], "c", rounding)
    if kind == "conv1":
        return graph(
            [
                x,
                conv("c", "x", 1, 3, 1, rng),
                {"op": "relu", "name": "r", "inputs": ["c"]},
                requant("y", "r", bits=6, exp=-2),
            ],
            "y",
            rounding,
        )
    if kind == "conv5":  # raw accumulator out of a 5x5 window: two rows and columns of padding
        return graph([x, conv("c", "x", 1, 2, 5, rng)], "c", rounding)
    if kind == "separable":  # depthwise 3x3 then 1x1: the depthwise-separable block, on 3 channels
        return graph(
            [
                x,
                conv("e", "x", 1, 3, 1, rng),
                requant("eq", "e", signed=True, exp=-3),
                dwconv("d", "eq", 3, 3, rng),
                {"op": "relu", "name": "dr", "inputs": ["d"]},
                requant("dq", "dr", exp=-3),
                conv("p", "dq", 3, 2, 1, rng),
                requant("y", "p", signed=True, exp=-3),
            ],
            "y",
            rounding,
        )
    if kind == "requant":  # every int8 code through a 3-bit right shift: all ties, both signs
        x = {"op": "input", "name": "x", "channels": 1, "quant": quant(8, True, -4)}
        return graph([x, requant("y", "x", bits=5, signed=True, exp=-1)], "y", rounding)
    if kind == "concat":  # the input rides a skip FIFO past a 3x3 conv, then a 1x1 conv mixes them
        return graph(
            [
                x,
                conv("c", "x", 1, 2, 3, rng),
                requant("q", "c", signed=True, exp=-3),
                {"op": "concat", "name": "k", "inputs": ["q", "x"]},
                conv("m", "k", 3, 2, 1, rng),
                requant("y", "m", bits=8, signed=True, exp=-3),
            ],
            "y",
            rounding,
        )
    raise ValueError(kind)


def unet_like(rounding: str = "half_even", seed: int = 0, ch: int = 2) -> IntegerGraph:
    """Encoder conv, maxpool, a conv at half resolution, nearest upsample, concat with the encoder (the
    skip FIFO spans the pool/upsample path), a 1x1 conv: the U-Net's rate changes in small."""
    rng = np.random.default_rng(seed)
    relu = {"op": "relu", "name": "er", "inputs": ["e"]}
    nodes = [
        camera_input(),
        conv("e", "x", 1, ch, 3, rng),
        relu,
        requant("eq", "er"),
        {"op": "maxpool2", "name": "p", "inputs": ["eq"]},
        conv("m", "p", ch, ch, 3, rng),
        requant("mq", "m"),
        {"op": "upsample2", "name": "u", "inputs": ["mq"]},
        {"op": "concat", "name": "k", "inputs": ["eq", "u"]},
        conv("o", "k", 2 * ch, 1, 1, rng),
        requant("y", "o", signed=True, exp=-3),
    ]
    return graph(nodes, "y", rounding)


def sr_like(rounding: str = "half_up", seed: int = 0) -> IntegerGraph:
    """A conv, nearest upsample 2x, a conv at the output resolution (the SR net's rate change)."""
    rng = np.random.default_rng(seed)
    nodes = [
        camera_input(),
        conv("c", "x", 1, 2, 3, rng),
        requant("q", "c"),
        {"op": "upsample2", "name": "u", "inputs": ["q"]},
        conv("o", "u", 2, 1, 3, rng),
        requant("y", "o"),
    ]
    return graph(nodes, "y", rounding)
