"""FIFO depths for the io_stream network from a cycle schedule of the IR, instead of whole frames.

hls4ml sizes every inter-layer stream to the whole frame (`H*W` entries: 262,144 at 512x512). A
stream only has to hold what its producer writes before its consumer reads it. Model (docs/hls4ml.md):

- every tensor is a raster stream, one pixel (all channels) per beat; every layer writes at most one
  beat per cycle and emits output pixel `i` at `e[i] = max(need[i] + L, e[i-1] + 1)`, i.e.
  `e = i + cummax(need + L - i)`, where `need[i]` is the arrival of the last input beat it needs and
  `L` the layer's pipeline latency (a parameter, default 16 cycles);
- 3x3 conv = hls4ml's ZeroPadding2D (emits the `(H+2)(W+2)` padded stream) then a valid conv: output
  `(y, x)` needs padded beat `(y+2, x+2)`; 1x1 conv needs `(y, x)`; maxpool2 needs `(2y+1, 2x+1)`;
  nearest upsample2 (hls4ml reads a whole input row, then writes two output rows) needs input row
  `y//2` complete and, its row loop being pipelined, reads row `r` once it has started writing row
  `r-1`; add/concat read both inputs when they emit;
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

from fluorogate.quantize.ir import ConvNode, IntegerGraph


@dataclass(frozen=True)
class Schedule:
    """Emission cycle of every pixel of every IR tensor, and when each consumer reads its inputs."""

    times: dict[str, np.ndarray]  # node -> (H, W) emission cycles
    reads: dict[tuple[str, str], np.ndarray]  # (producer, consumer) -> (H, W) read cycles
    cycles_per_pixel: int


def _emit(need: np.ndarray) -> np.ndarray:
    """One beat per cycle at most: e[i] = max(need[i], e[i-1] + 1), in raster order."""
    flat = need.ravel().astype(np.int64)
    i = np.arange(flat.size, dtype=np.int64)
    return (i + np.maximum.accumulate(flat - i)).reshape(need.shape)


def _pad_times(t_in: np.ndarray) -> np.ndarray:
    """Emission of hls4ml's ZeroPadding2D (1 pixel each side): a border beat needs the last real beat before it."""
    h, w = t_in.shape
    need = np.full((h + 2, w + 2), np.iinfo(np.int64).min // 4, dtype=np.int64)
    need[1:-1, 1:-1] = t_in
    need = np.maximum.accumulate(need.ravel()).reshape(need.shape)
    return _emit(need)


def frame_shapes(graph: IntegerGraph, height: int, width: int) -> dict[str, tuple[int, int]]:
    shapes: dict[str, tuple[int, int]] = {}
    for n in graph.nodes:
        if n.op == "input":
            shapes[n.name] = (height, width)
            continue
        h, w = shapes[n.inputs[0]]
        if n.op == "maxpool2":
            h, w = h // 2, w // 2
        elif n.op == "upsample2":
            h, w = 2 * h, 2 * w
        shapes[n.name] = (h, w)
    return shapes


def schedule(graph: IntegerGraph, height: int, width: int, latency: int = 16, line_gap: int = 2) -> Schedule:
    """Cycle schedule of one frame through the streaming network (see module docstring)."""
    shapes = frame_shapes(graph, height, width)
    cpp = max(1, -(-max(h * w for h, w in shapes.values()) // (height * width)))
    t: dict[str, np.ndarray] = {}
    reads: dict[tuple[str, str], np.ndarray] = {}
    for n in graph.nodes:
        if n.op == "input":
            y, x = np.mgrid[0:height, 0:width]
            t[n.name] = (y * (width + line_gap) + x).astype(np.int64) * cpp
            continue
        x = t[n.inputs[0]]
        h, w = x.shape
        if isinstance(n, ConvNode) and n.kernel == 3:
            pad = _pad_times(x)
            reads[(n.inputs[0], n.name)] = pad[1:-1, 1:-1]
            t[n.name] = _emit(pad[2:, 2:] + latency)
        elif n.op in ("conv", "relu", "requant"):
            reads[(n.inputs[0], n.name)] = x
            t[n.name] = _emit(x + latency)
        elif n.op == "maxpool2":
            reads[(n.inputs[0], n.name)] = x
            t[n.name] = _emit(x[1::2, 1::2][: h // 2, : w // 2] + latency)
        elif n.op == "upsample2":
            row_done = x[:, -1]
            need = np.repeat(np.repeat(row_done[:, None], 2 * w, axis=1), 2, axis=0) + latency
            out = np.empty((2 * h, 2 * w), dtype=np.int64)
            read = np.empty_like(x)
            floor = np.iinfo(np.int64).min // 4
            prev_read_end, prev_out_start, prev_out_end = floor, floor, floor
            for r in range(h):  # the row loop is pipelined: row r is read while row r-1 is written
                read[r] = _emit(np.maximum(x[r], max(prev_read_end, prev_out_start) + 1))
                rows = need[2 * r: 2 * r + 2].copy()
                rows[0, 0] = max(rows[0, 0], read[r, -1] + latency, prev_out_end + 1)
                out[2 * r: 2 * r + 2] = _emit(rows)
                prev_read_end, prev_out_start, prev_out_end = read[r, -1], out[2 * r, 0], out[2 * r + 1, -1]
            reads[(n.inputs[0], n.name)] = read
            t[n.name] = out
        else:  # add, concat: both inputs read when the output beat is written
            t[n.name] = _emit(np.maximum.reduce([t[i] for i in n.inputs]) + latency)
            for i in n.inputs:
                reads[(i, n.name)] = t[n.name]
    return Schedule(t, reads, cpp)


def backlog(written: np.ndarray, read: np.ndarray) -> int:
    """Most beats in flight on a stream written at `written` and read at `read` (both raster order)."""
    w, r = written.ravel(), read.ravel()
    in_flight = np.searchsorted(w, r, side="right") - np.arange(r.size)
    return int(max(in_flight.max(), 1))


def edge_depths(graph: IntegerGraph, height: int, width: int, latency: int = 16, line_gap: int = 2,
                slack: int = 8) -> dict[tuple[str, str], int]:
    """Depth per IR edge (producer, consumer): the schedule's backlog plus `slack`."""
    s = schedule(graph, height, width, latency, line_gap)
    return {edge: backlog(s.times[edge[0]], read) + slack for edge, read in s.reads.items()}
