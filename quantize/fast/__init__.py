"""The fast integer reference: the IntegerGraph as fused, vectorised integer kernels (docs/reference.md).

`reference.run_graph` runs a graph here when every node has a handler (`handlers.FAST`, one per op)
that proves its arithmetic exact in int16 or int32 lanes from the IR's range analysis, and the kernels
(`kernels.cpp`, compiled once per machine by `library.py`) are available; else on the spec path (torch,
`OpNode.execute`), which the tests compare this against bit for bit.
"""

from __future__ import annotations

from fluorogate.quantize.fast.program import Refused, fast_program

__all__ = ["Refused", "fast_program"]
