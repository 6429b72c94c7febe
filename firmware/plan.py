"""Group an IntegerGraph's nodes into streaming stages, the unit the Verilog generator instantiates.

A stage is one head node (conv, add/concat, a pool, an upsample, or a lone relu/requant) plus the
element-wise nodes that follow it with no other reader (the ops whose stage type is `fusable`: relu,
requant): those cost a few LUTs after the kernel and would otherwise each need their own FIFO. Every
stage ends in an output FIFO with a credit counter, so stage boundaries are where the stream can stall.
Each op's stage type (`firmware/stages/`) names the stage's kind.
"""

from __future__ import annotations

from fluorogate.firmware.stages import STAGES, Stage, tensor_range, vname
from fluorogate.quantize.ir import InputNode, IntegerGraph

__all__ = ["Stage", "plan_stages", "tensor_range", "vname"]


def plan_stages(graph: IntegerGraph) -> list[Stage]:
    """Stages in topological order."""
    stages: list[Stage] = []
    fused: set[str] = set()
    for node in graph.nodes:
        if isinstance(node, InputNode) or node.name in fused:
            continue
        stage = Stage(vname(node.name), STAGES.lookup(node).stage_kind(node), node, inputs=list(node.inputs))
        tail = node.name
        while tail != graph.output:
            readers = graph.consumers(tail)
            if len(readers) != 1 or not getattr(STAGES.get(readers[0].op), "fusable", False):
                break
            stage.post.append(readers[0])
            fused.add(readers[0].name)
            tail = readers[0].name
        stages.append(stage)
    return stages
