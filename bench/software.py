"""Software throughput, side by side in one run: the integer reference vs float torch vs float onnxruntime.

The three run the same network on the same frame, interleaved round by round (best of each), so that
a busy shared machine slows them alike; the report carries the machine's load (`machine_state`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def _default_models(cfg, seed: int, folder: Path):
    """A float net and the IntegerGraph of its calibrated QAT twin (the weights do not change speed)."""
    import torch

    from fluorogate.models import build_model
    from fluorogate.quantize.export import export_float_onnx, export_qonnx
    from fluorogate.quantize.from_qonnx import build_integer_graph

    torch.manual_seed(seed)
    flt = build_model(cfg, quant=False).eval()
    qat = build_model(cfg, quant=True)
    qat.load_state_dict(flt.state_dict(), strict=False)
    qat.train()
    with torch.no_grad():
        for _ in range(3):
            qat(torch.rand(2, cfg.spec.in_channels, 32, 32))
    graph = build_integer_graph(export_qonnx(qat.eval(), folder / "model.qonnx.onnx"))
    return flt, graph, export_float_onnx(flt, folder / "model.onnx")


def software_throughput(cfg=None, size: int = 512, repeats: int = 5, seed: int = 0, threads: int | None = None,
                        graph=None) -> dict:
    """Mpx/s of the reference, float torch and onnxruntime on one `size`x`size` frame of model `cfg`.

    `cfg` defaults to the default `ModelConfig()`. torch (hence the reference) and onnxruntime use the
    same thread count: `threads`, else torch's current setting (restored afterwards). With `graph` (an
    imported model's IR: no float twin to race against) only the integer reference on that graph runs.
    """
    import torch

    from fluorogate.models import ModelConfig

    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads or saved_threads)
    try:
        if graph is not None:
            return _measure_reference(graph, size, repeats, seed)
        return _measure(cfg or ModelConfig(), size, repeats, seed)
    finally:
        torch.set_num_threads(saved_threads)


def _codes(graph, channels: int, size: int, seed: int):
    """Random input codes, one frame per input channel (sim3: 3); Mpx/s counts pixel positions."""
    import numpy as np

    q = graph.input.quant
    return np.random.default_rng(seed).integers(q.min_int, q.max_int + 1, (channels, size, size))


def _race(graph, runners: dict, size: int, repeats: int) -> tuple[dict, dict[str, float]]:
    """(report, best seconds) of each runner, interleaved round by round (load spikes hit every contender alike)."""
    from fluorogate.bench.machine import best_time, machine_state
    from fluorogate.quantize.reference import plan_for

    best = dict.fromkeys(runners, float("inf"))
    for _ in range(repeats):
        for key, fn in runners.items():
            best[key] = min(best[key], best_time(fn, repeats=1, min_time_s=0.3))
    px = size * size
    plan = plan_for(graph)
    return {
        "frame": [size, size],
        "mpx_per_s": {k: round(px / t / 1e6, 2) for k, t in best.items()},
        "ms_per_frame": {k: round(t * 1e3, 2) for k, t in best.items()},
        "reference_carrier": str(plan.carrier).removeprefix("torch."),
        "reference_widest_integer": plan.widest,
        "machine": machine_state(),
    }, best


def _measure_reference(graph, size: int, repeats: int, seed: int) -> dict:
    from fluorogate.quantize.reference import run_graph

    codes = _codes(graph, graph.input.channels, size, seed)
    out, _ = _race(graph, {"reference": lambda: run_graph(graph, codes)}, size, repeats)
    return {"model": graph.name, **out, "note": "an imported model has no float twin: the reference alone"}


def _measure(cfg, size: int, repeats: int, seed: int) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    from fluorogate.quantize.reference import run_graph

    with tempfile.TemporaryDirectory() as tmp:
        flt, graph, onnx_path = _default_models(cfg, seed, Path(tmp))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    codes = _codes(graph, cfg.spec.in_channels, size, seed)
    x = (codes.astype(np.float32) * 2.0**graph.input.quant.exp)[None]
    xt = torch.from_numpy(x)
    name = session.get_inputs()[0].name

    def torch_float():
        with torch.no_grad():
            flt(xt)

    runners = {"reference": lambda: run_graph(graph, codes), "torch_float": torch_float,
               "onnxruntime_float": lambda: session.run(None, {name: x})}
    out, best = _race(graph, runners, size, repeats)
    return {"model": cfg.model_dump(), **out, "reference_vs_torch": round(best["torch_float"] / best["reference"], 2)}
