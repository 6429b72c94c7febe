"""FINN's python execution against the integer reference, bit for bit, on frames of input codes.

The FINN graph's input and output are the IR's integer codes (`finn_transforms.InputQuantToCodes`,
`OutputToCodes`), so the comparison is exact integer equality with `run_graph`. Before the dataflow
partition the whole graph runs in `execute_onnx`; after it, FINN's `execute_parent` runs the parent
(the software nodes around the accelerator) with the current accelerator graph, specialized layers
mapped back to their generic FINN layers (`Despecialize`), whose `execute_node` is numpy: the HLS
C++ simulation needs finn-hlslib and Vitis headers, and RTL simulation needs Vivado's XSI.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from fluorogate.errors import VerificationError
from fluorogate.quantize.ir import IntegerGraph


class FinnCheckError(VerificationError):
    """A FINN step changed what the network computes."""


def check_frames(
    graph: IntegerGraph, height: int, width: int, count: int, seed: int, camera: str | None = None
) -> list[np.ndarray]:
    """`count - 1` frames of uniform random codes, a ramp over the whole input range, and, when the
    IR has a camera conversion and `camera` names a preset, one simulated camera frame through it."""
    q = graph.input.quant
    rng = np.random.default_rng(seed)
    shape = (graph.input.channels, height, width)
    frames = [rng.integers(q.min_int, q.max_int + 1, size=shape) for _ in range(count - 1)]
    ramp = (
        np.linspace(q.min_int, q.max_int, height * width).round().astype(np.int64).reshape(1, height, width)
    )
    frames.append(np.broadcast_to(ramp, shape).copy())
    cam = graph.input.camera
    if camera is not None and cam is not None and graph.input.channels == 1:
        from fluorogate.quantize.reference import codes_from_adu
        from fluorogate.sim.camera import get_preset
        from fluorogate.sim.pairs import denoise_batch

        if get_preset(camera).adu_bits <= cam.adu_bits:
            adu, _ = denoise_batch(1, max(height, width), photons=20.0, preset=camera, seed=seed)
            frames.append(codes_from_adu(graph, adu[0, :height, :width])[None].astype(np.int64))
    return frames


class FinnChecker:
    """Counts output mismatches of a FINN graph against `run_graph` over fixed frames."""

    def __init__(self, graph: IntegerGraph, frames: list[np.ndarray], workdir: Path):
        from fluorogate.quantize.reference import run_graph

        self.frames = frames
        self.expected = [run_graph(graph, f) for f in frames]
        self.workdir = Path(workdir)

    @property
    def pixels(self) -> int:
        return sum(e.size for e in self.expected)

    def mismatches(self, model: ModelWrapper, parent: Path | None) -> int:
        """Output values that differ from the reference, summed over the frames."""
        from finn.core.onnx_exec import execute_onnx
        from finn.util.execution import execute_parent

        from fluorogate.hls.finn.transforms import Despecialize

        child_path = None
        if parent is not None:
            child_path = self.workdir / "check_accelerator.onnx"
            copy.deepcopy(model).transform(Despecialize()).save(str(child_path))
        total = 0
        for frame, want in zip(self.frames, self.expected, strict=True):
            x = frame[None].astype(np.float32)
            if child_path is not None:
                y = execute_parent(str(parent), str(child_path), x)
            else:
                y = execute_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]
            total += int(np.count_nonzero(_as_chw(np.asarray(y), want.shape) != want))
        return total


def _as_chw(y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """FINN output (1, C, H, W) or channels-last (1, H, W, C) -> (C, H, W)."""
    y = y.reshape(y.shape[1:]) if y.ndim == 4 else y
    if y.shape == shape:
        return y
    if y.shape == (shape[1], shape[2], shape[0]):
        return y.transpose(2, 0, 1)
    raise FinnCheckError(f"FINN output shape {y.shape} does not match the reference's {shape}")
