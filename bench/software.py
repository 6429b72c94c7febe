"""Software throughput of a run's own model, side by side in one run: the integer reference (its fast
path, and its torch spec path) vs the float network in torch and in onnxruntime.

All contenders run the run folder's own files on the same frame: the reference its `ir.json`, onnxruntime
its float `model.onnx`, torch its float network rebuilt from `config.json` + `checkpoint.pt`. A run
that lacks one (an imported QONNX has neither a float ONNX nor a checkpoint) has that contender skipped
with the reason, never replaced by another network. They are timed interleaved round by round (best of
each), so a busy shared machine slows them alike, and the result carries the machine's load before and
after (`machine_state`).
"""

from __future__ import annotations

from pathlib import Path


def software_throughput(
    run: str | Path, size: int = 512, repeats: int = 5, seed: int = 0, threads: int | None = None, graph=None
) -> dict:
    """Milliseconds per `size` x `size` frame of run `run`'s model for each contender, and the ratios.

    torch (hence the spec path) and onnxruntime use the same thread count: `threads`, else torch's
    current setting (restored afterwards); the fast reference runs on one thread. `graph`: the run's IR
    if already loaded.
    """
    import torch

    from fluorogate.models.run_folder import RunFolder

    folder = RunFolder(Path(run))
    graph = graph if graph is not None else folder.graph
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads or saved_threads)
    try:
        return _measure(folder, graph, size, repeats, seed)
    finally:
        torch.set_num_threads(saved_threads)


def _float_runners(folder, x) -> tuple[dict, dict]:
    """The run's float network in onnxruntime and torch, as {name: callable}, and {name: why skipped}."""
    import onnxruntime as ort
    import torch

    from fluorogate.errors import UserError
    from fluorogate.models.run_folder import load_config
    from fluorogate.models.train import load_models

    runners, skipped = {}, {}
    if folder.float_onnx_path.is_file():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(folder.float_onnx_path), opts, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        runners["onnxruntime_float"] = lambda: session.run(None, feed)
    else:
        skipped["onnxruntime_float"] = (
            f"the run has no float ONNX ({folder.float_onnx_path.name}; an imported "
            "QONNX holds only the quantized network)"
        )
    try:
        flt = load_models(folder.path, load_config(folder.path))[0]
    except UserError as exc:
        flt, why = None, str(exc)
    else:
        why = "the run's checkpoint has no float network"
    if flt is None:
        skipped["torch_float"] = why
    else:
        xt = torch.from_numpy(x)

        def torch_float():
            with torch.no_grad():
                flt(xt)

        runners["torch_float"] = torch_float
    return runners, skipped


def _measure(folder, graph, size: int, repeats: int, seed: int) -> dict:
    import numpy as np

    from fluorogate.bench.machine import best_time, machine_state
    from fluorogate.quantize.reference import fast_program_for, plan_for, run_graph

    q = graph.input.quant
    # one frame per input channel (sim3: 3); Mpx/s counts input pixel positions, not camera frames
    codes = np.random.default_rng(seed).integers(q.min_int, q.max_int + 1, (graph.input.channels, size, size))
    x = (codes * 2.0**q.exp).astype(np.float32)[None]
    floats, skipped = _float_runners(folder, x)
    fast = fast_program_for(graph) is not None
    runners = {
        "reference": lambda: run_graph(graph, codes),
        "reference_spec": lambda: run_graph(graph, codes, engine="spec"),
        **floats,
    }
    if not fast:
        del runners["reference_spec"]  # the reference *is* the spec path for this graph
    start = machine_state()
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(repeats):  # interleaved: load spikes hit every contender
        for key, fn in runners.items():
            best[key] = min(best[key], best_time(fn, repeats=1, min_time_s=0.3))
    px = size * size
    ref = best["reference"]
    plan = plan_for(graph)
    return {
        "run": str(folder.path),
        "graph": graph.name,
        "frame": [size, size],
        "repeats": repeats,
        "mpx_per_s": {k: round(px / t / 1e6, 2) for k, t in best.items()},
        # 4 significant digits: a 32x32 frame takes hundredths of a millisecond, and the speedups
        # below must be reproducible from these numbers
        "ms_per_frame": {k: float(f"{t * 1e3:.4g}") for k, t in best.items()},
        # > 1: the reference is that many times faster than the contender
        "reference_speedup": {k: round(t / ref, 2) for k, t in best.items() if k != "reference"},
        "skipped": skipped,
        "reference_path": "fast" if fast else "spec",
        "spec_carrier": str(plan.carrier).removeprefix("torch."),
        "spec_widest_integer": plan.widest,
        "machine": start,
        "machine_end": machine_state(),
    }
