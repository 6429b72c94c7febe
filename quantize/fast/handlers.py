"""How each IR op runs in the fast reference: one handler per op (`FAST`, a `Registry`, docs/ir.md).

A handler turns its node into a `steps.Step` (`step`), may offer an `Epilogue` that rides on the step
producing its input (`epilogue`: relu, requant), and may ask for inputs to be stored inside its own
output (`places`: concat, so its producers write their channel slices in place). It decides the
arithmetic's width from the IR's range analysis and refuses (`program.Refused`) what it cannot prove
exact; an op without a handler, or a refused node, sends the whole graph to the spec path.
"""

from __future__ import annotations

import numpy as np

from fluorogate.quantize.fast.steps import (
    INT16_MAX,
    ConcatStep,
    ConvStep,
    EltwiseStep,
    Epilogue,
    InputStep,
    ResampleStep,
    Step,
)
from fluorogate.quantize.ops.registry import Registry


class FastOp:
    """The fast reference's handler of one IR op (`low` is the `program.Lowering` of the graph)."""

    def step(self, node, low) -> Step:
        raise NotImplementedError

    def epilogue(self, node, low) -> Epilogue | None:
        """The op as an epilogue of its input's producer, or None when it is not element-wise."""
        return None

    def places(self, node, low) -> dict[str, int]:
        """Inputs that may be stored inside this node's output tensor: name -> first channel there."""
        return {}


FAST: Registry[type[FastOp]] = Registry("fast reference")


@FAST.register("input")
class InputOp(FastOp):
    def step(self, node, low) -> Step:
        return InputStep(node.name, [])


@FAST.register("conv", "dwconv")
class ConvOp(FastOp):
    """Dense and depthwise convs: int16 accumulator lanes where every partial sum is proven within +-32767
    (`accumulator_bound`, any summation order), else int32 lanes up to 2**31 - 1, else refused."""

    def step(self, node, low) -> Step:
        bound = node.accumulator_bound([low.range(node.inputs[0])])
        widest = low.within_int32(
            node, max(bound, int(np.abs(node.weight_array).max(initial=0))), "its accumulator"
        )
        lanes = 16 if widest <= INT16_MAX else 32
        dtype = np.int16 if lanes == 16 else np.int32
        bias = np.asarray(node.bias if node.bias is not None else [0] * node.out_channels)
        return ConvStep(
            node.name,
            [node.inputs[0]],
            Epilogue(),
            bound,
            kernel=node.kernel,
            depthwise=node.depthwise,
            lanes=lanes,
            weight=np.ascontiguousarray(node.weight_array, dtype=dtype),
            bias=bias.astype(dtype),
        )


class _Pointwise(FastOp):
    """relu and requant: fused into their producer's epilogue, else one element-wise pass of their own."""

    def step(self, node, low) -> Step:
        step = EltwiseStep(
            node.name, [node.inputs[0]], Epilogue(), low.range(node.inputs[0]).magnitude, shifts=[0]
        )
        step.epilogue = step.accepts(self.epilogue(node, low))
        if step.epilogue is None:
            low.refuse(node, f"its values may exceed 2**31 - 1 in the rounding (input bound {step.bound})")
        return step


@FAST.register("relu")
class ReluOp(_Pointwise):
    def epilogue(self, node, low) -> Epilogue:
        return Epilogue.relu()


@FAST.register("requant")
class RequantOp(_Pointwise):
    def epilogue(self, node, low) -> Epilogue:
        q = node.quant
        return Epilogue(q.exp - low.exps[node.inputs[0]], q.min_int, q.max_int, requant=True)


def _shifts(node, low) -> list[int]:
    """Left shifts that bring each input onto the node's (finest) grid."""
    return [low.exps[i] - low.exps[node.name] for i in node.inputs]


def _aligned_magnitudes(node, low) -> list[int]:
    """Each input's proven magnitude once shifted onto the node's grid."""
    return [low.range(i).magnitude << s for i, s in zip(node.inputs, _shifts(node, low), strict=True)]


@FAST.register("add")
class AddOp(FastOp):
    def step(self, node, low) -> Step:
        bound = low.within_int32(node, sum(_aligned_magnitudes(node, low)), "its sum")
        return EltwiseStep(node.name, list(node.inputs), Epilogue(), bound, shifts=_shifts(node, low))


@FAST.register("concat")
class ConcatOp(FastOp):
    def step(self, node, low) -> Step:
        bound = low.within_int32(node, max(_aligned_magnitudes(node, low)), "an aligned input")
        return ConcatStep(node.name, list(node.inputs), None, bound, shifts=_shifts(node, low))

    def places(self, node, low) -> dict[str, int]:
        """Inputs already on the output's grid are written in place by their producers (no copy)."""
        out, offset = {}, 0
        for name, shift in zip(node.inputs, _shifts(node, low), strict=True):
            if shift == 0 and name not in out:
                out[name] = offset
            offset += low.channels[name]
        return out


@FAST.register("maxpool2", "upsample2")
class ResampleOp(FastOp):
    def step(self, node, low) -> Step:
        return ResampleStep(node.name, [node.inputs[0]], kind=node.op)
