"""hls4ml back end: QONNX preparation, IR-driven types, FIFO depths, g++ C-sim bit-exact vs the reference.

One small denoise net (concat skip) is exported, converted and compiled once per module: the g++
compile of the network (~30-40 s on the shared machine) is shared by hls4ml's testbench and the video
wrapper's testbench; `predict` needs hls4ml's own shared library (one more compile).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fluorogate.errors import MissingToolError, UserError
from fluorogate.hls.hls4ml import csim
from fluorogate.hls.hls4ml.build import build_project
from fluorogate.hls.hls4ml.config import make_config
from fluorogate.hls.hls4ml.fifo import backlog, edge_depths
from fluorogate.hls.hls4ml.types import Grid, TypeMismatch, check_types, match
from fluorogate.hls.hls4ml.vendor import parse_csynth_xml
from fluorogate.quantize.ir import CameraConversion, RequantNode, TensorQuant

SIZE = 16
CAMERA = CameraConversion(adu_bits=16, offset=100, shift=2)


def _export(task: str, path, layers: int = 3):
    from fluorogate.models import ModelConfig, build_model
    from fluorogate.quantize.export import export_qonnx

    torch.manual_seed(0)
    model = build_model(ModelConfig(task=task, channels=4, layers=layers), quant=True)
    model.train()
    with torch.no_grad():  # calibrate the activation scales on a few batches
        for _ in range(4):
            model(torch.rand(2, 1, SIZE, SIZE))
    model.eval()
    return export_qonnx(model, path, size=SIZE)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from fluorogate.quantize.from_qonnx import build_integer_graph

    tmp = tmp_path_factory.mktemp("hls")
    qonnx = _export("denoise", tmp / "denoise.qonnx.onnx")
    graph = build_integer_graph(qonnx, camera=CAMERA)
    ctx = build_project(str(qonnx), graph, make_config(width=SIZE, height=SIZE), tmp / "prj")
    csim.compile_network_object(ctx.out_dir, ctx.cfg.project_name)
    return ctx


def _codes(graph, n: int, seed: int = 0) -> np.ndarray:
    q = graph.input.quant
    return np.random.default_rng(seed).integers(q.min_int, q.max_int + 1, size=(n, SIZE, SIZE))


def _reference(graph, codes) -> np.ndarray:
    from fluorogate.quantize.reference import run_graph

    return np.stack([run_graph(graph, c) for c in codes])


def _sim_adu(n: int) -> list[np.ndarray]:
    """Simulated sCMOS frames and a crop of the real BBBC038 nuclei image, raw ADU."""
    from fluorogate.sim.pairs import denoise_batch
    from fluorogate.sim.real import load_real_crop

    noisy, _ = denoise_batch(n - 1, SIZE, photons=20.0, seed=3)
    real = load_real_crop().data[100 : 100 + SIZE, 100 : 100 + SIZE]
    return [*noisy.astype(np.int64), real.astype(np.int64)]


def test_auto_default_precision_is_refused():
    with pytest.raises(UserError, match="auto"):
        make_config(default_precision="auto")
    with pytest.raises(UserError, match="board"):
        make_config(board="nexys")
    assert make_config(board="zcu104").fpga_part == "xczu7ev-ffvc1156-2-e"
    assert make_config(board="u250", part="xc7z020clg400-1").fpga_part == "xc7z020clg400-1"


def test_prepare_leaves_no_transpose_and_fills_resize_roi(tmp_path):
    """sr2x: nearest Resize (empty roi) and a concat skip; both convert with no Transpose left."""
    import hls4ml

    from fluorogate.hls.hls4ml.prepare import prepare_qonnx

    model = prepare_qonnx(_export("sr2x", tmp_path / "sr2x.qonnx.onnx", layers=4))
    ops = [n.op_type for n in model.graph.node]
    assert "Transpose" not in ops and ops.count("Resize") == 2
    for n in model.graph.node:
        if n.op_type == "Resize":
            assert n.input[1] and model.get_initializer(n.input[1]) is not None
    cfg = hls4ml.utils.config.config_from_onnx_model(
        model, granularity="name", backend="Vitis", default_precision="fixed<32,16>"
    )
    hm = hls4ml.converters.convert_from_onnx_model(
        model, output_dir=str(tmp_path / "p"), io_type="io_stream", backend="Vitis", hls_config=cfg
    )
    kinds = [layer.class_name for layer in hm.get_layers()]
    assert "Transpose" not in kinds and kinds.count("Resize") == 2


@pytest.mark.integration
def test_input_type_is_the_input_quantizers(project):
    layer = next(lay for lay in project.model.get_layers() if lay.class_name == "Input")
    precision = layer.get_output_variable().type.precision
    assert Grid.of_precision(precision) == Grid.of_quant(project.graph.input.quant)
    assert str(precision.rounding_mode) == "RND_CONV" and str(precision.saturation_mode) == "SAT"


@pytest.mark.integration
def test_types_follow_the_ir(project):
    g = project.graph
    for name, op in project.matching.pairs.items():
        node = g.node(name)
        if node.op == "conv":
            acc = Grid.of_precision(op.layer.types["accum_t"].precision)
            r = g.ranges[name]
            assert acc.exp == r.exp and acc.bits == r.bits + (0 if r.signed else 1)
        if isinstance(node, RequantNode):
            p = op.layer.get_output_variable().type.precision
            assert Grid.of_precision(p) == Grid.of_quant(node.quant)
            assert str(p.rounding_mode) == "RND_CONV"


@pytest.mark.integration
def test_type_disagreement_fails_loudly(project):
    g = project.graph.model_copy(deep=True)
    req = next(n for n in g.nodes if isinstance(n, RequantNode))
    req.quant = TensorQuant(bits=req.quant.bits, signed=req.quant.signed, exp=req.quant.exp + 1)
    with pytest.raises(TypeMismatch, match=req.name):
        check_types(g, match(g, project.model))


@pytest.mark.integration
def test_fifo_depths_are_line_scale_not_frame_scale(project):
    depths = project.depths
    text = (project.out_dir / "firmware" / f"{project.cfg.project_name}.cpp").read_text()
    for name, depth in depths.items():
        if f"variable={name} " in text:
            assert f"variable={name} depth={depth}" in text
    skip = max(depths.values())
    assert skip > 3 * (SIZE + 2)  # the concat skip waits for three padded 3x3 convs
    big = edge_depths(project.graph, 512, 512)
    assert max(big.values()) < 512 * 8  # a few lines, not 262,144


def test_backlog_of_a_delayed_reader():
    written = np.arange(100)
    assert backlog(written, written) == 1
    assert backlog(written, written + 10) == 11


@pytest.mark.integration
def test_hls4ml_predict_is_bit_exact(project):
    from fluorogate.quantize.reference import codes_from_adu

    project.model.compile()
    codes = np.concatenate(
        [_codes(project.graph, 2), np.stack([codes_from_adu(project.graph, a) for a in _sim_adu(2)])]
    )
    assert np.array_equal(
        csim.predict_codes(project.model, project.graph, codes), _reference(project.graph, codes)
    )


@pytest.mark.integration
def test_hls4ml_cpp_testbench_is_bit_exact(project):
    codes = _codes(project.graph, 2, seed=1)
    ref = _reference(project.graph, codes)
    got = csim.run_hls4ml_testbench(project.out_dir, project.cfg.project_name, project.graph, codes, ref)
    assert np.array_equal(got, ref)


@pytest.mark.integration
def test_dataflow_csim_detects_a_too_shallow_skip_fifo(project):
    """The testbenches run the layers as threads over bounded FIFOs: the computed depths pass (tests
    above); the concat skip cut to 2 entries deadlocks, and the watchdog names the full stream."""
    skip = max(project.depths, key=project.depths.get)
    codes = _codes(project.graph, 1, seed=2)
    with pytest.raises(csim.FifoDeadlock, match=f"{skip}: 2 / 2"):
        csim.run_hls4ml_testbench(
            project.out_dir, project.cfg.project_name, project.graph, codes, depths={skip: 2}, watchdog_s=2
        )


@pytest.mark.integration
def test_axis_video_wrapper_is_bit_exact_on_raw_adu(project):
    from fluorogate.quantize.reference import codes_from_adu

    frames = _sim_adu(2)
    outs = csim.run_axis_testbench(project.out_dir, project.cfg.project_name, project.graph, frames)
    ref = _reference(project.graph, np.stack([codes_from_adu(project.graph, f) for f in frames]))
    assert len(outs) == 2
    assert all(np.array_equal(o, r) for o, r in zip(outs, ref, strict=True))


@pytest.mark.integration
def test_cli_synth_without_vendor_tool_names_it(project, tmp_path, capsys):
    """The project is written (Vivado backend here), then --synth stops on one line naming the program."""
    import json
    import shutil

    from fluorogate.cli import main

    if shutil.which("vivado_hls"):
        pytest.skip("vivado_hls is installed here")
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(project.source, run / "model.qonnx.onnx")
    project.graph.save(run / "ir.json")
    out = tmp_path / "prj"
    argv = [
        "hls",
        str(run),
        "--backend",
        "vivado",
        "--board",
        "u250",
        "--clock",
        "4",
        "--width",
        "16",
        "--height",
        "16",
        "--out",
        str(out),
        "--no-csim",
        "--synth",
    ]
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("fluorogate: error: 'vivado_hls' is not on PATH")
    summary = json.loads((out / "fluorogate_hls.json").read_text())
    assert summary["part"] == "xcu250-figd2104-2L-e" and summary["config"]["backend"] == "vivado"
    assert "set_part {xcu250-figd2104-2L-e}" in (out / "export_ip.tcl").read_text()
    assert "create_clock -period 4.0" in (out / "export_ip.tcl").read_text()
    with pytest.raises(MissingToolError, match="vitis_hls"):
        from fluorogate.hls.hls4ml.vendor import require_tool

        require_tool("vitis")


@pytest.mark.integration
def test_cli_refuses_to_overwrite(project, tmp_path, capsys):
    from fluorogate.cli import main

    assert main(["hls", str(project.out_dir.parent), "--out", str(project.out_dir)]) == 2
    assert "no ir.json and model.qonnx.onnx; export it first" in capsys.readouterr().err


_REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <UserAssignments><Part>xc7z020-clg400-1</Part><TargetClockPeriod>5.00</TargetClockPeriod></UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>4.321</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <Best-caseLatency>1200</Best-caseLatency><Worst-caseLatency>1300</Worst-caseLatency>
      <Interval-min>1100</Interval-min><Interval-max>1100</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>4</BRAM_18K><DSP>12</DSP><FF>3456</FF><LUT>7890</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>280</BRAM_18K><DSP>220</DSP><FF>106400</FF><LUT>53200</LUT><URAM>0</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""


def test_parse_csynth_report():
    r = parse_csynth_xml(_REPORT)
    assert r["estimated_clock_ns"] == pytest.approx(4.321) and r["target_clock_ns"] == 5.0
    assert (r["latency_best_cycles"], r["latency_worst_cycles"], r["interval_min_cycles"]) == (
        1200,
        1300,
        1100,
    )
    assert r["resources"]["LUT"] == 7890 and r["available"]["DSP"] == 220
    with pytest.raises(UserError, match="EstimatedClockPeriod"):
        parse_csynth_xml("<profile/>")


@pytest.mark.integration
@pytest.mark.vendor
def test_vendor_synthesis(project):
    from fluorogate.hls.hls4ml.vendor import run_synthesis

    report = run_synthesis(project.out_dir, project.cfg)
    assert report["resources"]["LUT"] > 0


def _fresh_project(
    tmp_path,
    task: str,
    layers: int,
    rounding: str = "half_even",
    size: int = SIZE,
    ops: dict | None = None,
    **cfg,
):
    from fluorogate.models import ModelConfig, build_model
    from fluorogate.quantize.export import export_qonnx
    from fluorogate.quantize.from_qonnx import build_integer_graph

    torch.manual_seed(0)
    model = build_model(
        ModelConfig(task=task, channels=4, layers=layers, rounding=rounding, **(ops or {})), quant=True
    )
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.rand(2, 1, size, size))
    model.eval()
    tmp_path.mkdir(parents=True, exist_ok=True)
    qonnx = export_qonnx(model, tmp_path / f"{task}.qonnx.onnx", size=SIZE)  # the build resizes it
    graph = build_integer_graph(qonnx, camera=CAMERA)
    steps = cfg.pop("steps", None)
    extra = {"steps": steps} if steps else {}
    cfg.setdefault("width", size)
    return build_project(str(qonnx), graph, make_config(height=size, **cfg), tmp_path / "prj", **extra)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("task", "layers"), [("unet", 5), ("sr2x", 4)])
def test_unet_and_sr2x_cpp_testbench_bit_exact(tmp_path, task, layers):
    ctx = _fresh_project(tmp_path, task, layers)
    assert csim.check_project(ctx, frames=2) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_non_square_sr2x_is_bit_exact(tmp_path):
    """hls4ml swaps H and W of Resize on channels-last input; `step_resize_shapes` repairs it."""
    ctx = _fresh_project(tmp_path, "sr2x", 4, size=16, width=24)
    assert csim.check_project(ctx, frames=2) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_half_up_model_uses_ap_rnd_and_is_bit_exact(tmp_path):
    ctx = _fresh_project(tmp_path, "denoise", 4, rounding="half_up")
    assert ctx.graph.rounding == "half_up"
    requants = [op for n, op in ctx.matching.pairs.items() if ctx.graph.node(n).op == "requant"]
    assert requants and all(
        str(op.layer.get_output_variable().type.precision.rounding_mode) == "RND" for op in requants
    )
    assert csim.check_project(ctx, frames=2) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_larger_frames_bit_exact_on_simulated_adu(tmp_path):
    from fluorogate.quantize.reference import codes_from_adu
    from fluorogate.sim.pairs import denoise_batch

    ctx = _fresh_project(tmp_path, "denoise", 4, size=64)
    ctx.model.compile()
    noisy, _ = denoise_batch(2, 64, photons=10.0, seed=5)
    codes = np.stack([codes_from_adu(ctx.graph, a.astype(np.int64)) for a in noisy])
    assert np.array_equal(csim.predict_codes(ctx.model, ctx.graph, codes), _reference(ctx.graph, codes))


@pytest.mark.slow
def test_input_type_pitfall_is_real(tmp_path):
    """Measured pitfall: with the input left at hls4ml's default type, float inputs are rounded twice."""
    from fluorogate.hls.hls4ml import build
    from fluorogate.quantize.reference import quantize_float_input

    def configure_without_input_type(ctx):
        import hls4ml

        ctx.hls_config = hls4ml.utils.config.config_from_onnx_model(
            ctx.qonnx, granularity="name", backend="Vitis", default_precision=ctx.cfg.default_precision
        )

    steps = [
        (n, configure_without_input_type if n == "configure" else s)
        for n, s in build.DEFAULT_STEPS
        if n not in ("types", "fifos", "wrapper")
    ]
    x = np.random.default_rng(7).random((4, SIZE, SIZE)).astype(np.float32)
    mismatch = {}
    for label, chosen in (("ours", build.DEFAULT_STEPS), ("default", steps)):
        ctx = _fresh_project(tmp_path / label, "denoise", 3, default_precision="fixed<16,6>", steps=chosen)
        ctx.model.compile()
        got = np.asarray(ctx.model.predict(np.ascontiguousarray(x[..., None]))).reshape(4, SIZE, SIZE)
        ref = (
            _reference(ctx.graph, quantize_float_input(ctx.graph, x))[:, 0]
            * 2.0 ** ctx.graph.ranges[ctx.graph.output].exp
        )
        mismatch[label] = np.mean(got != ref)
    assert mismatch["ours"] == 0
    assert mismatch["default"] > 0


def _live_check(ctx, frames: int = 2) -> None:
    """The project's C++ testbench on simulated camera frames == the reference, on a live output."""
    from fluorogate.quantize.reference import codes_from_adu

    graph = ctx.graph
    codes = np.stack([codes_from_adu(graph, a) for a in _sim_adu(frames)])[:, None]
    ref = _reference(graph, codes[:, 0])
    assert np.count_nonzero(ref) > ref.size // 4
    got = csim.run_hls4ml_testbench(ctx.out_dir, ctx.cfg.project_name, graph, codes, ref)
    assert np.array_equal(got, ref)


@pytest.mark.integration
def test_pointwise_and_depthwise_convs_are_bit_exact(tmp_path):
    """Issue 15: hls4ml names a 1x1 conv `PointwiseConv2D` (the type check once knew only names starting
    with 'Conv' and stopped there) and a depthwise one `DepthwiseConv2D`: each maps to its IR op by class,
    its weights and types are checked against the IR, and the project C-simulates bit-exact."""
    ctx = _fresh_project(tmp_path, "denoise", 4, ops={"separable": True})
    by_class = {(op.layer.class_name, ctx.graph.node(n).op) for n, op in ctx.matching.pairs.items()}
    assert {("PointwiseConv2D", "conv"), ("DepthwiseConv2D", "dwconv"), ("Conv2D", "conv")} <= by_class
    name, dw = next((n, op.layer) for n, op in ctx.matching.pairs.items() if ctx.graph.node(n).op == "dwconv")
    acc, r = Grid.of_precision(dw.types["accum_t"].precision), ctx.graph.ranges[name]
    assert (acc.exp, acc.bits) == (r.exp, r.bits + (0 if r.signed else 1))  # the IR's exact accumulator
    _live_check(ctx)


@pytest.mark.slow
@pytest.mark.integration
def test_5x5_separable_unet_half_up_is_bit_exact(tmp_path):
    """5x5 windows (ZeroPadding2D of 2, the FIFO model's padded timing), depthwise 5x5 over a concat, and a
    half_up U-Net's upsample (its type follows the requant before it, AP_RND: it did not compile before)."""
    ctx = _fresh_project(tmp_path, "unet", 5, rounding="half_up", ops={"kernel": 5, "separable": True})
    assert {ctx.graph.node(n).op for n in ctx.matching.pairs} >= {"conv", "dwconv", "upsample2", "maxpool2"}
    assert csim.check_project(ctx, frames=2) == 0
