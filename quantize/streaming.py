"""The streaming reference: the IntegerGraph as a line-buffer pipeline fed by a camera beat stream.

This is the form the RTL implements, so it is what the RTL is compared against, transfer by
transfer. Each node is a row operator (`_RowOp`) with the state a hardware block needs, described by
its op's `row_window()` (`ops.RowWindow`: rows per step, stride, zero padding):

- k x k conv (dense or depthwise): a line buffer of the k-1 previous rows; input row r releases output
  row r - k//2. The k//2 rows above and below the frame are zeros ('same' padding); the last output
  rows are released by the end-of-frame flush.
- 1x1 conv, relu, requant: row in, row out (no buffering).
- maxpool2: buffers one row; every second input row releases one output row.
- upsample2: every input row releases two output rows.
- add/concat: a FIFO per input (the skip buffer): a row leaves when every input has delivered it.
All arithmetic is the op's `execute`, the same code as the whole-frame `run_graph`, on row windows,
so the two forms cannot drift apart; tests check they agree bit for bit, borders included. That row
pipeline is the streaming reference's spec path: where the fast reference (`quantize/fast`) proves a
graph exact, the output rows are the fast whole-frame result's rows instead (the same integers, tested),
and the beats, their order and their timing come from the model below either way. `engine` as in
`reference.run_graph` ("spec" runs the row pipeline).

Timing model (dataflow, pixel granular): an output pixel is known at the cycle the last input pixel
it depends on arrives (`arrival_times`: the graph's receptive field from each op's `arrival`, borders
and the end-of-frame flush included: the last rows depend on the frame's last beats only). Its beat is
sent one cycle later at the earliest, one beat per cycle, in order, and only on cycles where the
consumer's `ready` is high. This is the latency of an ideal causal design with zero pipeline delay: a
real one (the RTL) has the same transfers and a latency larger by its pipeline depth. Line latency per
node: k x k conv k//2 lines + k//2 pixels, maxpool2 up to 1 line, the rest 0; a path's latency is the
sum along it.
"""

from __future__ import annotations

import numpy as np

from fluorogate.errors import UserError
from fluorogate.quantize.ir import InputNode, IntegerGraph
from fluorogate.quantize.reference import (
    Plan,
    apply_node,
    check_codes,
    codes_from_adu,
    fast_program_for,
    plan_for,
)


class _RowOp:
    """One node as a row operator: `push` aligned input rows (one per graph input), get released rows."""

    def __init__(self, plan: Plan, node):
        import torch

        self.plan, self.node, self.torch = plan, node, torch
        self.spec = node.row_window()
        self.fifos: list[list] = [[] for _ in node.inputs]
        self.window: list = []  # the line buffer: the rows the next step looks at

    def push(self, k: int, rows: list) -> list:
        """Rows (C, 1, W) arriving on input k; returns the output rows released, in order."""
        self.fifos[k].extend(rows)
        out = []
        while all(self.fifos):
            out.extend(self._step([f.pop(0) for f in self.fifos]))
        return out

    def _step(self, ins: list) -> list:
        spec = self.spec
        if spec.rows == 1 and not spec.pad:
            y = apply_node(self.plan, self.node, ins)
        else:
            if not self.window:  # a frame starts: the zero rows above it
                self.window.extend(self.torch.zeros_like(ins[0]) for _ in range(spec.pad))
            self.window.append(ins[0])
            if len(self.window) < spec.rows:
                return []
            y = apply_node(self.plan, self.node, [self.torch.cat(self.window, 1)], pad_rows=not spec.pad)
            del self.window[: spec.stride]
        return [y[:, r : r + 1] for r in range(y.shape[1])]

    def flush(self) -> list:
        """End of frame: release what the line buffer holds (the zero rows below the frame)."""
        out = []
        if self.spec.pad and self.window:
            zero = self.torch.zeros_like(self.window[-1])
            for _ in range(self.spec.pad):
                out.extend(self._step([zero]))
        if any(self.fifos) or (self.window and not self.spec.pad):
            raise UserError(
                f"node {self.node.name}: rows left over at the end of the frame "
                "(odd frame height at a maxpool?)"
            )
        self.window = []
        return out


def _frame(plan: Plan, graph: IntegerGraph, rows: np.ndarray) -> list[np.ndarray]:
    """Stream one frame's rows through the pipeline -> its output rows, in order (W*C values each)."""
    import torch

    ops = {n.name: _RowOp(plan, n) for n in graph.nodes if not isinstance(n, InputNode)}
    released: list[np.ndarray] = []

    def propagate(new: dict[str, list], flush: bool) -> None:
        for n in graph.nodes:
            if isinstance(n, InputNode):
                continue
            op, out = ops[n.name], []
            for k, src in enumerate(n.inputs):
                out.extend(op.push(k, new.get(src, [])))
            if flush:
                out.extend(op.flush())
            new[n.name] = out
        for row in new.get(graph.output, []):  # (C, 1, W) -> W*C values: each pixel's channels adjacent
            released.append(row[:, 0, :].T.reshape(-1).numpy().astype(np.int64))

    for r in range(rows.shape[0]):
        propagate(
            {graph.input.name: [torch.from_numpy(rows[r][None, None, :]).to(plan.carrier)]}, flush=False
        )
    propagate({}, flush=True)
    return released


def arrival_times(graph: IntegerGraph, t_in: np.ndarray) -> np.ndarray:
    """Earliest cycle each output pixel can be known: the latest arrival among the input pixels it
    depends on (`t_in`: (H, W) cycle of each input pixel's beat), through the graph's receptive fields
    (each op's `arrival`: a k x k conv, the max over the in-frame k x k neighbourhood, padding needing no
    data; maxpool2, over the 2x2 block; upsample2, a repeat; add/concat, the max over the inputs)."""
    t: dict[str, np.ndarray] = {}
    for n in graph.nodes:
        t[n.name] = t_in if isinstance(n, InputNode) else n.arrival([t[i] for i in n.inputs])
    return t[graph.output]


def run_stream(
    graph: IntegerGraph,
    stream,
    width: int,
    height: int,
    adu: bool = False,
    out_lanes: int | None = None,
    ready: np.ndarray | None = None,
    engine: str | None = None,
):
    """Feed a camera BeatStream (fluorogate.sim.stream) through the line-buffer pipeline -> output BeatStream.

    `adu=True`: the stream carries raw camera ADU, converted by the graph's CameraConversion (as the
    hardware front end does); else input codes. An output with C > 1 channels is streamed pixel by
    pixel with each pixel's C channels adjacent: lines of W*C values (`stream_to_tensors` undoes it).
    `out_lanes` defaults to the input's lanes; `ready` (bool per cycle, e.g.
    `sim.stream.ready_pattern`) stalls the output where False. Timing: see the module docstring.
    `engine`: where the values come from (module docstring).
    """
    from fluorogate.sim.stream import BeatStream, beats_to_frames

    if graph.input.channels != 1:
        raise UserError(
            f"streaming needs a single-channel camera input, graph {graph.name} has {graph.input.channels}"
        )
    lanes = stream.lanes
    frames = beats_to_frames(stream, width, height, lanes)
    beat_cycles = np.flatnonzero(stream.valid).reshape(len(frames), height, width // lanes)
    program = fast_program_for(graph, engine)
    plan = None if program is not None else plan_for(graph)
    rows_out: list[tuple[np.ndarray, np.ndarray, bool]] = []  # (values, their arrival cycles, frame start)
    for frame, cycles in zip(frames, beat_cycles, strict=True):
        codes = codes_from_adu(graph, frame) if adu else check_codes(graph, frame)[0]
        if program is not None:  # (C, H, W) -> rows of W*C values, each pixel's channels adjacent
            out = program.run(np.asarray(codes)[None])
            rows = list(out.transpose(1, 2, 0).reshape(out.shape[1], -1))
        else:
            rows = _frame(plan, graph, codes)
        t_out = arrival_times(graph, np.repeat(cycles, lanes, axis=1))
        channels = rows[0].size // t_out.shape[1]
        rows_out.extend(
            (row, np.repeat(t_row, channels), i == 0)
            for i, (row, t_row) in enumerate(zip(rows, t_out, strict=True))
        )
    return _emit(rows_out, out_lanes or lanes, ready, BeatStream)


def _emit(rows: list, lanes: int, ready: np.ndarray | None, beat_stream_cls):
    """Schedule the output beats: one per cycle, in order, after their inputs arrived, when ready."""
    if not rows:
        raise UserError("the stream held no complete frame")
    w = rows[0][0].size
    if w % lanes:
        raise UserError(f"output width {w} is not a multiple of {lanes} output lanes")
    per_row = w // lanes
    earliest = np.concatenate([t for _, t, _ in rows]).reshape(-1, lanes).max(axis=1) + 1
    cycles = np.empty(len(earliest), dtype=np.int64)
    t = 0
    for b in range(len(earliest)):  # one beat per cycle, in order, not before its inputs, only when ready
        t = max(t, int(earliest[b]))
        while ready is not None and t < len(ready) and not ready[t]:
            t += 1
        cycles[b] = t
        t += 1
    n_cycles = int(cycles[-1]) + 1
    data = np.zeros((n_cycles, lanes), np.int64)
    valid, user, last = (np.zeros(n_cycles, bool) for _ in range(3))
    data[cycles] = np.concatenate([r for r, _, _ in rows]).reshape(-1, lanes)
    valid[cycles] = True
    first_beats = np.array([i * per_row for i, (_, _, first) in enumerate(rows) if first])
    user[cycles[first_beats]] = True
    last[cycles[per_row - 1 :: per_row]] = True
    return beat_stream_cls(data, valid, user, last)


def stream_to_tensors(stream, width: int, height: int, channels: int, lanes: int) -> list[np.ndarray]:
    """Output stream of `run_stream` -> (C, H, W) int64 frames (checks tuser/tlast on the way)."""
    from fluorogate.sim.stream import beats_to_frames

    frames = beats_to_frames(stream, width * channels, height, lanes)
    return [f.reshape(height, width, channels).transpose(2, 0, 1) for f in frames]
