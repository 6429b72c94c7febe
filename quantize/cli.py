"""`fluorogate reference RUN --input frame.tif --out out.tif`: the integer reference on a TIFF.

RUN is a run folder, trained or imported with `fluorogate import` (its `ir.json`, else its
`model.qonnx.onnx`), one of those files itself, or a shipped model's name ('default'). The input is a
2D image or a (frames, H, W) stack, read one frame at a time and checked first
(`fluorogate.imageio.open_movie`: colour, channels, axes, pixel type, size): integer pixels are raw
camera ADU when the graph has a camera conversion (else input codes; `--codes` forces codes), float
pixels are real values quantized exactly as the input quantizer does. The output holds the network's
integer output codes (real value `code * 2**exp`, the exp is in the TIFF's description) in the narrowest
integer dtype the range analysis allows, written frame by frame: memory does not grow with the movie's
length.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from fluorogate.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reference",
        help="run the bit-exact integer reference on a TIFF (frame or stack)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run", help="run folder (ir.json or model.qonnx.onnx inside), such a file, or a shipped model's name"
    )
    p.add_argument(
        "--input", required=True, help="TIFF: camera ADU, input codes or float image; 2D or a stack"
    )
    p.add_argument("--out", required=True, help="output TIFF of integer output codes")
    p.add_argument(
        "--codes", action="store_true", help="integer input pixels are input codes, not camera ADU"
    )
    p.add_argument(
        "--camera",
        help="camera file (`fluorogate calibrate`): for a graph without a camera conversion, "
        "raw ADU are converted with its offset and the shift that clips none of the input",
    )
    p.add_argument("--channel", type=int, default=None, help="the channel to use where the TIFF has several")
    p.add_argument(
        "--engine",
        choices=("auto", "spec", "fast"),
        default=None,
        help="auto: the fast kernels where proven exact, else the torch spec path (default, or "
        "FLUOROGATE_REFERENCE); spec: always the torch path; fast: fail if it cannot run",
    )
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


def _working_bytes_per_pixel(graph) -> float:
    """About the memory `run_graph` needs per input pixel: a few live int64 tensors of the widest layer,
    at the resolution after every 2x upsampling."""
    from fluorogate.quantize.ir import ConvNode, UpsampleNode

    channels = max([graph.input.channels] + [n.out_channels for n in graph.nodes if isinstance(n, ConvNode)])
    scale = 4 ** sum(isinstance(n, UpsampleNode) for n in graph.nodes)
    return 8 * 3 * channels * scale


def _reference(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from fluorogate.imageio import open_movie, write_frames
    from fluorogate.outputs import check_writable
    from fluorogate.quantize.reference import codes_from_adu, quantize_float_input, run_graph

    check_writable(args.out, args.force)
    graph = load_graph(args.run)
    counts = not args.codes and (graph.input.camera is not None or args.camera is not None)
    movie = open_movie(args.input, "uf" if counts else "uif", args.channel, _working_bytes_per_pixel(graph))
    # the bar is closed before an error propagates: the error stays the last line the user sees
    with movie, tqdm(total=movie.frames, desc="reference", unit="frame", disable=movie.frames < 2) as bar:
        if movie.dtype.kind == "f":
            to_codes, counts = quantize_float_input, False
        else:
            if counts and graph.input.camera is None:  # --camera: one pass for the movie's brightest pixel
                graph = _with_camera_file(graph, args.camera, max(int(f.max()) for f in movie))
            to_codes = codes_from_adu if counts else (lambda g, f: f)
        dtype = _output_dtype(graph)
        tally = _ClippingTally(graph, counts)

        def outputs():
            for frame in movie:
                out = run_graph(graph, to_codes(graph, frame), args.engine)[0].astype(dtype)
                tally.add(frame, out)
                yield out
                bar.update()

        stream = outputs()
        first = next(stream)  # its size (an upsampling net doubles it) sizes the output file
        shape = (movie.frames, *first.shape) if movie.frame_axis else first.shape
        exp = graph.exps()[graph.output]
        note = json.dumps(
            {
                "fluorogate": "reference output codes",
                "graph": graph.name,
                "exp": exp,
                "real": f"code * 2**{exp}",
            }
        )
        write_frames(
            args.out, itertools.chain([first], stream), shape, dtype, force=args.force, description=note
        )
    print(
        f"{args.out}: {movie.frames} frame(s) {shape[-2]}x{shape[-1]} {np.dtype(dtype)}, "
        f"real value = code * 2**{exp}"
    )
    print(tally.summary())
    return 0


def _with_camera_file(graph, camera: str, peak_adu: int):
    """`graph` with the camera conversion of camera file `camera` (`fluorogate calibrate`): its offset, and
    the shift that clips none of the movie (`peak_adu`, its brightest pixel)."""
    from fluorogate.quantize.clipping import camera_conversion
    from fluorogate.sim.camera import get_preset

    conv = camera_conversion(get_preset(camera), float(peak_adu), graph.input.quant.bits)
    graph = graph.model_copy(deep=True)
    graph.input.camera = conv
    print(f"camera conversion from {camera}: offset {conv.offset} ADU, shift {conv.shift}")
    return graph


class _ClippingTally:
    """How many input pixels the camera conversion saturated and how many output codes sit at the output
    quantizer's ceiling, summed frame by frame: clipping is never silent."""

    def __init__(self, graph, adu_in: bool):
        node = graph.node(graph.output)
        self.graph, self.adu_in = graph, adu_in and graph.input.camera is not None
        self.top = node.quant.max_int if hasattr(node, "quant") else None
        self.counts = {
            "input_high": 0,
            "input_low": 0,
            "input_pixels": 0,
            "output_at_ceiling": None if self.top is None else 0,
            "output_pixels": 0,
        }

    def add(self, frame, out) -> None:
        from fluorogate.quantize.clipping import input_clipping, output_saturation

        c = self.counts
        c["input_pixels"] += int(frame.size)
        if self.adu_in:
            g = self.graph
            clip = input_clipping(frame, g.input.camera, g.input.quant.bits, g.rounding)
            c["input_high"] += clip["high"]
            c["input_low"] += clip["low"]
        if self.top is not None:
            c["output_at_ceiling"] += output_saturation(out, self.top)
        c["output_pixels"] += int(out.size)

    def summary(self) -> str:
        from fluorogate.quantize.clipping import summary

        return summary(self.counts)
