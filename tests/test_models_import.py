"""`fluorogate import`: a QONNX file written by Brevitas's own export (a model outside `models/nets`) becomes
a run folder that every later stage takes; what the hardware cannot do is refused at import, naming the
node."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import onnx
import pytest
import tifffile
import torch
from zoo import CAMERA, FRAME, Op, ZooSpec, build_module

from fluorogate.cli import main
from fluorogate.errors import UserError, VerificationError
from fluorogate.models.import_run import import_brevitas, import_qonnx
from fluorogate.models.run_folder import RunFolder
from fluorogate.models.runs import open_run
from fluorogate.quantize.camera import choose_conversion

# 1x1 and 3x3 convs, an add of two unsigned branches, a concat with the input; Brevitas's default rounding.
SPEC = ZooSpec(
    1,
    8,
    False,
    True,
    "half_even",
    (
        Op("conv", (0,), channels=4, kernel=3, bias=True, bits=4),
        Op("relu", (1,), bits=6),
        Op("conv", (2,), channels=4, kernel=1, bias=True, bits=3),
        Op("relu", (3,), bits=6),
        Op("add", (2, 4)),
        Op("concat", (5, 0)),
        Op("conv", (6,), channels=1, kernel=3, bias=False, bits=5),
        Op("relu", (7,), bits=8),
    ),
    seed=1,
)
CAMERA_FLAGS = ["--camera-offset", "100", "--camera-gain", "2.17", "--read-noise", "1.4"]


def _export(module, path, size: int = FRAME):
    from brevitas.export import export_qonnx

    with torch.no_grad():
        export_qonnx(module, args=torch.zeros(1, 1, size, size), export_path=str(path), dynamo=False)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    module = build_module(SPEC)
    return module, _export(module, tmp_path_factory.mktemp("brevitas") / "model.onnx")


@pytest.fixture(scope="module")
def imported(model_file, tmp_path_factory):
    _, path = model_file
    run = tmp_path_factory.mktemp("runs") / "imported"
    assert main(["import", str(path), "--out", str(run), *CAMERA_FLAGS]) == 0
    return run


def test_the_run_records_its_source_and_check(model_file, imported):
    _, path = model_file
    run = open_run(imported)
    assert run.kind == "imported" and run.is_exported and not run.has_config
    src = run.source
    assert src.file == str(path.resolve()) and src.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert src.tool.startswith("pytorch") and src.rounding == run.graph.rounding == "half_even"
    assert src.rounding_from == "the file's quantizers" and src.command.startswith("fluorogate")
    assert src.camera == run.graph.input.camera == choose_conversion(CAMERA, bits=8)
    assert src.camera_from["settings"]["offset_adu"] == 100 and src.camera_from["peak_photons"] == 100
    chk = src.check["qonnx_execution"]
    assert chk == {"pixels": 3 * FRAME * FRAME, "mismatches": 0} and src.check["frame"] == [FRAME, FRAME]
    assert {n.op for n in run.graph.nodes} >= {"conv", "add", "concat", "relu", "requant"}
    assert any(n.op == "conv" and n.kernel == 1 for n in run.graph.nodes)


def test_reference_on_camera_frames_equals_brevitas(model_file, imported, tmp_path):
    """`fluorogate reference RUN` on a raw ADU stack equals the user's own Brevitas module on every pixel."""
    from fluorogate.quantize.reference import codes_from_adu

    module, _ = model_file
    graph = open_run(imported).graph
    adu = np.random.default_rng(5).integers(60, 100 + 260 * 2, (2, 24, 20)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "adu.tif", adu)
    assert (
        main(
            [
                "reference",
                str(imported),
                "--input",
                str(tmp_path / "adu.tif"),
                "--out",
                str(tmp_path / "o.tif"),
            ]
        )
        == 0
    )
    out = tifffile.imread(tmp_path / "o.tif")
    exp = graph.exps()[graph.output]
    for k in range(2):
        x = codes_from_adu(graph, adu[k]).astype(np.float32) * 2.0**graph.input.quant.exp
        with torch.no_grad():
            want = module(torch.from_numpy(x)[None, None]).numpy()[0, 0]
        assert np.array_equal(out[k] * 2.0**exp, want)


def test_later_stages_take_it_and_say_what_it_lacks(imported, tmp_path, capsys):
    assert main(["rtl", str(imported), "--out", str(tmp_path / "rtl"), "--width", "16", "--height", "8"]) == 0
    assert (tmp_path / "rtl" / "files.f").is_file()
    for argv in (["eval", str(imported)], ["export", str(imported), "--force"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "imported model" in err and err.count("\n") == 1
    with pytest.raises(UserError, match=r"imported model .* has no float twin"):
        RunFolder(imported).require_config("eval")


def test_bench_runs_what_an_imported_model_has(imported, tmp_path):
    from fluorogate.bench.run import BenchConfig, run_bench

    cfg = BenchConfig(sizes=[16], software_repeats=1, hls_sizes=[])
    report = run_bench(
        imported, None, tmp_path / "bench", sections=["software", "quality", "framestore"], cfg=cfg
    )
    sec = report.sections
    assert report.kind == "imported"
    assert "no float twin" in sec["quality"]["skipped"] and "skipped" in sec["framestore"]
    # the reference's two engines race each other; the float contenders are absent, with the reason
    assert set(sec["software"]["sizes"][16]["ms_per_frame"]) == {"reference", "reference_spec"}
    assert (
        "Not run: onnxruntime_float: the run has no float ONNX"
        in (tmp_path / "bench" / "bench.md").read_text()
    )


def test_no_overwrite_without_force_and_never_a_foreign_folder(model_file, imported, tmp_path, capsys):
    _, path = model_file
    assert main(["import", str(path), "--out", str(imported)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["import", str(path), "--out", str(imported), "--force", *CAMERA_FLAGS]) == 0
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["import", str(path), "--out", str(tmp_path), "--force"]) == 2
    assert "not a run folder" in capsys.readouterr().err and (tmp_path / "notes.txt").read_text() == "mine"


def _mutated(path, tmp_path, mutate):
    model = onnx.load(str(path))
    mutate(model)
    out = tmp_path / "mutated.onnx"
    onnx.save(model, str(out))
    return out


def _set_const(model, name, value):
    for init in model.graph.initializer:
        if init.name == name:
            init.CopyFrom(onnx.numpy_helper.from_array(np.asarray(value, np.float32), name))
            return
    for node in model.graph.node:  # Brevitas exports scales as Constant nodes
        if node.op_type == "Constant" and node.output[0] == name:
            node.attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(np.asarray(value, np.float32)))
            return
    raise KeyError(name)


def test_what_the_hardware_cannot_do_is_refused_at_import_naming_the_node(model_file, tmp_path, capsys):
    _, path = model_file

    def scale(model):
        quant = next(n for n in model.graph.node if n.op_type == "Quant" and "layers.1" in n.name)
        _set_const(model, quant.input[1], 0.3)

    def stride(model):
        conv = next(n for n in model.graph.node if n.op_type == "Conv")
        conv.attribute.append(onnx.helper.make_attribute("strides", [2, 2]))

    for mutate, reason in (
        (
            scale,
            r"node Quant_\d+ \(Quant\): the tensor's scale 0.3\d* is not a power of two.* "
            r"\[node Quant_\d+ is '/layers\.\d+/\w+/export_handler/Quant' in the imported file\]",
        ),
        (
            stride,
            r"node Conv_0 \(Conv\): unsupported strides=\[2, 2\].* \[node Conv_0 is "
            r"'/layers.0/Conv' in the imported file\]",
        ),
    ):
        bad = _mutated(path, tmp_path, mutate)
        assert main(["import", str(bad), "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(reason, err), err
        assert not (tmp_path / "run").exists()


def test_a_tensor_read_twice_is_refused(tmp_path):
    """qonnx's clean-up renames one of a node's two references to one tensor: refused before it runs."""
    spec = ZooSpec(
        1,
        6,
        False,
        False,
        "half_even",
        (Op("relu", (0,), bits=4), Op("maxpool", (1,)), Op("maxpool", (1,)), Op("concat", (2, 3))),
    )
    with pytest.raises(
        UserError, match=r"node /Concat \(Concat\): reads tensor '/MaxPool_output_0' more than once"
    ):
        import_brevitas(build_module(spec), tmp_path / "run", size=FRAME)


def test_camera_options(model_file, tmp_path, capsys):
    _, path = model_file
    cam = tmp_path / "camera.json"
    cam.write_text(
        json.dumps(
            {
                "offset_adu": 400,
                "gain_adu_per_e": 0.5,
                "read_noise_e": 2.0,
                "adu_bits": 12,
                "qe": 0.8,
                "movie": "beads.tif",
            }
        )
    )
    assert (
        main(
            ["import", str(path), "--out", str(tmp_path / "a"), "--camera", str(cam), "--peak-photons", "500"]
        )
        == 0
    )
    conv = RunFolder(tmp_path / "a").graph.input.camera
    assert (conv.adu_bits, conv.offset) == (12, 400 - 5) and conv.shift == 0  # 5 sigma = 5 ADU pedestal
    assert (
        main(["import", str(path), "--out", str(tmp_path / "b"), "--camera", str(cam), "--input-shift", "2"])
        == 0
    )
    assert RunFolder(tmp_path / "b").graph.input.camera.shift == 2
    for flags, message in (
        (["--camera", str(cam), "--read-noise", "1"], "one way"),
        (["--camera-offset", "100"], "--camera-gain, --read-noise too"),
        (["--input-shift", "1"], "needs the camera's numbers"),
        (["--camera", str(tmp_path / "none.json")], "no such camera file"),
    ):
        assert main(["import", str(path), "--out", str(tmp_path / "c"), *flags]) == 2
        assert message in capsys.readouterr().err
    cam.write_text(json.dumps({"offset_adu": 400, "gain_adu_per_e": 0.5, "read_noise_e": 2.0}))
    assert main(["import", str(path), "--out", str(tmp_path / "c"), "--camera", str(cam)]) == 2
    assert "camera adu_bits: Field required" in capsys.readouterr().err


def test_camera_needs_an_unsigned_input(tmp_path):
    spec = ZooSpec(
        1, 6, True, False, "half_even", (Op("conv", (0,), channels=2, kernel=1, bias=True, bits=4),)
    )
    with pytest.raises(UserError, match="input quantizer is signed"):
        import_brevitas(build_module(spec), tmp_path / "run", size=FRAME, camera=CAMERA)


def test_rounding_is_recorded_overridden_and_checked_against_brevitas(tmp_path):
    """A half_up Brevitas model (the user's own floor(x + 0.5) quantizers) is labelled ROUND by Brevitas's
    export: imported as half_up its activation Quant nodes say HALF_UP (weights keep theirs) and the
    module equals the reference; imported as the file says, the module's forward differs and import stops."""
    spec = ZooSpec(
        1,
        8,
        False,
        False,
        "half_up",
        (  # the 4-bit requant of the 8-bit input rounds many ties
            Op("requant", (0,), bits=4),
            Op("conv", (1,), channels=3, kernel=3, bias=True, bits=5),
            Op("relu", (2,), bits=3),
            Op("conv", (3,), channels=1, kernel=1, bias=True, bits=5),
            Op("relu", (4,), bits=3),
        ),
        seed=2,
    )
    module = build_module(spec)
    run = import_brevitas(module, tmp_path / "up", size=FRAME, rounding="half_up")
    assert run.graph.rounding == "half_up" and run.source.rounding_from == "--rounding"
    assert run.source.check["brevitas_forward"]["mismatches"] == 0
    saved = onnx.load(str(run.qonnx_path)).graph
    weights = {i.name for i in saved.initializer}
    modes = {
        (n.input[0] not in weights, a.s.decode())
        for n in saved.node
        if n.op_type == "Quant"
        for a in n.attribute
        if a.name == "rounding_mode"
    }
    assert modes == {(True, "HALF_UP"), (False, "ROUND")}  # activations (input or a tensor) / weights
    with pytest.raises(
        VerificationError, match="the Brevitas module's forward differs from the integer reference"
    ):
        import_brevitas(module, tmp_path / "even", size=FRAME)
    assert not (tmp_path / "even").exists()


def test_import_qonnx_refuses_a_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such QONNX file"):
        import_qonnx(tmp_path / "none.onnx", tmp_path / "run")


def test_half_up_rounding_of_negative_values_is_refused(tmp_path):
    """QONNX cannot state floor(x + 1/2) on negative ties (its HALF_UP rounds them away from zero)."""
    spec = ZooSpec(
        1,
        5,
        False,
        True,
        "half_up",
        (
            Op("conv", (0,), channels=3, kernel=1, bias=False, bits=4),
            Op("requant", (1,), bits=4, signed=True),
        ),
    )
    with pytest.raises(
        UserError, match=r"node Quant_\d+ \(Quant\): a signed half_up quantizer of values down to -"
    ):
        import_brevitas(build_module(spec), tmp_path / "run", size=FRAME, rounding="half_up", camera=CAMERA)
    unsigned = ZooSpec(
        1, 5, False, True, "half_up", (*spec.ops[:1], Op("requant", (1,), bits=4, signed=False))
    )
    run = import_brevitas(
        build_module(unsigned), tmp_path / "ok", size=FRAME, rounding="half_up", camera=CAMERA
    )
    assert run.source.check["brevitas_forward"]["mismatches"] == 0


@pytest.mark.integration
def test_bench_fpga_section_streams_codes_for_a_model_without_a_camera(tmp_path):
    """An imported model without a camera front end: the RTL bench streams random input codes (signed
    here)."""
    from fluorogate.bench.run import BenchConfig, run_bench

    spec = ZooSpec(
        1,
        6,
        True,
        False,
        "half_even",
        (Op("conv", (0,), channels=2, kernel=3, bias=True, bits=4), Op("relu", (1,), bits=6)),
    )
    run = import_brevitas(build_module(spec), tmp_path / "run", size=FRAME)
    cfg = BenchConfig(sizes=[16], sim_size=8, build=False)
    fpga = run_bench(run.path, None, tmp_path / "bench", sections=["fpga"], cfg=cfg).sections["fpga"]
    sim = fpga["simulation"]
    assert fpga["task"] == "imported" and sim["bit_exact"] and sim["pixels_compared"] == 2 * 2 * 8 * 8
    assert fpga["cycle_model_confirmed"]
