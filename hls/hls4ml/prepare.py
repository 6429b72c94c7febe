"""QONNX -> the channels-last QONNX that hls4ml 1.3 converts into a clean io_stream project.

Small qonnx Transformations applied by `prepare_qonnx`, each fixing one measured pitfall:

- qonnx's `ConvertToChannelsLastAndClean` leaves one Transpose per consumer of a forked tensor
  (residual add, concat skip): it never moves a Transpose through a fork. In io_stream every
  Transpose is a whole-frame reorder buffer (a frame of BRAM and a frame of latency), so
  `MergeTwinTransposes` folds identical sibling Transposes into one, which qonnx can then move up to
  the input and absorb (`make_input_channels_last`).
- The graph's final Transpose back to channels-first is dropped (`DropOutputTranspose`): the camera
  side reads pixels channels-last anyway, and for one output channel the two layouts are the same bytes.
- qonnx wraps Conv/MaxPool/BatchNorm into channels-last ops but not Concat or Resize, so each of
  those keeps a Transpose on every side. `WrapLayoutOpsChannelsLast` does for them what qonnx does
  for Conv (Transposes around a channels-last Concat(axis 3) or Resize(scales permuted)); qonnx's own
  clean-up then cancels the Transpose pairs.
- hls4ml 1.3 refuses Quant nodes with `rounding_mode` HALF_UP ("Only ROUND and FLOOR supported").
  `NeutralRounding` rewrites them to ROUND so the graph converts; the rounding the hardware really
  uses is set afterwards from the IR (`hls.types.apply_types`: half_up -> AP_RND), and the types step
  fails loudly if any rounding point of hls4ml is not an IR requant.
- A nearest `Resize` exported by torch has an empty optional `roi` input; hls4ml's parser looks up a
  shape for every input name and fails on ''. `FillResizeRoi` gives it a constant, which is what
  hls4ml's `ResizeRemoveConstants` expects (three inputs, RoI a constant). The constant has ONE zero:
  that pass tests `if roi.value:`, which raises on an empty numpy array ("truth value ... ambiguous")
  and is False for [0.]. The RoI is ignored by nearest/asymmetric Resize either way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fluorogate.errors import UserError


def _transformation_base():
    from qonnx.transformation.base import Transformation

    return Transformation


def _perm(node) -> list[int]:
    return next(list(a.ints) for a in node.attribute if a.name == "perm")


def _rewire(model, old: str, new: str) -> None:
    for consumer in model.find_consumers(old) or []:
        for i, name in enumerate(consumer.input):
            if name == old:
                consumer.input[i] = new


def merge_twin_transposes():
    """Transformation: sibling Transposes with the same input and perm become one."""

    class MergeTwinTransposes(_transformation_base()):
        def apply(self, model):
            for node in model.graph.node:
                if node.op_type != "Transpose":
                    continue
                twins = [
                    c
                    for c in model.find_consumers(node.input[0]) or []
                    if c is not node and c.op_type == "Transpose" and _perm(c) == _perm(node)
                ]
                for twin in twins:
                    _rewire(model, twin.output[0], node.output[0])
                    model.graph.node.remove(twin)
                if twins:
                    return model, True
            return model, False

    return MergeTwinTransposes()


def drop_output_transpose():
    """Transformation: the graph output is taken before a final channels-last -> first Transpose."""

    class DropOutputTranspose(_transformation_base()):
        def apply(self, model):
            out = model.graph.output[0]
            last = model.find_producer(out.name)
            if last is None or last.op_type != "Transpose":
                return model, False
            src = last.input[0]
            producer = model.find_producer(src)
            if producer is None or len(model.find_consumers(src) or []) != 1:
                return model, False
            shape = model.get_tensor_shape(src)
            model.graph.node.remove(last)
            producer.output[list(producer.output).index(src)] = out.name
            model.set_tensor_shape(out.name, shape)
            return model, True

    return DropOutputTranspose()


def fill_resize_roi():
    """Transformation: an empty `roi` input of a Resize becomes the constant [0.] (see module doc)."""

    class FillResizeRoi(_transformation_base()):
        def apply(self, model):
            changed = False
            for node in model.graph.node:
                if node.op_type == "Resize" and len(node.input) > 1 and node.input[1] == "":
                    name = f"{node.name or node.output[0]}_roi"
                    model.set_initializer(name, np.zeros((1,), dtype=np.float32))
                    node.input[1] = name
                    changed = True
            return model, changed

    return FillResizeRoi()


def neutral_rounding():
    """Transformation: Quant rounding_mode HALF_UP -> ROUND (hls4ml parses it; the IR sets the real one)."""

    class NeutralRounding(_transformation_base()):
        def apply(self, model):
            changed = False
            for node in model.graph.node:
                if node.op_type != "Quant":
                    continue
                for a in node.attribute:
                    if a.name == "rounding_mode" and a.s.decode().upper() == "HALF_UP":
                        a.s = b"ROUND"
                        changed = True
            return model, changed

    return NeutralRounding()


_MARK = "fluorogate:channels_last"


def _transpose(model, src: str, perm: list[int], out_shape: list[int]) -> tuple[object, str]:
    from onnx import TensorProto, helper

    info = helper.make_tensor_value_info(model.make_new_valueinfo_name(), TensorProto.FLOAT, out_shape)
    model.graph.value_info.append(info)
    return helper.make_node("Transpose", [src], [info.name], perm=perm), info.name


def wrap_layout_ops_channels_last():
    """Transformation: Concat(axis 1) and Resize on NCHW become channels-last ops between Transposes."""
    to_last, to_first = [0, 2, 3, 1], [0, 3, 1, 2]

    class WrapLayoutOpsChannelsLast(_transformation_base()):
        def apply(self, model):
            from onnx import helper

            for index, node in enumerate(model.graph.node):
                if node.op_type not in ("Concat", "Resize") or node.doc_string == _MARK:
                    continue
                if len(model.get_tensor_shape(node.input[0])) != 4:
                    continue
                data = list(node.input) if node.op_type == "Concat" else [node.input[0]]
                new_nodes = []
                for i, src in enumerate(data):
                    shape = model.get_tensor_shape(src)
                    t, name = _transpose(model, src, to_last, [shape[p] for p in to_last])
                    new_nodes.append(t)
                    node.input[i] = name
                if node.op_type == "Concat":
                    node.attribute.remove(next(a for a in node.attribute if a.name == "axis"))
                    node.attribute.append(helper.make_attribute("axis", 3))
                else:
                    scales = model.get_initializer(node.input[2])
                    if scales is None or len(scales) != 4:
                        raise UserError(
                            f"Resize {node.name}: needs constant 4-d scales (hls4ml reads no sizes)"
                        )
                    model.set_initializer(node.input[2], np.asarray(scales)[to_last].astype(np.float32))
                out = node.output[0]
                shape = model.get_tensor_shape(out)
                t, name = _transpose(model, "", to_first, [shape[p] for p in to_last])
                model.set_tensor_shape(name, [shape[p] for p in to_last])
                t.input[0], t.output[0] = name, out
                node.output[0] = name
                node.doc_string = _MARK
                for offset, n in enumerate(new_nodes):
                    model.graph.node.insert(index + offset, n)
                model.graph.node.insert(index + len(new_nodes) + 1, t)
                return model, True
            return model, False

    return WrapLayoutOpsChannelsLast()


def set_frame_size(height: int, width: int):
    """Transformation: the channels-last graph's input becomes (N, height, width, C), every activation
    tensor scaled in proportion (conv 'same', pool, upsample, concat and add all keep spatial ratios).

    The nets are fully convolutional and exported at a small size; hls4ml bakes the frame size into
    every layer. qonnx's InferShapes is not used for this: its Quant shape op builds full-size
    tensors, so each of the many calls in the channels-last passes costs time in proportion to the
    frame (measured 2 s at 16x16, 35 s at 128x128, minutes at 512x512). Run it last, after clean-up.
    """

    class SetFrameSize(_transformation_base()):
        def apply(self, model):
            g = model.graph
            _, h0, w0, _ = model.get_tensor_shape(g.input[0].name)
            if (h0, w0) == (height, width):
                return model, False
            dynamic = {g.input[0].name}
            for node in g.node:  # topological: qonnx keeps graphs sorted
                if any(i in dynamic for i in node.input):
                    dynamic.update(node.output)
            for name in dynamic:
                shape = model.get_tensor_shape(name)
                h, w = shape[1] * height / h0, shape[2] * width / w0
                if h != int(h) or w != int(w):
                    raise UserError(
                        f"frame {height}x{width}: tensor {name} would be {h}x{w}; the network "
                        f"pools, so the frame size must divide by {h0 // max(1, shape[1])}"
                    )
                model.set_tensor_shape(name, [shape[0], int(h), int(w), *shape[3:]])
            return model, False

    return SetFrameSize()


def _refuse_layouts(model) -> None:
    """What the channels-last conversion could not make channels-last is refused, naming the node.

    - a graph without a conv or a max pool has no qonnx channels-last op: the conversion leaves it
      channels-first (a multi-channel one keeps its input's Transpose), and hls4ml 1.3, which reads a
      Resize as channels-last only beside such an op, builds it for the wrong layout (a Resize's stream
      width, the frame's shape);
    - a Transpose left over beside an op hls4ml cannot wrap would be a whole-frame reorder in io_stream.
    """
    nodes = list(model.graph.node)
    if not any(n.domain == "qonnx.custom_op.channels_last" for n in nodes):
        kept = [n for n in nodes if n.op_type != "Transpose"]
        compute = [n for n in kept if n.op_type != "Quant"]
        first = (compute or kept[1:] or nodes)[0]  # the first compute node, else the first requant
        raise UserError(
            f"node {first.name} ({first.op_type}): the graph has no conv and no max pool, so it stays "
            "channels-first, which hls4ml 1.3 builds for the wrong layout; the hls4ml back end needs a "
            "conv or a pool (the RTL back end takes this graph as it is)"
        )
    left = model.get_nodes_by_op_type("Transpose")
    if left:
        raise UserError(
            f"node {left[0].name} (Transpose) survives the channels-last conversion ({len(left)} in all); "
            "each would be a whole-frame reorder in io_stream: is there a layout-dependent op hls4ml "
            "cannot wrap?"
        )


def prepare_qonnx(source, height: int | None = None, width: int | None = None):
    """Load (path or ModelWrapper) and return the channels-last, Transpose-free graph hls4ml converts,
    at frame size `height` x `width` when given.

    Raises `UserError` if a Transpose survives: each would cost a whole-frame buffer in io_stream.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.util.cleanup import cleanup_model

    if isinstance(source, str | Path):
        if not Path(source).is_file():
            raise UserError(f"{source}: no such QONNX file")
        model = ModelWrapper(str(source))
    else:
        model = source
    model = cleanup_model(model)
    model = model.transform(neutral_rounding()).transform(fill_resize_roi())
    model = model.transform(wrap_layout_ops_channels_last())
    to_last = ConvertToChannelsLastAndClean(make_input_channels_last=True)
    model = model.transform(to_last)
    model = model.transform(merge_twin_transposes()).transform(to_last)
    model = model.transform(drop_output_transpose())
    # qonnx's GiveReadableTensorNames renames initializers after their (renumbered) nodes and fails on
    # a collision ("multiple get_by_name matches") when nodes were reordered: give them free names first.
    for i, init in enumerate(list(model.graph.initializer)):
        model.rename_tensor(init.name, f"fg_init_{i}")
    model = cleanup_model(model)
    _refuse_layouts(model)
    if height is not None and width is not None:
        model = model.transform(set_frame_size(height, width))
    return model
