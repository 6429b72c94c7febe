"""Every back end has one handler per IR op, registered beside its own code, and names what it lacks.

The RTL (`firmware/stages/`), hls4ml (`hls/hls4ml/handlers.py`), FINN (`hls/finn/ops.py`) and fast
reference (`quantize/fast/handlers.py`) tables cover every op of the IR (`quantize/ops/`); hls4ml's layer
classes map to IR ops by class, so a 1x1 conv (`PointwiseConv2D`) and a depthwise one (`DepthwiseConv2D`) are
what they are, and a class nobody registered is a `TypeMismatch` naming the layer. The hls4ml FIFO model pads
a 5x5 window by 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from rtl_graphs import layer_graph

from fluorogate.firmware.stages import STAGES
from fluorogate.hls.finn.ops import FINN
from fluorogate.hls.hls4ml.fifo import schedule
from fluorogate.hls.hls4ml.handlers import HLS4ML, LAYERS, pad_times
from fluorogate.hls.hls4ml.types import TypeMismatch, expand
from fluorogate.quantize.fast.handlers import FAST
from fluorogate.quantize.ops import OPS


def test_every_back_end_covers_every_op():
    assert STAGES.missing() == ["input"]  # the camera input is the top level's front end, not a stage
    assert HLS4ML.missing() == []
    assert FINN.missing() == []
    assert FAST.missing() == []  # an op without one would send every graph holding it to the spec path
    assert set(OPS) >= {"conv", "dwconv"}


@dataclass
class _Precision:
    width: int = 16
    integer: int = 8
    signed: bool = True
    rounding_mode: str = "TRN"


@dataclass
class _Var:
    name: str
    precision: _Precision = field(default_factory=_Precision)

    @property
    def type(self):
        return self


@dataclass
class _Layer:
    """What `expand` reads of an hls4ml layer."""

    name: str
    class_name: str
    inputs: list[str]
    attrs: dict = field(default_factory=dict)

    @property
    def outputs(self) -> list[str]:
        return [f"{self.name}_out"]

    def get_output_variable(self):
        return _Var(self.outputs[0])

    def get_input_variable(self):
        return _Var(self.inputs[0])

    @property
    def types(self):
        return {"accum_t": _Var("acc")}

    def get_attr(self, key, default=None):
        return self.attrs.get(key, default)


@dataclass
class _Model:
    layers: list[_Layer]

    def get_layers(self):
        return self.layers

    def get_output_variables(self):
        return [self.layers[-1].get_output_variable()]


def test_hls4ml_conv_classes_map_to_ir_ops_by_class():
    layers = [
        _Layer("in", "Input", []),
        _Layer("Conv2D_Conv_0", "Conv2D", ["in_out"]),
        _Layer("DepthwiseConv2D_Conv_1", "DepthwiseConv2D", ["Conv2D_Conv_0_out"]),
        _Layer("Conv2D_Conv_2", "PointwiseConv2D", ["DepthwiseConv2D_Conv_1_out"]),
        _Layer("Relu_3", "Activation", ["Conv2D_Conv_2_out"], {"activation": "relu"}),
    ]
    ex = expand(_Model(layers))
    assert [(op.layer.class_name, op.op) for op in ex.ops.values()] == [
        ("Input", "input"),
        ("Conv2D", "conv"),
        ("DepthwiseConv2D", "dwconv"),
        ("PointwiseConv2D", "conv"),
        ("Activation", "relu"),
        ("Activation", "requant"),
    ]
    assert LAYERS["PointwiseConv2D"] is LAYERS["Conv2D"]
    with pytest.raises(TypeMismatch, match=r"hls4ml layer s \(SeparableConv2D\) has no IR counterpart"):
        expand(_Model([*layers, _Layer("s", "SeparableConv2D", ["Relu_3_out"])]))
    with pytest.raises(TypeMismatch, match="ConvLSTM"):  # a 'Conv' prefix is no longer enough
        expand(_Model([*layers, _Layer("c", "ConvLSTM2D", ["Relu_3_out"])]))


def test_hls4ml_fifo_model_pads_a_5x5_window_by_two():
    g = layer_graph("conv5")
    h, w = 6, 8
    s = schedule(g, h, w, latency=0, line_gap=0)
    t_in = s.times["x"]
    padded = pad_times(t_in, 2)
    assert padded.shape == (h + 4, w + 4)
    assert np.array_equal(s.reads[("x", "c")], padded[2:-2, 2:-2])
    # output (0, 0) waits for padded beat (4, 4): input pixel (2, 2), the window's bottom-right tap
    assert s.times["c"][0, 0] >= t_in[2, 2]


def test_rtl_stage_types_come_from_each_op():
    assert STAGES.get("dwconv").__name__ == "DepthwiseStage" and STAGES.get("conv").__name__ == "ConvStage"
    assert all(STAGES.get(op).fusable for op in ("relu", "requant"))
    assert not any(
        STAGES.get(op).fusable for op in ("conv", "dwconv", "add", "concat", "maxpool2", "upsample2")
    )
