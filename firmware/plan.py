"""Group an IntegerGraph's nodes into streaming stages, the unit the Verilog generator instantiates.

A stage is one head node (conv, add/concat, or a lone relu/requant) plus the element-wise nodes that
follow it with no other reader (relu, requant): those cost a few LUTs after the kernel and would
otherwise each need their own FIFO. Every stage ends in an output FIFO with a credit counter, so stage
boundaries are where the stream can stall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from fluorogate.errors import UserError
from fluorogate.quantize.ir import ConvNode, IntegerGraph, Node, TensorRange

StageKind = Literal["conv3", "conv1", "join", "pointwise", "maxpool2", "upsample2"]
_FUSABLE = ("relu", "requant")


@dataclass
class Stage:
    name: str  # Verilog-safe
    kind: StageKind
    head: Node
    post: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # tensor names read

    @property
    def output(self) -> str:
        return (self.post[-1] if self.post else self.head).name


def vname(name: str) -> str:
    """A Verilog identifier for an IR node name."""
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def tensor_range(graph: IntegerGraph, name: str) -> TensorRange:
    try:
        return graph.ranges[name]
    except KeyError:
        raise UserError(f"IR {graph.name!r}: tensor {name!r} has no range; the RTL generator needs the "
                        "range analysis (fluorogate.quantize.ranges) filled into graph.ranges") from None


def plan_stages(graph: IntegerGraph) -> list[Stage]:
    """Stages in topological order."""
    stages: list[Stage] = []
    fused: set[str] = set()
    for node in graph.nodes:
        if node.op == "input" or node.name in fused:
            continue
        if isinstance(node, ConvNode):
            kind: StageKind = "conv3" if node.kernel == 3 else "conv1"
        elif node.op in ("add", "concat"):
            kind = "join"
        elif node.op in _FUSABLE:
            kind = "pointwise"
        elif node.op in ("maxpool2", "upsample2"):
            kind = node.op
        else:  # pragma: no cover - the IR's discriminated union has no other node types
            raise UserError(f"IR {graph.name!r}: node {node.name!r} ({node.op}) is not supported by the RTL")
        stage = Stage(vname(node.name), kind, node, inputs=list(node.inputs))
        tail = node.name
        while tail != graph.output:
            readers = graph.consumers(tail)
            if len(readers) != 1 or readers[0].op not in _FUSABLE:
                break
            stage.post.append(readers[0])
            fused.add(readers[0].name)
            tail = readers[0].name
        stages.append(stage)
    return stages
