"""The fast reference's steps: each one kernel call (`kernels.cpp`) on the frame's buffers.

A step writes one tensor (`output`) from tensors earlier steps wrote, through `program.Frame` views
(pointer, plane and row strides, storage width). A step that computes values (a conv, an element-wise
sum) ends in an `Epilogue`: the requant, relu and saturation that follow it in the graph, fused, so
that an accumulator is rounded and clamped in registers and only the narrow result is stored.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import numpy as np

INT16_MAX = 2**15 - 1
INT32_MAX = 2**31 - 1
LIMITS = {False: (-(2**15), INT16_MAX), True: (-(2**31), INT32_MAX)}  # storage wide? -> its range

_P, _I, _L = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
_EPI = [_I] * 6
SIGNATURES = {  # kernel family -> ctypes argument types (kernels.cpp, extern "C")
    "conv": [_P, _I, _L, _L, _P, _I, _L, _L, _I, _I, _P, _P, *_EPI],
    "dwconv": [_P, _I, _L, _L, _P, _L, _L, _I, _I, _P, _P, *_EPI],
    "eltwise": [_I, _P, _P, _P, _P, _P, _I, _I, _I, _P, _L, _L, *_EPI],
    "maxpool2": [_P, _L, _L, _I, _I, _I, _P, _L, _L],
    "upsample2": [_P, _L, _L, _I, _I, _I, _P, _L, _L],
}


def kernel(lib, family: str, name: str):
    """The library's function `name` of `family`, its argument types set (once)."""
    fn = getattr(lib, name)
    if fn.argtypes is None:
        fn.argtypes, fn.restype = SIGNATURES[family], None
    return fn


def width(wide: bool) -> str:
    return "i32" if wide else "i16"


@dataclass(frozen=True)
class Epilogue:
    """What a step applies to every value before it stores it: `clamp(round_shift(x, shift), lo, hi)`.

    A requant is the shift with the graph's rounding and its quantizer's saturation. A relu is a clamp at
    0 wherever it sits in the chain: the requant is monotone and maps 0 to 0, so it commutes with
    `max(x, 0)`. Two requants would round twice, so a second is never fused into the first.
    """

    shift: int = 0  # > 0: right shift with rounding; < 0: exact left shift
    lo: int | None = None
    hi: int | None = None
    requant: bool = False

    @classmethod
    def relu(cls) -> Epilogue:
        return cls(lo=0)

    def then(self, nxt: Epilogue) -> Epilogue | None:
        """This epilogue followed by `nxt` (a relu or a requant) as one, or None when it is not one."""
        if nxt.requant:
            if self.requant:
                return None
            # self is the identity or a relu (lo = 0): requant(max(x, 0)) = clamp(requant(x), max(lo, 0), hi)
            return Epilogue(nxt.shift, nxt.lo if self.lo is None else max(nxt.lo, self.lo), nxt.hi, True)
        return Epilogue(
            self.shift,
            0 if self.lo is None else max(self.lo, 0),
            None if self.hi is None else max(self.hi, 0),
            self.requant,
        )

    def operand(self, bound: int) -> int:
        """The largest magnitude the epilogue computes on values within +-`bound`: the shifted value plus
        the rounding offset (it runs in int32 lanes, so this must stay <= 2**31 - 1)."""
        if self.shift <= 0:
            return bound << -self.shift
        return bound + (1 << (self.shift - 1))

    def args(self, rounding: str, wide: bool) -> tuple[int, ...]:
        """The kernels' (ls, rs, add, even, lo, hi). The clamp is cut to the storage type (int16 or int32):
        the range analysis proved every output value fits it, so the cut changes no value (a 32-bit
        quantizer's bounds would not even fit a C int)."""
        tlo, thi = LIMITS[wide]
        lo, hi = tlo if self.lo is None else max(self.lo, tlo), thi if self.hi is None else min(self.hi, thi)
        if self.shift <= 0:
            return -self.shift, 0, 0, 0, lo, hi
        even = {"half_even": 1, "half_up": 0}[rounding]
        return 0, self.shift, (1 << (self.shift - 1)) - even, even, lo, hi


@dataclass
class Step:
    """One kernel call writing tensor `output` from `inputs`.

    `epilogue` is None for a step that takes none (pure data movement); `bound` is the largest magnitude
    the step's values reach before their epilogue, which decides whether another one may be fused.
    """

    output: str
    inputs: list[str]
    epilogue: Epilogue | None = None
    bound: int = 0

    def accepts(self, epi: Epilogue) -> Epilogue | None:
        """The composed epilogue if `epi` can be fused onto this step exactly, else None."""
        if self.epilogue is None:
            return None
        composed = self.epilogue.then(epi)
        return composed if composed is not None and composed.operand(self.bound) <= INT32_MAX else None

    def run(self, frame) -> None:
        raise NotImplementedError


@dataclass
class InputStep(Step):
    """The frame's input codes into their buffer."""

    def run(self, frame) -> None:
        frame.view(self.output).interior[...] = frame.codes


@dataclass
class ConvStep(Step):
    """A dense or depthwise k x k conv, `lanes` bits per accumulator (16 or 32), weights in lane type."""

    kernel: int = 1
    depthwise: bool = False
    lanes: int = 32
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def run(self, frame) -> None:
        x, y = frame.view(self.inputs[0]), frame.view(self.output)
        family = "dwconv" if self.depthwise else "conv"
        fn = kernel(
            frame.lib, family, f"fg_{family}_l{self.lanes}_{width(x.wide)}_{width(y.wide)}_k{self.kernel}"
        )
        head = [x.ptr, x.channels, x.plane, x.stride, y.ptr] + ([] if self.depthwise else [y.channels])
        fn(
            *head,
            y.plane,
            y.stride,
            y.height,
            y.width,
            self.weight.ctypes.data,
            self.bias.ctypes.data,
            *self.epilogue.args(frame.rounding, y.wide),
        )


@dataclass
class EltwiseStep(Step):
    """`epilogue(sum_i inputs[i] << shifts[i])` in int32 lanes: an add, a lone requant or relu."""

    shifts: list[int] = field(default_factory=list)

    def run(self, frame) -> None:
        eltwise(
            frame, [frame.view(i) for i in self.inputs], self.shifts, frame.view(self.output), self.epilogue
        )


def eltwise(frame, ins: list, shifts: list[int], out, epi: Epilogue) -> None:
    """`out = epi(sum_i ins[i] << shifts[i])` over views of equal shape (the kernel `fg_eltwise_*`)."""
    n = len(ins)
    fn = kernel(frame.lib, "eltwise", f"fg_eltwise_{width(out.wide)}")
    ptrs = (ctypes.c_void_p * n)(*[v.ptr for v in ins])
    wide = np.array([v.wide for v in ins], np.intc)
    planes, strides = (np.array([getattr(v, k) for v in ins], np.int_) for k in ("plane", "stride"))
    shifts = np.array(shifts, np.intc)
    fn(
        n,
        ctypes.addressof(ptrs),
        wide.ctypes.data,
        planes.ctypes.data,
        strides.ctypes.data,
        shifts.ctypes.data,
        out.channels,
        out.height,
        out.width,
        out.ptr,
        out.plane,
        out.stride,
        *epi.args(frame.rounding, out.wide),
    )


@dataclass
class ConcatStep(Step):
    """Channel concat: each input shifted onto the output's grid into its channel slice. An input that
    already lives in its slice (placed there by `program`, its producer wrote it in place) is skipped."""

    shifts: list[int] = field(default_factory=list)

    def run(self, frame) -> None:
        offset = 0
        for name, shift in zip(self.inputs, self.shifts, strict=True):
            x = frame.view(name)
            dst = frame.view(self.output, offset, x.channels)
            if x.ptr != dst.ptr:
                eltwise(frame, [x], [shift], dst, Epilogue())
            offset += x.channels


@dataclass
class ResampleStep(Step):
    """`maxpool2` or `upsample2` (the kernel of that name): no arithmetic, only data movement."""

    kind: str = "maxpool2"

    def run(self, frame) -> None:
        x, y = frame.view(self.inputs[0]), frame.view(self.output)
        fn = kernel(frame.lib, self.kind, f"fg_{self.kind}_{width(x.wide)}_{width(y.wide)}")
        size = (y.height, y.width) if self.kind == "maxpool2" else (x.height, x.width)
        fn(x.ptr, x.plane, x.stride, x.channels, *size, y.ptr, y.plane, y.stride)
