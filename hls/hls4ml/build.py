"""The hls4ml build as a list of named steps over one context, FINN-style: replace or drop any step.

`build_project(qonnx, graph, cfg, out)` runs `DEFAULT_STEPS`:

prepare   QONNX -> channels-last, Transpose-free graph (`hls.hls4ml.prepare`)
configure hls4ml config: concrete default precision, input type = the input quantizer's own type
convert   `hls4ml.converters.convert_from_onnx_model`, io_stream, granularity 'name'
resize_shapes  fix hls4ml's swapped H/W of nearest upsampling on non-square frames
types     match hls4ml's layers to the IR, check its types, set the IR's (`hls.types`)
fifos     stream depths from the line-buffer schedule (`hls.fifo`) instead of whole frames
write     the hls4ml project
wrapper   the AXI4-Stream video top level and the IP export TCL (`hls.wrapper`)
summary   `fluorogate_hls.json`: settings, types and depths, for people and the benchmark

The project is built in a temporary folder beside `out` and moved into place at the end, so a
failed build never leaves a half-written project (and `--force` replaces an old one only then).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fluorogate.hls.hls4ml.config import HlsBuildConfig
from fluorogate.hls.hls4ml.types import Grid, Matching
from fluorogate.outputs import check_writable
from fluorogate.quantize.ir import IntegerGraph

SUMMARY = "fluorogate_hls.json"


@dataclass
class BuildContext:
    source: object  # QONNX path or qonnx ModelWrapper
    graph: IntegerGraph
    cfg: HlsBuildConfig
    out_dir: Path
    qonnx: object = None
    hls_config: dict = field(default_factory=dict)
    model: object = None  # hls4ml ModelGraph
    matching: Matching | None = None
    depths: dict[str, int] = field(default_factory=dict)  # hls4ml stream name -> depth
    files: list[str] = field(default_factory=list)


def _quiet():
    """hls4ml prints every layer it parses to stdout; keep the command's output readable."""
    import contextlib
    import io

    return contextlib.redirect_stdout(io.StringIO())


def step_prepare(ctx: BuildContext) -> None:
    from fluorogate.hls.hls4ml.prepare import prepare_qonnx

    ctx.qonnx = prepare_qonnx(ctx.source, ctx.cfg.height, ctx.cfg.width)


def step_configure(ctx: BuildContext) -> None:
    import hls4ml

    with _quiet():
        cfg = hls4ml.utils.config.config_from_onnx_model(
            ctx.qonnx,
            granularity="name",
            backend=ctx.cfg.hls4ml_backend,
            default_precision=ctx.cfg.default_precision,
            default_reuse_factor=ctx.cfg.reuse_factor,
        )
    # Without this the input is first cast to the default type (truncating), then rounded to the
    # quantizer's grid: two roundings, ~2.6% of pixels 1 LSB off (measured).
    from fluorogate.hls.hls4ml.types import ROUNDING_MODE

    quant = Grid.of_quant(ctx.graph.input.quant)
    name = ctx.qonnx.graph.input[0].name
    cfg["LayerName"].setdefault(name, {})["Precision"] = {
        "result": quant.ap_string(ROUNDING_MODE[ctx.graph.rounding])
    }
    ctx.hls_config = cfg


def step_convert(ctx: BuildContext) -> None:
    import hls4ml

    with _quiet():
        ctx.model = hls4ml.converters.convert_from_onnx_model(
            ctx.qonnx,
            output_dir=str(ctx.out_dir),
            project_name=ctx.cfg.project_name,
            backend=ctx.cfg.hls4ml_backend,
            part=ctx.cfg.fpga_part,
            clock_period=ctx.cfg.clock_ns,
            io_type="io_stream",
            hls_config=ctx.hls_config,
        )


def step_resize_shapes(ctx: BuildContext) -> None:
    """hls4ml 1.3's ONNX Resize parser reads H and W swapped from a channels-last shape (measured: a
    48x64 input gives a 128x96 output); harmless for square frames. Set them from the input tensor and
    re-render the layer's C++ config, which hls4ml renders once during conversion (`config_cpp`)."""
    from hls4ml.backends.vivado.passes.reshaping_templates import ResizeConfigTemplate

    for layer in ctx.model.get_layers():
        if layer.class_name != "Resize":
            continue
        h, w, c = layer.get_input_variable().shape
        f = 2  # the only upsampling the IR has (upsample2); the types step checks the op against it
        layer.set_attr("in_height", h)
        layer.set_attr("in_width", w)
        layer.set_attr("out_height", h * f)
        layer.set_attr("out_width", w * f)
        layer.get_output_variable().shape[:] = [h * f, w * f, c]
        ResizeConfigTemplate().transform(ctx.model, layer)


def step_types(ctx: BuildContext) -> None:
    from fluorogate.hls.hls4ml.types import apply_types, check_types, match

    ctx.matching = match(ctx.graph, ctx.model)
    check_types(ctx.graph, ctx.matching)
    apply_types(ctx.graph, ctx.matching)


def step_fifos(ctx: BuildContext) -> None:
    from fluorogate.hls.hls4ml.fifo import edge_depths

    c = ctx.cfg
    edges = edge_depths(ctx.graph, c.height, c.width, c.fifo_latency, c.line_gap, c.fifo_slack)
    ctx.depths = stream_depths(ctx.model, ctx.matching, edges, c.fifo_slack)
    for var in ctx.model.output_vars.values():
        if var.name in ctx.depths and var.pragma:
            var.pragma = (var.pragma[0], ctx.depths[var.name])


def stream_depths(model, m: Matching, edges: dict[tuple[str, str], int], slack: int) -> dict[str, int]:
    """hls4ml stream name -> depth of the IR edge it carries; `slack` inside one IR op's layers.

    A Clone copies each beat to all its outputs at once, so its input needs only `slack`; each copy
    carries the edge to its own reader. A ZeroPadding2D is part of its conv (the schedule models both).
    """
    ex = m.expansion
    by_op = {op.name: ir for ir, op in m.pairs.items()}
    edges = dict(edges)
    for q in m.transparent:  # an IR identity requant hls4ml left out: its edges start at what it passes on
        src = q
        while src in m.transparent:
            src = m.transparent[src]
        for (a, b), depth in list(edges.items()):
            if a == q:
                edges[(src, b)] = max(edges.get((src, b), 0), depth)
    layers = list(model.get_layers())

    def readers(tensor: str) -> list[str | None]:
        found: list[str | None] = []
        for layer in layers:
            if tensor not in layer.inputs:
                continue
            if layer.name in ex.first:
                found.append(by_op.get(ex.first[layer.name]))
            elif layer.class_name == "ZeroPadding2D":
                found.extend(readers(layer.outputs[0]))
            else:
                found.append(None)
        return found

    depths: dict[str, int] = {}
    for layer in layers:
        for tensor in layer.outputs:
            var = model.output_vars.get(tensor)
            if var is None:
                continue
            src = by_op.get(ex.alias.get(tensor, ""))
            depths[var.name] = max((edges.get((src, dst), slack) for dst in readers(tensor)), default=slack)
    return depths


def step_write(ctx: BuildContext) -> None:
    ctx.model.write()


def step_wrapper(ctx: BuildContext) -> None:
    from fluorogate.hls.hls4ml.wrapper import write_wrapper

    ctx.files.extend(write_wrapper(ctx))


def step_summary(ctx: BuildContext) -> None:
    types = {}
    for layer in ctx.model.get_layers():
        types[layer.name] = {k: str(v.precision) for k, v in layer.types.items()}
    summary = {
        "config": ctx.cfg.model_dump(),
        "part": ctx.cfg.fpga_part,
        "ir": ctx.graph.name,
        "rounding": ctx.graph.rounding,
        "depths": ctx.depths,
        "whole_frame_depth": ctx.cfg.width * ctx.cfg.height,
        "types": types,
        "files": ctx.files,
    }
    (ctx.out_dir / SUMMARY).write_text(json.dumps(summary, indent=1))


Step = Callable[[BuildContext], None]
DEFAULT_STEPS: tuple[tuple[str, Step], ...] = (
    ("prepare", step_prepare),
    ("configure", step_configure),
    ("convert", step_convert),
    ("resize_shapes", step_resize_shapes),
    ("types", step_types),
    ("fifos", step_fifos),
    ("write", step_write),
    ("wrapper", step_wrapper),
    ("summary", step_summary),
)


def build_project(
    source,
    graph: IntegerGraph,
    cfg: HlsBuildConfig,
    out: str | Path,
    force: bool = False,
    steps: Sequence[tuple[str, Step]] = DEFAULT_STEPS,
    progress: bool = False,
) -> BuildContext:
    """Run `steps` and move the finished project to `out`; returns the context (hls4ml model included)."""
    from tqdm import tqdm

    out = check_writable(out, force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    ctx = BuildContext(source=source, graph=graph, cfg=cfg, out_dir=tmp)
    try:
        for name, step in tqdm(steps, desc="hls4ml build", unit="step", disable=not progress):
            if progress:
                tqdm.write(f"  {name}")
            step(ctx)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ctx.out_dir = out
    if ctx.model is not None:
        ctx.model.config.config["OutputDir"] = str(out)
    return ctx
