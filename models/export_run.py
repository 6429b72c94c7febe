"""Export a trained run folder: QONNX + float ONNX + the IR, each file written atomically.

The QONNX file carries the run's camera conversion and rounding in its metadata (`fluorogate.camera`,
`fluorogate.rounding`), which is where the IR builder (`fluorogate.quantize.from_qonnx`) reads them.
"""

from __future__ import annotations

from pathlib import Path

from fluorogate.errors import UserError
from fluorogate.models.run_folder import FLOAT_ONNX, IR, QONNX, load_config
from fluorogate.outputs import atomic_path, check_writable


def export_run(run: str | Path, size: int = 16, force: bool = False) -> dict[str, Path]:
    """Write `model.qonnx.onnx`, `model.onnx` and `ir.json` into `run`; return their paths."""
    from fluorogate.models.train import load_models
    from fluorogate.quantize.export import export_float_onnx, export_qonnx
    from fluorogate.quantize.from_qonnx import build_integer_graph

    run = Path(run)
    cfg = load_config(run)
    flt, qat = load_models(run, cfg)
    if qat is None:
        raise UserError(
            f"{run}: trained without a QAT phase (qat_steps=0); there is no quantized model to export"
        )
    if size < 4 or size % 4:
        raise UserError(f"--size {size}: export frame size must be a positive multiple of 4")
    meta = {"camera": cfg.camera.model_dump_json(), "task": cfg.model.task, "run": run.name}
    out = {name: check_writable(run / name, force) for name in (QONNX, FLOAT_ONNX, IR)}
    with atomic_path(out[QONNX], force) as tmp:
        export_qonnx(qat, tmp, size=size, metadata=meta)
    if flt is not None:
        with atomic_path(out[FLOAT_ONNX], force) as tmp:
            export_float_onnx(flt, tmp, size=size, metadata=meta)
    graph = build_integer_graph(out[QONNX], name=run.name)
    with atomic_path(out[IR], force) as tmp:
        graph.save(tmp)
    from fluorogate.models.clipping import CLIPPING, record_clipping

    if record_clipping(run, cfg, graph):
        out[CLIPPING] = run / CLIPPING
    return out
