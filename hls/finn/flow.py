"""The FINN back end: a fluorogate QONNX export -> a FINN dataflow build, checked bit for bit.

A build is a list of named steps, FINN-style: each `step(model, ctx) -> model`. Most are FINN's own
step functions (`finn.builder.build_dataflow_steps`), called directly; ours prepare the integer-code
boundary, finish streamlining a global-skip concat, and fold to the camera's pixel rate. Pass your
own list to `build_finn(steps=...)` to replace or add steps (see `DEFAULT_STEPS`).

After every step FINN's python execution of the graph is compared with the IR's `run_graph` on a
few frames of input codes: zero mismatches or `FinnCheckError`. Python execution of a 2048x2048
frame is slow, so a larger frame is built twice with the same steps: at full size unchecked, then at
`check_size` with the full build's folding applied and the check after every step; `summary.json`
records that both ended with the same folding.

The output folder holds FINN's own build folder (report/ with its estimates, intermediate_models/,
codegen/ with generated HLS C++ and RTL), `folding_config.json`, `summary.json`, and
`dataflow_build_config.json`: a FINN `DataflowBuildConfig` that continues from the accelerator graph
(`accelerator.onnx`) to a bitstream with `build_dataflow_cfg`, where Vivado is installed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fluorogate.errors import UserError
from fluorogate.hls.finn.folding import DEFAULT_WWIDTH_MAX, FoldingResult, FoldingTarget, fold_to_budget
from fluorogate.quantize.ir import IntegerGraph

# FINN steps that continue the written DataflowBuildConfig to a bitstream (they need Vivado/Vitis HLS);
# the first re-applies folding_config.json, so an edited folding takes effect.
SYNTH_STEPS = [
    "step_apply_folding_config",
    "step_hw_codegen",
    "step_hw_ipgen",
    "step_set_fifo_depths",
    "step_create_stitched_ip",
    "step_synthesize_bitfile",
    "step_make_driver",
    "step_deployment_package",
]
JOIN_ROUNDS = 4  # fixpoint of step_streamline_joins; the nets here settle in two
FOLDING_ATTRS = ["PE", "SIMD", "parallel_window", "ram_style", "resType", "mem_mode"]


class FinnConfig(BaseModel):
    """What a FINN build targets: board, camera (pixel rate), frame size, clock, check frames."""

    model_config = ConfigDict(extra="forbid")

    board: str = "ZCU104"
    camera: str = "scmos"
    size: tuple[int, int] | None = None  # (height, width); None: the camera's full frame
    clock_ns: float = Field(default=5.0, gt=0)
    check_size: tuple[int, int] = (32, 32)
    check_frames: int = Field(default=2, ge=1)
    mvau_wwidth_max: int = Field(default=DEFAULT_WWIDTH_MAX, ge=1)
    standalone_thresholds: bool = False  # FINN's option: thresholds as own layers, MVAUs without them
    seed: int = 0


@dataclass
class FinnContext:
    """Everything a step may read or record; `model` flows through the steps separately."""

    dataflow: Any  # finn.builder.build_dataflow_config.DataflowBuildConfig
    finn: ModuleType  # finn.builder.build_dataflow_steps
    target: FoldingTarget
    wwidth_max: int
    checker: Any = None  # finn_verify.FinnChecker, or None for an unchecked build
    parent_path: Path | None = None  # FINN's dataflow parent, once partitioned
    folding_file: Path | None = None  # apply this folding instead of folding to the budget
    folding: FoldingResult | None = None
    records: list[dict] = field(default_factory=list)

    @property
    def out_dir(self) -> Path:
        return Path(self.dataflow.output_dir)


Step = Callable[[Any, FinnContext], Any]


def step_codes_boundary(model, ctx: FinnContext):
    """QONNX clean-up, the frame size, and integer codes at the graph's input and output."""
    from qonnx.util.cleanup import cleanup_model

    from fluorogate.hls.finn.transforms import (
        FixScalarQuantZeroPoint,
        InputQuantToCodes,
        OutputToCodes,
        SetFrameSize,
    )

    model = cleanup_model(model.transform(FixScalarQuantZeroPoint()))
    model = model.transform(SetFrameSize(ctx.target.height, ctx.target.width))
    return cleanup_model(model.transform(InputQuantToCodes()).transform(OutputToCodes()))


def step_streamline_joins(model, ctx: FinnContext):
    """Move scales and layout changes through forks and joins (the global skip) until nothing moves.

    FINN's default streamlining leaves, around a skip connection, the input's scale in front of the
    fork, the input's quantizer in NCHW beside an NHWC conv branch, and one scale and one Transpose
    per join input: the join is not a streaming layer and the dataflow partition fails ("cycle-free
    graph violated" / "unmapped layers"). FINN's MoveLinearPastFork copies the scale into each branch
    (where it is absorbed into thresholds), and MoveMulPastJoinConcat / MoveTransposePastJoinConcat
    (MoveLinearPastEltwiseAdd for an add) move the identical per-input scales and Transposes past the
    join; `HoistTransposeAboveFork` gives the input's quantizer the conv branch's layout. FINN's
    MakeScaleResizeNHWC and our `MoveScalarMulPastMaxPoolNHWC` do the same for upsample and pool.
    """
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.absorb import (
        AbsorbConsecutiveTransposes,
        AbsorbMulIntoMultiThreshold,
        AbsorbTransposeIntoMultiThreshold,
    )
    from finn.transformation.streamline.reorder import (
        MakeScaleResizeNHWC,
        MoveLinearPastEltwiseAdd,
        MoveLinearPastFork,
        MoveMulPastJoinConcat,
        MoveScalarLinearPastInvariants,
        MoveTransposePastJoinConcat,
    )

    from fluorogate.hls.finn.transforms import HoistTransposeAboveFork, MoveScalarMulPastMaxPoolNHWC

    moves = (
        MoveLinearPastFork,
        MoveScalarLinearPastInvariants,
        HoistTransposeAboveFork,
        MoveScalarMulPastMaxPoolNHWC,
        MakeScaleResizeNHWC,
        AbsorbMulIntoMultiThreshold,
        AbsorbTransposeIntoMultiThreshold,
        MoveMulPastJoinConcat,
        MoveTransposePastJoinConcat,
        MoveLinearPastEltwiseAdd,
        AbsorbConsecutiveTransposes,
    )
    for _ in range(JOIN_ROUNDS):
        before = model.model.SerializeToString()
        for move in moves:
            model = model.transform(move())
        model = model.transform(Streamline())
        if model.model.SerializeToString() == before:
            break
    return model


def step_split_concat_convs(model, ctx: FinnContext):
    """A conv over a concat becomes a sum of convs, one per concat input (`SplitConcatIntoConvs`).

    FINN's StreamingConcat serializes channels (one SIMD dividing every input's channel count: 1
    for the global skip), so the denoiser ran at C+1 cycles per pixel whatever the folding; split,
    it reaches one pixel per cycle. Exact on integers; drop this step to keep FINN's concat layer.
    """
    from fluorogate.hls.finn.transforms import SplitConcatIntoConvs

    return model.transform(SplitConcatIntoConvs())


def step_resize_to_hw(model, ctx: FinnContext):
    """Nearest 2x `Resize` -> FINN's UpsampleNearestNeighbour layer.

    FINN's step_convert_to_hw runs its InferUpsample only when the graph has an `Upsample` node, but
    torch exports nearest upsampling as `Resize` (which InferUpsample handles): without this step
    every Resize stays outside the accelerator and the partition fails on "unmapped layers".
    """
    from finn.transformation.fpgadataflow.convert_to_hw.upsample import InferUpsample

    return model.transform(InferUpsample()) if model.get_nodes_by_op_type("Resize") else model


def step_convert_to_hw(model, ctx: FinnContext):
    """FINN's `step_convert_to_hw`, then its `RoundAndClipThresholds` once more.

    Streamlining rounds and clips thresholds only where a MultiThreshold's input is already typed as
    integers; a signed quantizer straight on the unsigned input codes keeps negative thresholds, which
    FINN's Thresholding layer then refuses (`assert (orig_thres_matrix >= 0).all()` in
    step_minimize_bit_width). With the hardware layers' integer input types known, the thresholds are
    clipped to the input's range: exact for integer inputs (`x >= t` iff `x >= ceil(t)`, and a
    threshold below an unsigned input's 0 counts every value, as 0 does).
    """
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds

    return ctx.finn.step_convert_to_hw(model, ctx.dataflow).transform(RoundAndClipThresholds())


def step_fold_to_camera(model, ctx: FinnContext):
    """PE/SIMD from the camera's cycles-per-frame budget (FINN's SetFolding, wider caps as needed).

    With `ctx.folding_file` (the check build), the full-size build's folding is applied instead, so
    the checked graph carries exactly the folding of the graph that is built.
    """
    if ctx.folding_file is not None:
        from finn.transformation.general import ApplyConfig

        return model.transform(ApplyConfig(str(ctx.folding_file)))
    model, ctx.folding = fold_to_budget(model, ctx.target.cycles_per_frame, ctx.wwidth_max)
    return model


def step_create_dataflow_partition(model, ctx: FinnContext):
    """FINN's partition; later checks run the accelerator graph inside FINN's parent graph."""
    model = ctx.finn.step_create_dataflow_partition(model, ctx.dataflow)
    ctx.parent_path = ctx.out_dir / "intermediate_models" / "dataflow_parent.onnx"
    return model


def _finn_step(name: str) -> Step:
    def run(model, ctx: FinnContext):
        return getattr(ctx.finn, name)(model, ctx.dataflow)

    run.__name__ = name
    run.__doc__ = f"FINN's `{name}`."
    return run


DEFAULT_STEPS: list[tuple[str, Step]] = [
    ("codes_boundary", step_codes_boundary),
    ("qonnx_to_finn", _finn_step("step_qonnx_to_finn")),
    ("tidy_up", _finn_step("step_tidy_up")),
    ("streamline", _finn_step("step_streamline")),
    ("streamline_joins", step_streamline_joins),
    ("split_concat_convs", step_split_concat_convs),
    ("resize_to_hw", step_resize_to_hw),
    ("convert_to_hw", step_convert_to_hw),
    ("minimize_bit_width_initial", _finn_step("step_minimize_bit_width_initial")),
    ("create_dataflow_partition", step_create_dataflow_partition),
    ("specialize_layers", _finn_step("step_specialize_layers")),
    ("fold_to_camera", step_fold_to_camera),
    ("apply_folding_config", _finn_step("step_apply_folding_config")),
    ("minimize_bit_width", _finn_step("step_minimize_bit_width")),
    ("generate_estimate_reports", _finn_step("step_generate_estimate_reports")),
    ("hw_codegen", _finn_step("step_hw_codegen")),
]


def dataflow_config(
    out_dir: Path,
    cfg: FinnConfig,
    target: FoldingTarget,
    wwidth_max: int,
    steps: list[str] | None = None,
    folding_file: Path | None = None,
):
    """FINN's DataflowBuildConfig for this build (estimates here; `steps` continue to a bitstream)."""
    from finn.builder.build_dataflow_config import DataflowBuildConfig, DataflowOutputType, ShellFlowType

    outputs = [DataflowOutputType.ESTIMATE_REPORTS]
    if steps is not None:
        outputs += [
            DataflowOutputType.STITCHED_IP,
            DataflowOutputType.BITFILE,
            DataflowOutputType.PYNQ_DRIVER,
            DataflowOutputType.DEPLOYMENT_PACKAGE,
        ]
    return DataflowBuildConfig(
        output_dir=str(out_dir),
        board=cfg.board,
        shell_flow_type=ShellFlowType.VIVADO_ZYNQ,
        synth_clk_period_ns=cfg.clock_ns,
        target_fps=max(1, round(target.target_fps)),
        mvau_wwidth_max=wwidth_max,
        generate_outputs=outputs,
        steps=steps,
        standalone_thresholds=cfg.standalone_thresholds,
        folding_config_file=folding_file,
        # FINN leaves Quant nodes wider than this (default 8) outside the accelerator ("unmapped
        # layers"); a model with `out_extra_bits` has a 9-16 bit output quantizer.
        max_multithreshold_bit_width=16,
    )


def run_steps(model, ctx: FinnContext, steps: list[tuple[str, Step]], progress: str | None = None):
    """Apply `steps` in order; after each, save the model and (if checking) compare with the IR."""
    from finn.util.exception import FINNUserError
    from tqdm import tqdm

    saved = ctx.out_dir / "intermediate_models"
    saved.mkdir(parents=True, exist_ok=True)
    for i, (name, step) in enumerate(tqdm(steps, desc=progress, disable=progress is None, unit="step")):
        t0 = time.perf_counter()
        try:
            model = step(model, ctx)
        except FINNUserError as exc:  # FINN's word on what it cannot map, as one line
            raise UserError(f"FINN step {name}: {' '.join(str(exc).split())}") from exc
        record: dict[str, Any] = {"step": name, "seconds": round(time.perf_counter() - t0, 2)}
        model.save(str(saved / f"{i:02d}_{name}.onnx"))
        if ctx.checker is not None:
            bad = ctx.checker.mismatches(model, ctx.parent_path)
            record.update(mismatches=bad, checked_values=ctx.checker.pixels)
            if bad:
                from fluorogate.hls.finn.verify import FinnCheckError

                raise FinnCheckError(
                    f"FINN step {name} changed the output: {bad} of {ctx.checker.pixels} "
                    f"values differ from the integer reference ({saved / f'{i:02d}_{name}.onnx'})"
                )
        ctx.records.append(record)
    return model


def folding_of(model) -> dict[str, dict[str, Any]]:
    """The folding attributes of each HW layer (what SetFolding chose)."""
    from qonnx.custom_op.registry import getCustomOp

    out: dict[str, dict[str, Any]] = {}
    for node in model.graph.node:
        inst = getCustomOp(node)
        attrs = {}
        for a in FOLDING_ATTRS:
            try:
                attrs[a] = inst.get_nodeattr(a)
            except AttributeError:
                continue
        out[node.name] = attrs
    return out


def finn_board(name: str) -> str:
    """FINN's spelling of a board name ('zcu104' -> 'ZCU104'); UserError naming the known ones."""
    from finn.util.basic import part_map

    for known in part_map:
        if known.lower() == name.lower():
            return known
    raise UserError(f"--board {name}: not a FINN board (one of {', '.join(sorted(part_map))})")


def float_layers(model) -> list[str]:
    """Accelerator layers that read or write a float tensor (FINN keeps a float ElementwiseMul where
    two joined branches have different scales, e.g. a residual add): not integer hardware."""
    return [
        n.name
        for n in model.graph.node
        if any(t and not model.get_tensor_datatype(t).is_integer() for t in [*n.input, *n.output])
    ]


def check_rounding(graph: IntegerGraph) -> None:
    if graph.rounding != "half_up":
        raise UserError(
            f"model {graph.name} rounds {graph.rounding}; FINN's thresholds round ties up (floor(x + 1/2)), "
            "so a half_even model differs on about a quarter of its output pixels. Train/export it with "
            "rounding half_up for the FINN back end"
        )


def _build(
    qonnx_path: Path,
    out_dir: Path,
    cfg: FinnConfig,
    target: FoldingTarget,
    steps: list[tuple[str, Step]],
    checker=None,
    progress: str | None = None,
    folding_file: Path | None = None,
):
    from qonnx.core.modelwrapper import ModelWrapper

    from fluorogate.hls.finn.env import finn_output_to, finn_steps

    out_dir.mkdir(parents=True, exist_ok=True)
    finn = finn_steps(out_dir / "codegen")
    dataflow = dataflow_config(out_dir, cfg, target, cfg.mvau_wwidth_max)
    dataflow.get_report_directory().mkdir(parents=True, exist_ok=True)
    ctx = FinnContext(
        dataflow=dataflow,
        finn=finn,
        target=target,
        wwidth_max=cfg.mvau_wwidth_max,
        checker=checker,
        folding_file=folding_file,
    )
    with finn_output_to(out_dir / "finn.log"):
        model = run_steps(ModelWrapper(str(qonnx_path)), ctx, steps, progress)
    return model, ctx


@dataclass
class FinnResult:
    out_dir: Path
    summary: dict
    model: Any = None  # the accelerator graph (FINN ModelWrapper)


def build_finn(
    qonnx_path: str | Path,
    graph: IntegerGraph,
    cfg: FinnConfig,
    out_dir: str | Path,
    steps: list[tuple[str, Step]] | None = None,
    progress: bool = True,
) -> FinnResult:
    """Run the FINN build for `qonnx_path` (whose IR is `graph`) into `out_dir`; see the module doc.

    A frame larger than `cfg.check_size` is built twice: first at full size (unchecked), then at
    the check size with the full build's folding and a bit-exactness check after every step.
    """
    from fluorogate.hls.finn.ops import check_supported
    from fluorogate.hls.finn.verify import FinnChecker, check_frames
    from fluorogate.sim.camera import get_preset

    check_rounding(graph)
    check_supported(graph)
    cfg = cfg.model_copy(update={"board": finn_board(cfg.board)})
    qonnx_path, out_dir = Path(qonnx_path), Path(out_dir)
    steps = steps or DEFAULT_STEPS
    preset = get_preset(cfg.camera)
    height, width = cfg.size or (preset.height, preset.width)
    target = FoldingTarget(
        height=height, width=width, clock_ns=cfg.clock_ns, pixel_rate_hz=preset.pixel_rate_hz
    )
    ch, cw = min(cfg.check_size[0], height), min(cfg.check_size[1], width)
    single = (ch, cw) == (height, width)
    model = ctx = folding_file = None
    if not single:
        model, ctx = _build(
            qonnx_path, out_dir, cfg, target, steps, None, f"FINN {height}x{width}" if progress else None
        )
        folding_file = _write_folding(out_dir, model)
    check_dir = out_dir if single else out_dir / "check"
    check_dir.mkdir(parents=True, exist_ok=True)
    checker = FinnChecker(
        graph, check_frames(graph, ch, cw, cfg.check_frames, cfg.seed, cfg.camera), check_dir
    )
    label = "FINN" if single else f"FINN check {ch}x{cw}"
    check_model, check_ctx = _build(
        qonnx_path,
        check_dir,
        cfg,
        target.scaled(ch, cw),
        steps,
        checker,
        label if progress else None,
        folding_file,
    )
    if single:
        model, ctx = check_model, check_ctx
        folding_file = _write_folding(out_dir, model)
    same_folding = folding_of(check_model) == folding_of(model)
    return FinnResult(
        out_dir=out_dir,
        model=model,
        summary=_finish(out_dir, model, cfg, target, ctx, check_ctx, same_folding, folding_file, graph),
    )


def _write_folding(out_dir: Path, model) -> Path:
    """FINN's folding-config JSON of `model` (editable; FINN's ApplyConfig reads it)."""
    path = out_dir / "folding_config.json"
    path.write_text(json.dumps({"Defaults": {}, **folding_of(model)}, indent=1))
    return path


def _finish(
    out_dir: Path,
    model,
    cfg: FinnConfig,
    target: FoldingTarget,
    ctx: FinnContext,
    check_ctx: FinnContext,
    same_folding: bool,
    folding_file: Path,
    graph: IntegerGraph,
) -> dict:
    """Write the accelerator graph, folding, continuation config and summary; return the summary."""
    from fluorogate.hls.finn.estimates import read_estimates
    from fluorogate.hls.finn.ops import layers_of

    model.save(str(out_dir / "accelerator.onnx"))
    wwidth = ctx.folding.mvau_wwidth_max if ctx.folding else cfg.mvau_wwidth_max
    synth = dataflow_config(out_dir / "synth", cfg, target, wwidth, SYNTH_STEPS, folding_file)
    (out_dir / "dataflow_build_config.json").write_text(json.dumps(json.loads(synth.to_json()), indent=1))
    summary = {
        "frame": [target.height, target.width],
        "camera": cfg.camera,
        "board": cfg.board,
        "clock_ns": cfg.clock_ns,
        "target": {
            "cycles_per_frame": target.cycles_per_frame,
            "fps": target.target_fps,
            "reachable_at_one_pixel_per_cycle": target.reachable,
        },
        "folding": ctx.folding.model_dump() if ctx.folding else None,
        "float_layers": float_layers(model),
        "ir_ops": layers_of(graph),  # the FINN layers that carry each IR op of the model
        "check": {
            "frame": [check_ctx.target.height, check_ctx.target.width],
            "steps": check_ctx.records,
            "same_folding_as_full_build": same_folding,
        },
        "steps": ctx.records,
        "estimates": (
            read_estimates(out_dir / "report", cfg.clock_ns)  # None: a step list without them
            if (out_dir / "report" / "estimate_network_performance.json").is_file()
            else None
        ),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def clear_output(out_dir: Path, force: bool) -> None:
    """Refuse to build into an existing folder unless `force`; with it, start from an empty one."""
    if out_dir.exists():
        if not force:
            raise UserError(f"{out_dir} exists; pass --force to overwrite it")
        shutil.rmtree(out_dir)


def synthesize(out_dir: str | Path) -> None:
    """Continue a written build to a bitstream: FINN's `build_dataflow_cfg` on `accelerator.onnx`."""
    from fluorogate.hls.finn.env import finn_steps, require_vivado

    require_vivado("continue the FINN build to a bitstream")
    out_dir = Path(out_dir)
    finn_steps(out_dir / "codegen")
    from finn.builder.build_dataflow import build_dataflow_cfg
    from finn.builder.build_dataflow_config import DataflowBuildConfig

    cfg = DataflowBuildConfig.construct_from(out_dir / "dataflow_build_config.json")
    if build_dataflow_cfg(str(out_dir / "accelerator.onnx"), cfg) != 0:
        raise UserError(f"FINN's synthesis build failed; see {cfg.output_dir}/build_dataflow.log")
