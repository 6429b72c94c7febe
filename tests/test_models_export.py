"""Models and QONNX export: shapes, shared parameter names, and qonnx execution == Brevitas, bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from fluorogate.errors import UserError
from fluorogate.models import ModelConfig, build_model, parse_bits
from fluorogate.quantize.export import export_float_onnx, export_qonnx, read_metadata

TASKS = ("denoise", "unet", "sr2x")


def _calibrated_twin(cfg: ModelConfig, seed: int = 0) -> torch.nn.Module:
    """A QAT twin whose activation scales have seen data (a few training-mode forwards), in eval mode."""
    torch.manual_seed(seed)
    model = build_model(cfg, quant=True)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 1, 32, 32))
    return model.eval()


def _codes(size: int, seed: int = 1) -> torch.Tensor:
    """Input on the camera grid: integer codes times 2**-8, as the camera front end delivers them."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, 1, size, size), generator=gen).float() / 256


@pytest.mark.parametrize("task", TASKS)
def test_float_and_quant_twins_share_parameter_names_and_shapes(task):
    cfg = ModelConfig(task=task)
    flt, qat = build_model(cfg, quant=False), build_model(cfg, quant=True)
    float_keys = set(flt.state_dict())
    assert float_keys <= set(qat.state_dict())
    # the twin adds only its quantizers' learned scales
    qat_layer_params = {n for n, _ in qat.named_parameters() if "_quant." not in n}
    assert {n for n, _ in flt.named_parameters()} == qat_layer_params
    qat.load_state_dict(flt.state_dict(), strict=False)
    x = _codes(16)
    factor = 2 if task == "sr2x" else 1
    assert flt(x).shape == (1, 1, 16 * factor, 16 * factor)
    qat.eval()
    assert qat(x).shape == (1, 1, 16 * factor, 16 * factor)


@pytest.mark.parametrize("task", TASKS)
def test_qonnx_execution_equals_brevitas_bit_for_bit_for_both_roundings(task, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    x = _codes(16)
    outputs = {}
    for rounding in ("half_even", "half_up"):
        model = _calibrated_twin(ModelConfig(task=task, rounding=rounding))
        path = export_qonnx(model, tmp_path / f"{rounding}.onnx", size=16)
        wrapper = ModelWrapper(str(path))
        got = execute_onnx(wrapper, {wrapper.graph.input[0].name: x.numpy()})[wrapper.graph.output[0].name]
        with torch.no_grad():
            want = model(x).numpy()
        np.testing.assert_array_equal(got, want)
        modes = {
            a.s.decode()
            for n in wrapper.graph.node
            if n.op_type == "Quant"
            for a in n.attribute
            if a.name == "rounding_mode"
        }
        assert modes == {"ROUND" if rounding == "half_even" else "HALF_UP"}
        assert read_metadata(wrapper.model)["rounding"] == rounding
        outputs[rounding] = want
    # The same parameters under the two roundings must differ somewhere, else no tie was exercised.
    assert (outputs["half_even"] != outputs["half_up"]).any()


def test_float_onnx_matches_torch_at_another_frame_size(tmp_path):
    import onnxruntime as ort

    model = build_model(ModelConfig(), quant=False).eval()
    path = export_float_onnx(model, tmp_path / "model.onnx", size=16)
    x = _codes(24)
    got = ort.InferenceSession(str(path)).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert read_metadata(onnx.load(str(path)))["rounding"] == "half_even"


def test_default_denoiser_fits_the_mac_budget():
    from net_costs import macs_per_pixel

    assert macs_per_pixel(ModelConfig()) <= 1500


@pytest.mark.parametrize(
    ("tag", "message"),
    [("w4", "form wNaM"), ("w9a8", "weight bit width 9"), ("w4a1", "activation bit width 1")],
)
def test_bad_bit_tags_are_user_errors(tag, message):
    with pytest.raises(UserError, match=message):
        parse_bits(tag)


def test_config_rejects_unknown_task_and_shallow_unet():
    assert parse_bits("W8A8") == (8, 8)
    with pytest.raises(ValueError, match="task"):
        ModelConfig(task="deblur")
    with pytest.raises(ValueError, match="layers >= 5"):
        ModelConfig(task="unet", layers=4)
    assert ModelConfig(task="unet").layers == 5


def test_weights_on_a_negative_tie_export_exactly_under_half_up(tmp_path):
    """QAT parks weights exactly on rounding ties; export must store them on the grid (snap_to_grid)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model = _calibrated_twin(ModelConfig(rounding="half_up"))
    with torch.no_grad():
        scale = model.head.quant_weight().scale
        model.head.weight[0, 0, 1, 1] = -1.5 * scale  # floor(x + 0.5) -> -1; qonnx HALF_UP -> -2
        model.head.weight[1, 0, 1, 1] = -0.5 * scale
        assert torch.equal(model.head.quant_weight().scale, scale)
    path = export_qonnx(model, tmp_path / "tie.onnx", size=16)
    wrapper = ModelWrapper(str(path))
    x = _codes(16)
    got = execute_onnx(wrapper, {wrapper.graph.input[0].name: x.numpy()})[wrapper.graph.output[0].name]
    with torch.no_grad():
        np.testing.assert_array_equal(got, model(x).numpy())


def test_snapping_keeps_the_weight_scale_when_the_largest_weight_rounds_to_half_the_range(tmp_path):
    from fluorogate.quantize.export import snap_to_grid

    model = _calibrated_twin(ModelConfig())
    with torch.no_grad():
        w = model.head.weight
        w.mul_(0.1)
        w[0, 0, 0, 0] = 0.26  # range 2**-1 -> scale 2**-4; 0.26 / 2**-4 = 4.16 rounds to 4 = half the range
        scale = model.head.quant_weight().scale.clone()
        snapped = snap_to_grid(model)
        assert torch.equal(snapped.head.quant_weight().scale, scale)
        assert torch.equal(snapped.head.quant_weight().value, model.head.quant_weight().value)
        x = _codes(16)
        np.testing.assert_array_equal(snapped(x).numpy(), model(x).numpy())
