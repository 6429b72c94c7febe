"""What FINN builds each IR op from, per op: the FINN layers it becomes and the flow's steps for it.

FINN maps the QONNX itself (streamlining turns every requant into thresholds, `LowerConvsToMatMul`
every conv into a sliding window and a matrix product, `convert_to_hw` those into HW layers), so the
FINN back end has no code per op beyond a few steps of its flow (`flow.DEFAULT_STEPS`). This table
says, for every IR op, which FINN layers carry it and which of those steps exist for it, and refuses an
op FINN cannot build before any step runs, naming the node and the reason (`check_supported`): an IR
op without an entry here has never been through FINN and is refused as such.

A depthwise conv (`dwconv`) becomes FINN's vector-vector unit (VVAU): qonnx lowers it to an Im2Col
marked depthwise and a block-sparse MatMul, which `InferVectorVectorActivation` recognises. Every op
is checked bit for bit after every step by `verify.FinnChecker`; FINN needs `half_up` models
(`flow.check_rounding`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fluorogate.quantize.ir import IntegerGraph, OpNode
from fluorogate.quantize.ops.registry import Registry, UnsupportedOp


@dataclass(frozen=True)
class FinnOp:
    """One IR op in FINN: the HW layers that compute it and the flow steps (names) that exist for it."""

    layers: tuple[str, ...]
    steps: tuple[str, ...] = ()
    refuse: Callable[[OpNode, IntegerGraph], str | None] | None = None  # the reason FINN cannot build it


FINN: Registry[FinnOp] = Registry("FINN")

FINN.register("input")(FinnOp(("(the accelerator's input: integer codes)",), ("codes_boundary",)))
FINN.register("conv")(FinnOp(("FMPadding", "ConvolutionInputGenerator", "MVAU")))
FINN.register("dwconv")(FinnOp(("FMPadding", "ConvolutionInputGenerator (depthwise)", "VVAU")))
FINN.register("relu", "requant")(FinnOp(("Thresholding (standalone, or inside the MVAU/VVAU before it)",)))
FINN.register("add")(FinnOp(("AddStreams / ElementwiseAdd",), ("streamline_joins",)))
FINN.register("concat")(
    FinnOp(("StreamingConcat, or split into the conv after it",), ("streamline_joins", "split_concat_convs"))
)
FINN.register("maxpool2")(FinnOp(("StreamingMaxPool / Pool",), ("streamline_joins",)))
FINN.register("upsample2")(FinnOp(("UpsampleNearestNeighbour",), ("resize_to_hw",)))


def check_supported(graph: IntegerGraph) -> None:
    """`UnsupportedOp` naming the first node FINN cannot build, and why."""
    for node in graph.nodes:
        entry = FINN.lookup(node)
        reason = entry.refuse(node, graph) if entry.refuse else None
        if reason:
            raise UnsupportedOp(f"FINN cannot build node {node.name!r} ({node.op}): {reason}")


def layers_of(graph: IntegerGraph) -> dict[str, list[str]]:
    """IR op -> the FINN layers that carry it, for the ops of `graph` (the build summary)."""
    return {op: list(FINN.lookup(n).layers) for op, n in {n.op: n for n in graph.nodes}.items()}
