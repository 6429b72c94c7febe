"""An IntegerGraph lowered to the fast reference's kernel steps, and run on frames.

Lowering (`lower`), once per graph, with no branch on an op's name (each op's handler decides):
1. Each node becomes a step (`handlers.FAST`), unless it is element-wise (relu, requant) and its input
   is read by it alone: then it becomes part of the epilogue of the step producing that input, so a
   conv -> relu -> requant chain is one pass that stores only the requantized codes.
2. Placement: a concat asks for its inputs on its grid to live inside its own output; their producers
   then write their channel slices in place and the concat copies nothing for them.
3. Storage: every stored tensor is int16 where the proven ranges of everything in its buffer fit
   +-32767, else int32 (a tensor that may pass 2**31 - 1 refuses the graph).
The steps decide their arithmetic's width from the IR's range analysis (`handlers.py`); a node they
cannot prove exact, or an op without a handler, refuses the whole graph (`Refused`), which the
reference then runs on its spec path.

Buffers (`Frame`): one zero-initialised array per stored tensor and frame size, kept per thread for the
next frame of that size; the kernels keep everything outside the frame zero (kernels.cpp: layout).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from fluorogate.errors import UserError
from fluorogate.quantize.fast.handlers import FAST
from fluorogate.quantize.fast.library import kernel_library
from fluorogate.quantize.fast.steps import INT16_MAX, INT32_MAX, Step
from fluorogate.quantize.ir import IntegerGraph
from fluorogate.quantize.ops.registry import UnsupportedOp
from fluorogate.quantize.ranges import analyze

log = logging.getLogger(__name__)


class Refused(Exception):
    """The fast reference cannot prove a node exact (or has no handler for it)."""


class Lowering:
    """What the handlers read while a graph is lowered: ranges, exps, channel counts."""

    def __init__(self, graph: IntegerGraph):
        self.graph = graph
        self.ranges = graph.ranges or analyze(graph)
        self.exps = graph.exps()
        self.channels = graph.channels()

    def range(self, name: str):
        return self.ranges[name]

    def refuse(self, node, why: str):
        raise Refused(f"{node.op} node {node.name!r}: {why}")

    def within_int32(self, node, value: int, what: str) -> int:
        """`value` (a proven bound), or a refusal when it may pass 2**31 - 1: int32 is the widest lane."""
        if value > INT32_MAX:
            self.refuse(node, f"{what} may reach {value} > 2**31 - 1")
        return value


class View(NamedTuple):
    """A tensor in a frame's buffers: pointer to pixel (0, 0) of its first channel, strides in elements."""

    ptr: int
    plane: int
    stride: int
    wide: bool  # int32 storage (else int16)
    channels: int
    height: int
    width: int
    interior: np.ndarray  # the (C, H, W) numpy view of the frame's pixels


class Frame:
    """The buffers of one frame size, and the codes of the frame being run."""

    def __init__(self, program: Program, height: int, width: int):
        lib = program.lib
        self.lib, self.rounding, self.codes, self.size = lib, program.graph.rounding, None, (height, width)
        self.align, pad = lib.fg_align(), lib.fg_pad_rows()
        block = lib.fg_max_block()
        sizes = program.graph.sizes(height, width)
        self.arrays, self._views = {}, {}
        for root, wide in program.roots.items():
            h, w = sizes[root]
            stride = (
                self.align + -(-w // block) * block + self.align
            )  # the margin covers every block's overrun
            self.arrays[root] = np.zeros(
                (program.channels[root], h + 2 * pad, stride), np.int32 if wide else np.int16
            )
        for name, (root, first) in program.placed.items():
            a = self.arrays[root]
            h, w = sizes[name]
            plane, stride = a.shape[1] * a.shape[2], a.shape[2]
            at = (first * a.shape[1] + pad) * stride + self.align
            self._views[name] = View(
                a.ctypes.data + at * a.itemsize,
                plane,
                stride,
                a.dtype == np.int32,
                program.channels[name],
                h,
                w,
                a[first : first + program.channels[name], pad : pad + h, self.align : self.align + w],
            )

    def view(self, name: str, first: int = 0, channels: int | None = None) -> View:
        """Tensor `name`, or channels first .. first + channels - 1 of it."""
        v = self._views[name]
        if first == 0 and channels is None:
            return v
        channels = v.channels - first if channels is None else channels
        return v._replace(
            ptr=v.ptr + first * v.plane * v.interior.itemsize,
            channels=channels,
            interior=v.interior[first : first + channels],
        )


@dataclass
class Program:
    """The lowered graph: its steps and where each stored tensor lives (`placed`: name -> (root, first
    channel)); `roots` says which buffers exist and whether each is int32 (`wide`)."""

    graph: IntegerGraph
    steps: list[Step]
    placed: dict[str, tuple[str, int]]
    roots: dict[str, bool]
    channels: dict[str, int]
    lib: Any
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def run(self, codes: np.ndarray) -> np.ndarray:
        """(C, H, W) input codes (checked by the caller) -> the graph's output (C_out, H', W') int64."""
        h, w = codes.shape[1:]
        frame = getattr(self._local, "frame", None)
        if frame is None or frame.size != (h, w):  # one frame size kept per thread: the next frame reuses it
            frame = self._local.frame = Frame(self, h, w)
        frame.codes = codes
        for step in self.steps:
            step.run(frame)
        return frame.view(self.graph.output).interior.astype(np.int64)


def lower(graph: IntegerGraph, lib) -> Program:
    """`graph` as kernel steps (module docstring); `Refused` when a node cannot run fast and exact."""
    low = Lowering(graph)
    steps = _steps(graph, low)
    placed = _placement(graph, low, {s.output for s in steps})
    roots: dict[str, bool] = {}
    for name, (root, _) in placed.items():
        magnitude = low.within_int32(graph.node(name), low.range(name).magnitude, "its values")
        roots[root] = roots.get(root, False) or magnitude > INT16_MAX
    return Program(graph, steps, placed, roots, low.channels, lib)


def _handler(node):
    try:
        return FAST.lookup(node)()
    except UnsupportedOp as exc:
        raise Refused(str(exc)) from exc


def _steps(graph: IntegerGraph, low: Lowering) -> list[Step]:
    """One step per node, except element-wise nodes fused into the step producing their only input."""
    steps: list[Step] = []
    producer: dict[str, Step] = {}
    for n in graph.nodes:
        handler = _handler(n)
        src = producer.get(n.inputs[0]) if len(n.inputs) == 1 else None
        epi = handler.epilogue(n, low)
        if (
            epi is not None
            and src is not None
            and src.output == n.inputs[0]
            and n.inputs[0] != graph.output
            and len(graph.consumers(n.inputs[0])) == 1
            and (fused := src.accepts(epi)) is not None
        ):
            src.epilogue, src.output = fused, n.name
        else:
            src = handler.step(n, low)
            steps.append(src)
        producer[n.name] = src
    return steps


def _placement(graph: IntegerGraph, low: Lowering, stored: set[str]) -> dict[str, tuple[str, int]]:
    """Each stored tensor -> (the tensor whose buffer holds it, its first channel there): a tensor's own,
    or a concat's that asked for it (`FastOp.places`), followed through nested concats."""
    parent: dict[str, tuple[str, int]] = {}
    for n in graph.nodes:
        if n.name in stored:
            for name, first in _handler(n).places(n, low).items():
                if name in stored and name not in parent:
                    parent[name] = (n.name, first)
    placed = {}
    for name in stored:
        root, first = name, 0
        while root in parent:
            root, first = parent[root][0], first + parent[root][1]
        placed[name] = (root, first)
    return placed


_PROGRAMS: dict[int, tuple[IntegerGraph, Program | None, str]] = {}


def fast_program(graph: IntegerGraph, required: bool = False) -> Program | None:
    """The graph's fast program, or None where the fast reference cannot run it exactly (logged once per
    graph); `required=True` makes that a UserError naming the reason. Cached for the last graph seen."""
    hit = _PROGRAMS.get(id(graph))
    if hit is None or hit[0] is not graph:
        lib, program, why = kernel_library(), None, ""
        if lib is None:
            why = "its kernels could not be built (see the log line above)"
        else:
            try:
                program = lower(graph, lib)
            except Refused as exc:
                why = str(exc)
                log.info("fast reference: graph %s runs on the spec path: %s", graph.name, why)
        hit = (graph, program, why)
        _PROGRAMS.clear()
        _PROGRAMS[id(graph)] = hit
    if hit[1] is None and required:
        raise UserError(f"the fast reference cannot run graph {graph.name} exactly: {hit[2]}")
    return hit[1]
