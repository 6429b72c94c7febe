"""`fluorogate import MODEL.onnx --out RUN`: a QONNX file from any tool as a run folder every stage takes.

A model built and trained outside fluorogate (Brevitas, qonnx, another QONNX writer) reaches the
hardware stages (`reference`, `hls`, `finn`, `rtl`, `build`, `bench`) through the same run folder a
trained run has: `model.qonnx.onnx` + `ir.json`, plus `source.json` (`run_folder.ImportSource`) in place
of a training config. What the hardware cannot do is refused here, naming the node and the reason (the
IR builder's refusals, `quantize.from_qonnx`), not three stages later.

What import does, in order, before anything is written:
1. read and clean the file (`qonnx.util.cleanup`), build the IR from it (the refusals happen here);
2. choose the rounding: the file's `fluorogate.rounding` metadata, else its activation quantizers'
   `rounding_mode`, unless `rounding` overrides it (Brevitas labels a custom `floor(x + 0.5)` quantizer
   `ROUND`: pass `half_up` for such a model); an override is written into the run's copy of the file
   (every activation `Quant` node's `rounding_mode`, as `fluorogate export` writes it), so hls4ml, FINN
   and the IR builder read one rounding from it;
3. choose the camera front end (optional): a `CameraConversion`, or camera numbers (`CameraSettings`:
   a `fluorogate calibrate` JSON, or offset/gain/read noise) turned into one by
   `quantize.camera.choose_conversion` (pedestal of 5 read-noise sigmas, shift fitting `peak_photons`),
   with `input_shift` overriding the shift. The conversion decides what real input the network sees
   (`(ADU - offset) * 2**-shift` input codes, times the input quantizer's scale): choose it as the
   model was trained. It feeds an unsigned input quantizer only;
   A `half_up` model whose signed quantizer may round a negative value is refused: QONNX's `HALF_UP`
   rounds negative ties away from zero, `floor(x + 1/2)` (Brevitas's `floor(x + 0.5)`, the IR, FINN's
   thresholds, RTL, ap_fixed AP_RND) rounds them up, and no QONNX `rounding_mode` says the latter, so the
   file could not state what the model computes (docs/quantization.md: every rounding sees values >= 0);
4. check: qonnx's execution of the run's copy equals the IR's integer reference on every output pixel
   of a few input frames (random, extremes); for a Brevitas module also its own forward
   (`import_brevitas`). A difference is a `VerificationError`;
5. write the run folder (built beside `out`, then renamed into place).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fluorogate.errors import UserError, VerificationError
from fluorogate.models.run_folder import CHECKPOINT, CONFIG, IR, QONNX, SOURCE, ImportSource, RunFolder
from fluorogate.quantize.camera import CameraSettings, choose_conversion
from fluorogate.quantize.ir import CameraConversion, IntegerGraph, Rounding

RUN_FILES = (CONFIG, CHECKPOINT, SOURCE, IR, QONNX)  # a folder holding one of these is a run folder
ORIGINAL_NAME = "fluorogate: the node's name in the imported file: "


def import_qonnx(
    model: str | Path,
    out: str | Path,
    *,
    camera: CameraConversion | CameraSettings | None = None,
    rounding: Rounding | None = None,
    peak_photons: float = 100.0,
    input_shift: int | None = None,
    force: bool = False,
    command: str | None = None,
) -> RunFolder:
    """Import the QONNX file `model` into the run folder `out` (see the module docstring)."""
    src = Path(model)
    if not src.is_file():
        raise UserError(f"{src}: no such QONNX file")
    data = src.read_bytes()
    return _import(
        _read(src),
        out,
        file=str(src.resolve()),
        sha256=hashlib.sha256(data).hexdigest(),
        camera=camera,
        rounding=rounding,
        peak_photons=peak_photons,
        input_shift=input_shift,
        force=force,
        command=command,
    )


def import_brevitas(
    module,
    out: str | Path,
    *,
    channels: int = 1,
    size: int = 16,
    camera: CameraConversion | CameraSettings | None = None,
    rounding: Rounding | None = None,
    peak_photons: float = 100.0,
    input_shift: int | None = None,
    force: bool = False,
) -> RunFolder:
    """Export the Brevitas `module` with Brevitas's own `export_qonnx` and import it in one call.

    The network takes (1, `channels`, H, W) frames; `size` is the frame the export traces (any size
    works afterwards: the network is fully convolutional). Beside qonnx's execution, the module's own
    forward must equal the integer reference on every output pixel of the check frames.
    """
    import torch
    from brevitas.export import export_qonnx

    module = module.eval()
    with tempfile.TemporaryDirectory(prefix="fluorogate-import-") as tmp:
        path = Path(tmp) / "brevitas.qonnx.onnx"
        with torch.no_grad():
            export_qonnx(
                module, args=torch.zeros(1, channels, size, size), export_path=str(path), dynamo=False
            )
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        return _import(
            _read(path),
            out,
            file=f"<brevitas {type(module).__name__}>",
            sha256=sha,
            camera=camera,
            rounding=rounding,
            peak_photons=peak_photons,
            input_shift=input_shift,
            force=force,
            extra_check=lambda graph, frames: {"brevitas_forward": _check_module(module, graph, frames)},
        )


def _read(path: Path):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    try:
        wrapper = ModelWrapper(str(path))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise UserError(f"{path}: not a readable ONNX model: {exc}") from exc
    _refuse_repeated_inputs(wrapper)
    for node in wrapper.graph.node:  # the clean-up renames every node: keep the file's names for messages
        node.doc_string = ORIGINAL_NAME + node.name
    wrapper = cleanup_model(wrapper)  # also drops initializers listed as graph inputs (older exporters)
    if len(wrapper.graph.input) != 1 or len(wrapper.graph.output) != 1:
        raise UserError(
            f"{path}: the graph has {len(wrapper.graph.input)} inputs and {len(wrapper.graph.output)} "
            "outputs; one camera stream in and one out are supported"
        )
    return wrapper


def _refuse_repeated_inputs(wrapper) -> None:
    """A node reading one computed tensor twice (`cat([x, x])`, `x + x`, or two identical ops that the
    exporter merged) is refused: qonnx's clean-up, which the IR builder, hls4ml and FINN all run, renames
    only the first of the two references (qonnx 1.0 `ModelWrapper.rename_tensor`) and leaves the second
    dangling, so no back end would see the graph intact."""
    constants = {o for n in wrapper.graph.node if n.op_type == "Constant" for o in n.output}
    for node in wrapper.graph.node:
        computed = [i for i in node.input if i and i not in constants and wrapper.get_initializer(i) is None]
        repeated = sorted({i for i in computed if computed.count(i) > 1})
        if repeated:
            raise UserError(
                f"node {node.name} ({node.op_type}): reads tensor {repeated[0]!r} more than once (qonnx's "
                "clean-up, which every back end runs, keeps only one of the references); feed it two "
                "different tensors (adding or concatenating a tensor with itself: scale or repeat the "
                "next layer's weights instead)"
            )


def _import(
    wrapper,
    out: str | Path,
    *,
    file: str,
    sha256: str,
    camera,
    rounding: Rounding | None,
    peak_photons: float,
    input_shift: int | None,
    force: bool,
    command: str | None = None,
    extra_check: Callable[[IntegerGraph, list[np.ndarray]], dict] | None = None,
) -> RunFolder:
    from fluorogate.quantize.export import package_versions, read_metadata, write_metadata
    from fluorogate.quantize.from_qonnx import build_integer_graph

    out = _check_out(Path(out), force)
    recorded = read_metadata(wrapper.model)
    try:
        first = build_integer_graph(_copy(wrapper), rounding=rounding)  # refuses what the hardware cannot do
    except UserError as exc:
        raise UserError(_with_original_name(str(exc), wrapper)) from None
    _refuse_negative_half_up(first, wrapper)
    conversion, camera_from = _conversion(first, camera, peak_photons, input_shift)
    if rounding is not None:
        _set_activation_rounding(wrapper, rounding)
    meta = {
        "rounding": first.rounding,
        "versions": json.dumps(package_versions()),
        "imported_from": file,
        "imported_sha256": sha256,
    }
    if conversion is not None:
        meta["camera"] = conversion.model_dump_json()
    write_metadata(wrapper.model, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        wrapper.save(str(tmp / QONNX))
        graph = build_integer_graph(tmp / QONNX, name=out.name)
        graph.meta["source"] = file
        frames = check_frames(graph, *_input_size(wrapper))
        check = {
            "frames": len(frames),
            "frame": list(frames[0].shape[-2:]),
            "qonnx_execution": _check_qonnx(wrapper, graph, frames),
        }
        if extra_check is not None:
            check.update(extra_check(graph, frames))
        graph.save(tmp / IR)
        source = ImportSource(
            file=file,
            sha256=sha256,
            tool=_tool(wrapper),
            rounding=graph.rounding,
            rounding_from=_rounding_from(rounding, recorded),
            camera=graph.input.camera,
            camera_from=camera_from,
            check=check,
            versions=package_versions(),
            command=command,
        )
        (tmp / SOURCE).write_text(source.model_dump_json(indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return RunFolder(out)


def _refuse_negative_half_up(graph: IntegerGraph, wrapper) -> None:
    """See the module docstring, step 2: a signed half_up requant whose input may be negative."""
    if graph.rounding != "half_up":
        return
    for node in graph.nodes:
        r = graph.ranges[node.inputs[0]] if node.op == "requant" else None
        if r is not None and node.quant.signed and r.lo < 0:
            raise UserError(
                _with_original_name(
                    f"node {node.name} (Quant): a signed half_up quantizer of values down to {r.lo} * "
                    f"2**{r.exp}: QONNX's HALF_UP rounds negative ties away from zero, the hardware and "
                    "Brevitas's floor(x + 0.5) round them up, and no QONNX rounding mode says so; quantize "
                    "unsigned after a ReLU, or use half_even (Brevitas's default rounding)",
                    wrapper,
                )
            )


def _with_original_name(message: str, wrapper) -> str:
    """A refusal naming a cleaned-up node (`Quant_5`) also names it as the imported file does."""
    found = re.match(r"node (\S+) ", message)
    names = {
        n.name: n.doc_string.removeprefix(ORIGINAL_NAME)
        for n in wrapper.graph.node
        if n.doc_string.startswith(ORIGINAL_NAME)
    }
    original = names.get(found[1]) if found else None
    if not original or original == found[1]:
        return message
    return f"{message} [node {found[1]} is {original!r} in the imported file]"


def _check_out(out: Path, force: bool) -> Path:
    """`out` if it may be written: absent or empty; with `force`, a run folder (never any other folder)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UserError(f"{out} exists and is not empty; pass --force to replace the run in it")
        if not any((out / name).exists() for name in RUN_FILES):
            raise UserError(
                f"{out} is not a run folder (none of {', '.join(RUN_FILES)}); "
                "--force replaces run folders only: choose another --out"
            )
    return out


def _copy(wrapper):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(wrapper.model.SerializeToString())


def _input_size(wrapper) -> tuple[int, int]:
    shape = wrapper.get_tensor_shape(wrapper.graph.input[0].name)
    return int(shape[2]), int(shape[3])


def _tool(wrapper) -> str:
    m = wrapper.model
    return f"{m.producer_name or 'unknown'} {m.producer_version}".strip()


def _rounding_from(option: Rounding | None, recorded: dict[str, str]) -> str:
    if option is not None:
        return "--rounding"
    return "the file's fluorogate metadata" if "rounding" in recorded else "the file's quantizers"


def _conversion(
    graph: IntegerGraph, camera, peak_photons: float, input_shift: int | None
) -> tuple[CameraConversion | None, dict | None]:
    """The camera front end for `graph` and what it was chosen from (None, None: codes in)."""
    q = graph.input.quant
    if camera is None:
        if input_shift is not None:
            raise UserError(
                "--input-shift: the camera front end needs the camera's numbers too "
                "(--camera FILE, or --camera-offset, --camera-gain and --read-noise)"
            )
        if graph.input.camera is not None:
            return graph.input.camera, {"from": "the file's fluorogate.camera metadata"}
        return None, None
    if q.signed:
        raise UserError(
            f"the model's input quantizer is signed ({q.bits} bits); the camera front end delivers "
            "unsigned codes (ADU minus a dark offset, with a pedestal): import it without a camera, "
            "or quantize the input unsigned"
        )
    if isinstance(camera, CameraConversion):
        return camera, {"from": "a CameraConversion given to import_qonnx"}
    conversion = choose_conversion(camera, peak_photons=peak_photons, bits=q.bits)
    if input_shift is not None:
        conversion = conversion.model_copy(update={"shift": input_shift})
    return conversion, {
        "settings": camera.model_dump(),
        "peak_photons": peak_photons,
        "input_shift": input_shift,
        "pedestal_sigmas": 5.0,
    }


def _set_activation_rounding(wrapper, rounding: Rounding) -> None:
    """Every activation `Quant` node (not a weight's or bias's) rounds with `rounding`'s QONNX mode."""
    from fluorogate.quantize.qat import QONNX_ROUNDING_MODE

    for node in wrapper.graph.node:
        if node.op_type != "Quant" or wrapper.get_initializer(node.input[0]) is not None:
            continue
        attr = next((a for a in node.attribute if a.name == "rounding_mode"), None)
        if attr is None:
            from onnx import helper

            node.attribute.append(helper.make_attribute("rounding_mode", QONNX_ROUNDING_MODE[rounding]))
        else:
            attr.s = QONNX_ROUNDING_MODE[rounding].encode()


def check_frames(graph: IntegerGraph, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Input code frames (C, H, W) for a bit-exactness check: random over the input's whole range, all at
    the maximum (saturation downstream), and a min/max checkerboard (the largest local steps)."""
    q, c = graph.input.quant, graph.input.channels
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    checker = np.where((yy + xx) % 2 == 0, q.max_int, q.min_int)
    return [
        rng.integers(q.min_int, q.max_int + 1, size=(c, height, width)),
        np.full((c, height, width), q.max_int),
        np.broadcast_to(checker, (c, height, width)).copy(),
    ]


def _reference_real(graph: IntegerGraph, frames: list[np.ndarray]) -> list[np.ndarray]:
    from fluorogate.quantize.reference import run_graph, to_real

    return [to_real(graph, run_graph(graph, f)) for f in frames]


def compare(want: list[np.ndarray], got: list[np.ndarray], what: str) -> dict:
    """{pixels, mismatches: 0} of `got` vs the reference's `want` (real values), else a VerificationError
    naming the first differing pixel."""
    pixels = sum(w.size for w in want)
    bad = [
        (k, np.argwhere(w != g))
        for k, (w, g) in enumerate(zip(want, got, strict=True))
        if w.shape != g.shape or np.any(w != g)
    ]
    if not bad:
        return {"pixels": pixels, "mismatches": 0}
    k, where = bad[0]
    if want[k].shape != got[k].shape:
        raise VerificationError(
            f"{what}: output shape {got[k].shape} but the integer reference's is {want[k].shape}"
        )
    n = sum(int(np.sum(w != g)) for w, g in zip(want, got, strict=True))
    pos = tuple(int(i) for i in where[0])
    raise VerificationError(
        f"{what} differs from the integer reference on {n} of {pixels} output values (first: "
        f"frame {k}, (c, y, x) = {pos}: {got[k][pos]} vs {want[k][pos]})"
    )


def _check_qonnx(wrapper, graph: IntegerGraph, frames: list[np.ndarray]) -> dict:
    from qonnx.core.onnx_exec import execute_onnx

    if graph.meta.get("float32_exact") == "no":
        return {
            "skipped": f"an intermediate value needs {graph.meta['widest_integer']} > 2**24: float32 "
            "execution is not exact there (the integer reference is)"
        }
    name_in, name_out = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    exp = graph.input.quant.exp
    got = [
        np.asarray(
            execute_onnx(wrapper, {name_in: (f * 2.0**exp).astype(np.float32)[None]})[name_out][0],
            dtype=np.float64,
        )
        for f in frames
    ]
    return compare(_reference_real(graph, frames), got, "qonnx execution")


def _check_module(module, graph: IntegerGraph, frames: list[np.ndarray]) -> dict:
    """The Brevitas module's own forward on the check frames vs the integer reference."""
    import torch

    if graph.meta.get("float32_exact") == "no":
        return {"skipped": "float32 execution is not exact for this model (values past 2**24)"}
    exp = graph.input.quant.exp
    got = []
    with torch.no_grad():
        for f in frames:
            y = module(torch.from_numpy((f * 2.0**exp).astype(np.float32))[None])
            got.append(np.asarray(getattr(y, "value", y).numpy()[0], dtype=np.float64))
    return compare(_reference_real(graph, frames), got, "the Brevitas module's forward")
