"""`fluorogate reference RUN --input frame.tif --out out.tif`: the integer reference on a TIFF.

RUN is a run folder, trained or imported with `fluorogate import` (its `ir.json`, else its
`model.qonnx.onnx`), one of those files itself, or a shipped model's name ('default'). The
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
    p.add_argument("run", help="run folder (ir.json or model.qonnx.onnx inside), such a file, or a shipped model's name")
    p.add_argument("--input", required=True, help="TIFF: camera ADU, input codes or float image; 2D or a stack")
    p.add_argument("--out", required=True, help="output TIFF of integer output codes")
    p.add_argument("--codes", action="store_true", help="integer input pixels are input codes, not camera ADU")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(handler=_reference)


def load_graph(run: str | Path):
    """The IntegerGraph of a run (`open_run`) or file: ir.json if there, else built from the QONNX file."""
    from fluorogate.models.runs import open_run
    from fluorogate.quantize.from_qonnx import build_integer_graph
    from fluorogate.quantize.ir import IntegerGraph

    path = Path(run)
    if path.is_file():
        if path.suffix == ".json":
            return IntegerGraph.load(path)
        if path.suffix == ".onnx":
            return build_integer_graph(path)
        raise UserError(f"{path}: not a run folder, an ir.json or a .onnx file")
    folder = open_run(run, exported=False)
    if folder.ir_path.is_file():
        return IntegerGraph.load(folder.ir_path)
    if folder.qonnx_path.is_file():
        return build_integer_graph(folder.qonnx_path, name=folder.name)
    folder.require_exported()  # one line: export it, or import a QONNX file
    raise AssertionError("unreachable: require_exported raises without ir.json")


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
        to_codes = (lambda g, f: f) if args.codes or graph.input.camera is None else codes_from_adu
    else:
        raise UserError(f"{args.input}: pixels of dtype {frames.dtype} are neither integers nor floats")
    dtype = _output_dtype(graph)
    outs = [run_graph(graph, to_codes(graph, f))[0].astype(dtype)
            for f in tqdm(frames, desc="reference", unit="frame", disable=len(frames) < 2)]
    result = outs[0] if data.ndim == 2 else np.stack(outs)
    exp = graph.exps()[graph.output]
    note = json.dumps({"fluorogate": "reference output codes", "graph": graph.name, "exp": exp,
                       "real": f"code * 2**{exp}"})
    with atomic_path(args.out, args.force) as tmp:
        tifffile.imwrite(tmp, result, description=note)
    print(f"{args.out}: {len(frames)} frame(s) {result.shape[-2]}x{result.shape[-1]} {result.dtype}, "
          f"real value = code * 2**{exp}")
    return 0
