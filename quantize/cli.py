"""`fluorogate reference RUN --input frame.tif --out out.tif`: the integer reference on a TIFF.

RUN is a run folder (its `ir.json`, else its `model.qonnx.onnx`), or one of those files itself. The
input is a 2D image or a (frames, H, W) stack: integer pixels are raw camera ADU when the graph has a
camera conversion (else input codes; `--codes` forces codes), float pixels are real values quantized
exactly as the input quantizer does. The output holds the network's integer output codes (real value
`code * 2**exp`, the exp is in the TIFF's description) in the narrowest integer dtype the range
analysis allows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fluorogate.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("reference", help="run the bit-exact integer reference on a TIFF (frame or stack)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder (ir.json or model.qonnx.onnx inside), or such a file")
    p.add_argument("--input", required=True, help="TIFF: camera ADU, input codes or float image; 2D or a stack")
    p.add_argument("--out", required=True, help="output TIFF of integer output codes")
    p.add_argument("--codes", action="store_true", help="integer input pixels are input codes, not camera ADU")
    p.add_argument("--camera", help="camera file (`fluorogate calibrate`): for a graph without a camera conversion, "
                   "raw ADU are converted with its offset and the shift that clips none of the input")
    p.add_argument("--engine", choices=("auto", "spec", "fast"), default=None,
                   help="auto: the fast kernels where proven exact, else the torch spec path (default, or "
                        "FLUOROGATE_REFERENCE); spec: always the torch path; fast: fail if it cannot run")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(handler=_reference)


def load_graph(run: str | Path):
    """The IntegerGraph of a run folder or file: ir.json if there, else built from the QONNX file."""
    from fluorogate.models.run_folder import IR, QONNX
    from fluorogate.quantize.from_qonnx import build_integer_graph
    from fluorogate.quantize.ir import IntegerGraph

    run = Path(run)
    if run.is_dir():
        if (run / IR).is_file():
            return IntegerGraph.load(run / IR)
        if (run / QONNX).is_file():
            return build_integer_graph(run / QONNX, name=run.name)
        raise UserError(f"{run}: neither {IR} nor {QONNX}; export the run first (`fluorogate export {run}`)")
    if run.suffix == ".json":
        return IntegerGraph.load(run)
    if run.suffix == ".onnx":
        return build_integer_graph(run)
    raise UserError(f"{run}: not a run folder, an ir.json or a .onnx file")


def _output_dtype(graph):
    import numpy as np

    r = graph.ranges.get(graph.output)
    if r is None:
        return np.int64
    for dtype in (np.uint8, np.uint16, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= r.lo and r.hi <= info.max:
            return dtype
    return np.int64


def _reference(args) -> int:
    import numpy as np
    import tifffile
    from tqdm import tqdm

    from fluorogate.imageio import read_tiff
    from fluorogate.outputs import atomic_path, check_writable
    from fluorogate.quantize.reference import codes_from_adu, quantize_float_input, run_graph

    check_writable(args.out, args.force)
    graph = load_graph(args.run)
    image = read_tiff(args.input)
    data = np.squeeze(image.data)
    if data.ndim not in (2, 3):
        raise UserError(f"{args.input}: expected a 2D image or a (frames, H, W) stack, got shape {image.data.shape}")
    frames = data[None] if data.ndim == 2 else data
    if np.issubdtype(frames.dtype, np.floating):
        to_codes = quantize_float_input
    elif np.issubdtype(frames.dtype, np.integer):
        if args.camera and graph.input.camera is None and not args.codes:
            from fluorogate.quantize.clipping import camera_conversion
            from fluorogate.sim.camera import get_preset

            conv = camera_conversion(get_preset(args.camera), float(frames.max()), graph.input.quant.bits)
            graph = graph.model_copy(deep=True)
            graph.input.camera = conv
            print(f"camera conversion from {args.camera}: offset {conv.offset} ADU, shift {conv.shift}")
        to_codes = (lambda g, f: f) if args.codes or graph.input.camera is None else codes_from_adu
    else:
        raise UserError(f"{args.input}: pixels of dtype {frames.dtype} are neither integers nor floats")
    dtype = _output_dtype(graph)
    outs = [run_graph(graph, to_codes(graph, f), args.engine)[0].astype(dtype)
            for f in tqdm(frames, desc="reference", unit="frame", disable=len(frames) < 2)]
    result = outs[0] if data.ndim == 2 else np.stack(outs)
    _report_clipping(graph, frames, result, args.codes or np.issubdtype(frames.dtype, np.floating))
    exp = graph.exps()[graph.output]
    note = json.dumps({"fluorogate": "reference output codes", "graph": graph.name, "exp": exp,
                       "real": f"code * 2**{exp}"})
    with atomic_path(args.out, args.force) as tmp:
        tifffile.imwrite(tmp, result, description=note)
    print(f"{args.out}: {len(frames)} frame(s) {result.shape[-2]}x{result.shape[-1]} {result.dtype}, "
          f"real value = code * 2**{exp}")
    return 0


def _report_clipping(graph, frames, result, codes_in: bool) -> None:
    """Print how many input pixels the camera conversion saturated and how many output codes sit at the
    output quantizer's ceiling: clipping is never silent."""
    from fluorogate.quantize.clipping import input_clipping, output_saturation, summary

    node = graph.node(graph.output)
    top = node.quant.max_int if hasattr(node, "quant") else None
    counts = {"input_high": 0, "input_low": 0, "input_pixels": int(frames.size)}
    if graph.input.camera is not None and not codes_in:
        c = input_clipping(frames, graph.input.camera, graph.input.quant.bits, graph.rounding)
        counts = {"input_high": c["high"], "input_low": c["low"], "input_pixels": c["pixels"]}
    counts |= {"output_at_ceiling": None if top is None else output_saturation(result, top),
               "output_pixels": int(result.size)}
    print(summary(counts))
