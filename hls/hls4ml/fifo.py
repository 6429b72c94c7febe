"""FIFO depths for the io_stream network from a cycle schedule of the IR, instead of whole frames.

hls4ml sizes every inter-layer stream to the whole frame (`H*W` entries: 262,144 at 512x512). A
stream only has to hold what its producer writes before its consumer reads it. Model (docs/hls4ml.md):

- every tensor is a raster stream, one pixel (all channels) per beat; every layer writes at most one
  beat per cycle and emits output pixel `i` at `e[i] = max(need[i] + L, e[i-1] + 1)`, i.e.
  `e = i + cummax(need + L - i)`, where `need[i]` is the arrival of the last input beat it needs and
  `L` the layer's pipeline latency (a parameter, default 16 cycles);
- what each op needs is its hls4ml handler's `schedule` (`handlers.HLS4ML`): a k x k conv (dense or
  depthwise) = hls4ml's ZeroPadding2D (emits the `(H+2p)(W+2p)` padded stream, p = k//2) then a valid
  conv: output `(y, x)` needs padded beat `(y+2p, x+2p)`; 1x1 conv needs `(y, x)`; maxpool2 needs
  `(2y+1, 2x+1)`; nearest upsample2 (hls4ml reads a whole input row, then writes two output rows)
  needs input row `y//2` complete and, its row loop being pipelined, reads row `r` once it has started
  writing row `r-1`; add/concat read both inputs when they emit;
- camera beats arrive every `cycles_per_pixel` cycles (1, or 4 when the net upsamples: the fabric
  runs at least 4x the pixel clock), with `line_gap` idle beats after each line. Every padded 3x3
  conv spends `W + 2` cycles per line, so without at least 2 cycles of horizontal blanking per line
  (or a fabric clock 2/W faster than the pixel clock) the network falls behind by 2 beats per line
  and the input stream needs a frame-scale FIFO: `line_gap` defaults to 2.

The depth of a stream is the most beats in flight on it: `max_j (#{written by c_j} - j)` where `c_j`
is when beat j is read, plus `slack`. With every stream at least that deep no writer ever blocks, so
the bounded design follows the same schedule as the unbounded one: it cannot deadlock. A skip path
around k 3x3 convs at width W gets about `k * (W + 3 + L)` beats (plus the padding's two extra
beats per row and layer), not `H*W`. This is a model: confirm the margins with RTL co-simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fluorogate.hls.hls4ml.handlers import handler
from fluorogate.quantize.ir import InputNode, IntegerGraph


@dataclass(frozen=True)
class Schedule:
    """Emission cycle of every pixel of every IR tensor, and when each consumer reads its inputs."""

    times: dict[str, np.ndarray]  # node -> (H, W) emission cycles
    reads: dict[tuple[str, str], np.ndarray]  # (producer, consumer) -> (H, W) read cycles
    cycles_per_pixel: int


def schedule(graph: IntegerGraph, height: int, width: int, latency: int = 16, line_gap: int = 2) -> Schedule:
    """Cycle schedule of one frame through the streaming network (see module docstring)."""
    shapes = graph.sizes(height, width)
    cpp = max(1, -(-max(h * w for h, w in shapes.values()) // (height * width)))
    t: dict[str, np.ndarray] = {}
    reads: dict[tuple[str, str], np.ndarray] = {}
    for n in graph.nodes:
        if isinstance(n, InputNode):
            y, x = np.mgrid[0:height, 0:width]
            t[n.name] = (y * (width + line_gap) + x).astype(np.int64) * cpp
            continue
        read, t[n.name] = handler(n).schedule(n, [t[i] for i in n.inputs], latency)
        for i, r in zip(n.inputs, read, strict=True):
            reads[(i, n.name)] = r
    return Schedule(t, reads, cpp)


def backlog(written: np.ndarray, read: np.ndarray) -> int:
    """Most beats in flight on a stream written at `written` and read at `read` (both raster order)."""
    w, r = written.ravel(), read.ravel()
    in_flight = np.searchsorted(w, r, side="right") - np.arange(r.size)
    return int(max(in_flight.max(), 1))


def edge_depths(
    graph: IntegerGraph, height: int, width: int, latency: int = 16, line_gap: int = 2, slack: int = 8
) -> dict[tuple[str, str], int]:
    """Depth per IR edge (producer, consumer): the schedule's backlog plus `slack`."""
    s = schedule(graph, height, width, latency, line_gap)
    return {edge: backlog(s.times[edge[0]], read) + slack for edge, read in s.reads.items()}
