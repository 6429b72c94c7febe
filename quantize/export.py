"""Export a trained network: QONNX (the hardware's source of truth) and float ONNX (onnxruntime).

The networks are fully convolutional, so the graph is exported at a small frame (`size`, default
16): every weight, scale and rounding is independent of the frame size, and qonnx's shape inference
(cleanup, channels-last conversion) builds full-size tensors, which costs minutes at 512x512.

What is written into the QONNX file beyond Brevitas's own export:
- every `Quant` node's `rounding_mode` is set from the model's recorded rounding
  (`QONNX_ROUNDING_MODE`): Brevitas's export only knows its built-in enum, so a `half_up` twin
  would otherwise be labelled `ROUND`;
- `metadata_props` (`fluorogate.*` keys, see `write_metadata`): rounding, config, camera conversion,
  versions, so the IR builder reads them from the one file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from fluorogate.errors import UserError

META_PREFIX = "fluorogate."


def _config_of(model: nn.Module):
    cfg = getattr(model, "cfg", None)
    if cfg is None:
        raise UserError("export: the model carries no ModelConfig (.cfg); build it with build_model")
    return cfg


def _rounding_of(model: nn.Module) -> str:
    return _config_of(model).rounding


def _example_input(model: nn.Module, size: int) -> torch.Tensor:
    """A zero frame (or stack of the task's input frames) of `size` x `size`, to trace the network."""
    return torch.zeros(1, _config_of(model).spec.in_channels, size, size)


def write_metadata(onnx_model, meta: dict[str, str]) -> None:
    """Set `fluorogate.<key>` metadata_props on an onnx ModelProto (replacing equal keys)."""
    keep = [p for p in onnx_model.metadata_props if p.key not in {META_PREFIX + k for k in meta}]
    del onnx_model.metadata_props[:]
    onnx_model.metadata_props.extend(keep)
    for key, value in meta.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = META_PREFIX + key, value


def read_metadata(onnx_model) -> dict[str, str]:
    """The `fluorogate.*` metadata_props of an onnx ModelProto, prefix removed."""
    return {
        p.key[len(META_PREFIX) :]: p.value for p in onnx_model.metadata_props if p.key.startswith(META_PREFIX)
    }


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a model's numbers (recorded with weights and exports)."""
    from importlib.metadata import version

    return {name: version(name) for name in ("fluorogate", "torch", "brevitas", "qonnx", "numpy")}


def _base_metadata(model: nn.Module, extra: dict[str, str] | None) -> dict[str, str]:
    meta = {
        "rounding": model.cfg.rounding,
        "model_config": model.cfg.model_dump_json(),
        "versions": json.dumps(package_versions()),
    }
    meta.update(extra or {})
    return meta


def _snap_weight(name: str, mod: nn.Module) -> None:
    """Replace a layer's weights by their quantized values, keeping the weight scale.

    The scale is `2**ceil(log2(max|w|)) / 2**(bits-1)`: when the largest weight rounds to exactly half
    that power of two, snapping it would halve the scale. Such a largest weight lies strictly between
    two codes (above half the range, below the tie), so it is left as it is: it rounds the same in
    every mode.
    """
    original = mod.weight.detach().clone()
    scale = mod.quant_weight().scale.detach().clone()
    mod.weight.copy_(mod.quant_weight().value)
    if torch.equal(mod.quant_weight().scale, scale):
        return
    largest = original.abs() == original.abs().max()
    if bool((torch.frac((original[largest] / scale).abs()) == 0.5).any()):
        raise UserError(
            f"export: {name}.weight's largest value sits exactly on a rounding tie; "
            "train a few more steps and export again"
        )
    mod.weight.copy_(torch.where(largest, original, mod.weight))
    if not torch.equal(mod.quant_weight().scale, scale):
        raise UserError(f"export: snapping {name}.weight to its grid changed its scale")


def snap_to_grid(model: nn.Module) -> nn.Module:
    """A copy of the QAT twin whose float weights and biases already sit on their quantization grids.

    The exported Quant nodes round the stored weights and biases again, with the node's mode. QAT
    drives weights onto rounding boundaries (the loss jumps there, and as the cosine schedule takes
    the learning rate to ~0 a weight oscillating across a boundary stops on it): the default denoiser
    ended with 2 of its ~1,300 weights exactly half-way between two codes, one of them negative,
    where qonnx's sign-symmetric HALF_UP and Brevitas's floor(x + 0.5) disagree. Stored on the grid,
    every Quant node of a weight or bias is exact, whatever its rounding mode. The scales must not move
    (a weight scale follows max |w|): see `_snap_weight`.
    """
    import copy

    from brevitas.nn.quant_layer import QuantWeightBiasInputOutputLayer

    from fluorogate.quantize.qat import round_like

    model = copy.deepcopy(model).eval()
    layers = {n: m for n, m in model.named_modules() if isinstance(m, QuantWeightBiasInputOutputLayer)}
    in_scale: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, inp, n=n: in_scale.__setitem__(n, inp[0].scale))
        for n, m in layers.items()
    ]
    with torch.no_grad():
        model(_example_input(model, 8))
    for h in hooks:
        h.remove()
    rounding = _rounding_of(model)
    with torch.no_grad():
        for name, mod in layers.items():
            _snap_weight(name, mod)
            w_scale = mod.quant_weight().scale.detach()
            if mod.bias is not None:
                b_scale = in_scale[name] * w_scale
                mod.bias.copy_(round_like(mod.bias / b_scale, rounding) * b_scale)
    return model


def export_qonnx(
    model: nn.Module,
    path: str | os.PathLike,
    size: int = 16,
    metadata: dict[str, str] | None = None,
    channels_last: bool = False,
) -> Path:
    """Export the Brevitas QAT twin `model` to a cleaned QONNX file (NCHW unless `channels_last`).

    `size` is the frame size baked into the graph's shapes; the network itself is size-independent.
    """
    import onnx
    from brevitas.export import export_qonnx as brevitas_export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from fluorogate.quantize.qat import QONNX_ROUNDING_MODE

    path = Path(path)
    rounding = _rounding_of(model)
    model = snap_to_grid(model)
    with torch.no_grad():
        brevitas_export_qonnx(model, args=_example_input(model, size), export_path=str(path), dynamo=False)
    wrapper = cleanup_model(ModelWrapper(str(path)))
    if channels_last:
        from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean

        wrapper = wrapper.transform(ConvertToChannelsLastAndClean(make_input_channels_last=True))
    for node in wrapper.graph.node:
        if node.op_type == "Quant":
            attr = next(a for a in node.attribute if a.name == "rounding_mode")
            attr.s = QONNX_ROUNDING_MODE[rounding].encode()
    write_metadata(wrapper.model, _base_metadata(model, metadata))
    onnx.save(wrapper.model, str(path))
    return path


def export_float_onnx(
    model: nn.Module, path: str | os.PathLike, size: int = 16, metadata: dict[str, str] | None = None
) -> Path:
    """Export the float network to plain ONNX with dynamic height and width (for onnxruntime)."""
    import onnx

    path = Path(path)
    _rounding_of(model)
    model = model.eval()
    with torch.no_grad():
        torch.onnx.export(
            model,
            (_example_input(model, size),),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "y": {0: "n", 2: "h2", 3: "w2"}},
            dynamo=False,
        )
    proto = onnx.load(str(path))
    write_metadata(proto, _base_metadata(model, metadata))
    onnx.save(proto, str(path))
    return path
