"""C simulation of a written project with plain g++: hls4ml's bridge (`predict`), its own C++
testbench, and the AXI4-Stream video wrapper's testbench. No vendor tool is needed.

All three take and return integer codes, so results compare bit for bit with
`fluorogate.quantize.reference.run_graph`. hls4ml's `predict` runs the layers one after
another over unbounded streams (arithmetic only); the two testbenches link the network built as a
dataflow of threads over FIFOs bounded to the project's depths (`hls.threaded`), so they also prove
those depths deadlock-free (`FifoDeadlock` otherwise).

Compiling the network (`firmware/<project>.cpp`, ~40 s at -O1 on a shared 2-core machine) dominates;
`compile_network_object` does it once, and both testbenches link against that object.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from fluorogate.errors import MissingToolError, UserError, VerificationError
from fluorogate.hls.hls4ml.threaded import DEADLOCK_EXIT, HEADER_DIR, write_dataflow_csim
from fluorogate.hls.hls4ml.wrapper import wrapper_params
from fluorogate.quantize.ir import IntegerGraph

# C-sim loads weights from firmware/weights/*.txt at run time (hls4ml: WEIGHTS_DIR, default "weights").
# csim_dataflow/ first: its bounded, blocking hls_stream.h replaces hls4ml's unbounded one (hls.threaded).
CXXFLAGS = [
    "-O1",
    "-std=c++14",
    "-pthread",
    f"-I{HEADER_DIR}",
    "-Ifirmware",
    "-Ifirmware/ap_types",
    "-I.",
    '-DWEIGHTS_DIR="firmware/weights"',
]


def _out_exp(graph: IntegerGraph) -> int:
    return graph.ranges[graph.output].exp


def _as_nchw(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim == 3:
        codes = codes[:, None]
    if codes.ndim != 4:
        raise UserError(f"codes must be (N, H, W) or (N, C, H, W), got shape {codes.shape}")
    return codes.astype(np.int64)


def _to_codes(values: np.ndarray, exp: int, what: str, tol: float = 0.0) -> np.ndarray:
    """Real outputs -> integer codes on the 2**exp grid; off-grid by more than `tol` LSB is an error."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0**-exp
    codes = np.rint(scaled)
    if np.abs(codes - scaled).max(initial=0) > tol:
        raise UserError(
            f"{what}: output values are not on the 2**{exp} grid; the project's output type is not the IR's"
        )
    return codes.astype(np.int64)


def predict_codes(model, graph: IntegerGraph, codes: np.ndarray) -> np.ndarray:
    """hls4ml `predict` (after `model.compile()`) on input codes (N, [C,] H, W) -> (N, C', H', W') int64."""
    x = _as_nchw(codes)
    n, _, h, w = x.shape
    feats = (x * 2.0**graph.input.quant.exp).astype(np.float32).transpose(0, 2, 3, 1)
    y = np.asarray(model.predict(np.ascontiguousarray(feats)), dtype=np.float64)
    oh, ow = graph.sizes(h, w)[graph.output]
    y = y.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
    return _to_codes(y, _out_exp(graph), "hls4ml predict")


def _gxx(args: list[str], cwd: Path) -> None:
    import shutil

    if shutil.which("g++") is None:
        raise MissingToolError("g++", "compile the C simulation")
    done = subprocess.run(["g++", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"g++ {' '.join(args[-3:])} failed in {cwd}: {done.stderr.strip()[-2000:]}")


class FifoDeadlock(VerificationError):
    """The dataflow C-sim stopped: every layer thread blocked on a full or empty stream."""


def compile_network_object(project: str | Path, name: str) -> Path:
    """The network as a dataflow of threads over bounded FIFOs (`hls.threaded`) -> `<name>_csim.o`
    in the project (once; both testbenches link it)."""
    project = Path(project)
    src = write_dataflow_csim(project, name)
    obj = project / f"{name}_csim.o"
    _gxx([*CXXFLAGS, "-c", str(src.relative_to(project)), "-o", obj.name], project)
    return obj


def _link_run(
    project: Path,
    name: str,
    sources: list[str],
    exe: str,
    args: list[str],
    depths: dict[str, int] | None = None,
    watchdog_s: int = 20,
) -> None:
    obj = project / f"{name}_csim.o"
    if not obj.exists():
        compile_network_object(project, name)
    exe_path = project / exe
    inputs = [obj, *(project / src for src in sources)]
    if not exe_path.exists() or exe_path.stat().st_mtime < max(p.stat().st_mtime for p in inputs):
        _gxx([*CXXFLAGS, *sources, obj.name, "-o", exe], project)
    env = {
        **os.environ,
        "FG_WATCHDOG_S": str(watchdog_s),
        "FG_FIFO_DEPTHS": ",".join(f"{k}={v}" for k, v in (depths or {}).items()),
    }
    done = subprocess.run([f"./{exe}", *args], cwd=project, capture_output=True, text=True, env=env)
    if done.returncode == DEADLOCK_EXIT and "DEADLOCK" in done.stderr:
        raise FifoDeadlock(f"{exe} in {project}: " + " ".join(done.stderr.split()))
    if done.returncode != 0:
        raise UserError(f"{exe} failed in {project}: {done.stdout[-1000:]} {done.stderr[-1000:]}")


def run_hls4ml_testbench(
    project: str | Path,
    name: str,
    graph: IntegerGraph,
    codes: np.ndarray,
    expected: np.ndarray | None = None,
    depths: dict[str, int] | None = None,
    watchdog_s: int = 20,
) -> np.ndarray:
    """hls4ml's own `<name>_test.cpp` on `codes`: writes tb_data, builds with g++, returns its outputs.

    `depths` overrides stream depths for this run (name -> depth); a deadlock raises `FifoDeadlock`
    after `watchdog_s` seconds without progress.

    `expected` (output codes, e.g. from the reference) goes into tb_output_predictions.dat, which the
    testbench prints beside its own results; when None, zeros.
    """
    project = Path(project)
    x = _as_nchw(codes)
    n, _, h, w = x.shape
    tb = project / "tb_data"
    tb.mkdir(exist_ok=True)
    feats = (x * 2.0**graph.input.quant.exp).transpose(0, 2, 3, 1).reshape(n, -1)
    np.savetxt(tb / "tb_input_features.dat", feats, fmt="%.17g")
    oh, ow = graph.sizes(h, w)[graph.output]
    exp = _out_exp(graph)
    if expected is None:
        pred = np.zeros((n, oh * ow * int(wrapper_params(graph, w, h)["out_c"])))
    else:
        pred = (np.asarray(expected) * 2.0**exp).transpose(0, 2, 3, 1).reshape(n, -1)
    np.savetxt(tb / "tb_output_predictions.dat", pred, fmt="%.17g")
    _full_precision_results(project / f"{name}_test.cpp")
    _link_run(project, name, [f"{name}_test.cpp"], f"{name}_tb", [], depths, watchdog_s)
    got = np.loadtxt(tb / "csim_results.log", ndmin=2)
    return _to_codes(got.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2), exp, f"{name}_test.cpp", tol=0.01)


def _full_precision_results(test_cpp: Path) -> None:
    """hls4ml's testbench writes its results with the stream's default 6 significant digits, which is
    coarser than the grid of a wide output (a conv's accumulator: 12.34567 on a 2**-12 grid): ap_fixed's
    `operator<<` honours the stream's precision: 64 significant digits are far finer than any output grid
    (the codes are read back within 1/100 LSB)."""
    text = test_cpp.read_text()
    opened = "std::ofstream fout(RESULTS_LOG);"
    if opened in text and f"{opened} fout.precision(64);" not in text:
        test_cpp.write_text(text.replace(opened, f"{opened} fout.precision(64);"))


def run_axis_testbench(
    project: str | Path, name: str, graph: IntegerGraph, frames: list[np.ndarray], lanes: int = 1
) -> list[np.ndarray]:
    """The video wrapper on raw frames (ADU, or codes when the IR has no camera conversion); (C, H, W)
    stacks for a C-channel input.

    Frames go through `fluorogate.sim.stream` (tuser/tlast as a camera sends them); the output beats
    come back through `beats_to_frames`, which checks tuser/tlast, then are unpacked per channel.
    Returns one (C', H', W') int64 array per frame.
    """
    from fluorogate.sim.stream import (
        BeatStream,
        StreamConfig,
        beats_to_frames,
        frames_to_beats,
        pack_channels,
        pack_tdata,
        unpack_tdata,
    )

    project = Path(project)
    if lanes != 1:
        raise UserError("the hls4ml video wrapper takes one pixel per beat (lanes=1)")
    h, w = frames[0].shape[-2:]
    p = wrapper_params(graph, w, h)
    if (p["in_h"], p["in_w"]) != (h, w):
        raise UserError(f"frames are {h}x{w}; the project was built for {p['in_h']}x{p['in_w']}")
    if p["in_c"] > 1:  # (C, H, W) stacks: the channels of a pixel in one word, as on s_axis
        frames = [pack_channels(f, p["data_bits"]) for f in frames]
    beats = frames_to_beats(frames, StreamConfig(lanes=1))
    keep = beats.valid
    words = np.asarray(pack_tdata(beats, p["data_bits"] * p["in_c"], bool(p["data_signed"])), dtype=np.int64)
    rows = np.stack([words[keep], beats.user[keep], beats.last[keep]], axis=1).astype(np.int64)
    np.savetxt(project / "tb_data" / "axis_in.txt", rows, fmt="%d")
    _link_run(
        project, name, [f"{name}_axis_tb.cpp", f"{name}_axis.cpp"], f"{name}_axis_tb", [str(len(frames))]
    )
    out = np.loadtxt(project / "tb_data" / "axis_out.txt", dtype=np.int64, ndmin=2)
    stream = BeatStream(
        data=out[:, :1],
        valid=np.ones(len(out), bool),
        user=out[:, 1].astype(bool),
        last=out[:, 2].astype(bool),
    )
    oh, ow, oc, ob = p["out_h"], p["out_w"], p["out_c"], p["out_bits"]
    signed = p["out_signed"]
    result = []
    for words in beats_to_frames(stream, ow, oh, 1):
        px = unpack_tdata(words.ravel().tolist(), oc, ob, signed)  # (H'*W', C')
        result.append(px.reshape(oh, ow, oc).transpose(2, 0, 1))
    return result


def check_project(ctx, frames: int = 2, seed: int = 0) -> int:
    """hls4ml's g++ testbench on `frames` random input frames vs `run_graph`: mismatching output values."""
    from fluorogate.quantize.reference import run_graph

    g, q = ctx.graph, ctx.graph.input.quant
    codes = np.random.default_rng(seed).integers(
        q.min_int, q.max_int + 1, size=(frames, g.input.channels, ctx.cfg.height, ctx.cfg.width)
    )
    ref = np.stack([run_graph(g, c) for c in codes])
    got = run_hls4ml_testbench(ctx.out_dir, ctx.cfg.project_name, g, codes, ref)
    return int(np.count_nonzero(got != ref))
