"""`fluorogate demo`: the whole chain on a built-in default, as a list of named steps (FINN-style).

Each step is a function `step(ctx) -> str` (see `fluorogate.demo_steps`) that reads the shared
`DemoContext`, writes into `ctx.out`, records what later steps need in `ctx.results`, and returns a
one-line summary. Adding a stage to the demo is one line in `DEMO_STEPS`; a user can run a subset with
`--steps` or call `run_steps(ctx, steps)` with their own list.

Caching: the output folder keeps `demo_state.json`, one entry per finished step with a fingerprint of
everything it depends on (the config, the project's source files, the steps before it). A second run reuses a
step whose fingerprint matches and whose files are all still there, so it is fast; `--force` re-runs
everything. A folder that holds other things than a demo's is never written into without `--force`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fluorogate import demo_steps
from fluorogate.errors import UserError
from fluorogate.fingerprint import code_fingerprint, fingerprint
from fluorogate.outputs import write_text_atomic
from fluorogate.steps import StepRecord, select
from fluorogate.steps import run_steps as run_steps_with

STATE_FILE = "demo_state.json"


class DemoConfig(BaseModel):
    """The built-in default the demo runs on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str = "scmos"
    specimen: str = "filaments"
    photons: float = 10.0
    background: float = 2.0
    frames: int = 20
    size: int = 256
    seed: int = 0
    rounding: str = "half_even"
    train: bool = False  # retrain the default with its recorded recipe instead of loading the shipped weights
    hls4ml_frames: int = Field(default=2, ge=1)  # whole movie frames through the hls4ml C-sim (~10 s each)
    rtl_gaps: float = 0.1  # every movie frame goes through the RTL with these valid gaps and backpressure
    rtl_backpressure: float = 0.1
    bitstream_width: int = 2048  # the ORCA-Flash4.0 V3's frame: line buffers sized for the real camera
    bitstream_height: int = 2048
    freq_mhz: float = 100.0


@dataclass
class DemoContext:
    out: Path
    force: bool = False
    config: DemoConfig = field(default_factory=DemoConfig)
    results: dict[str, Any] = field(default_factory=dict)  # artefacts by name, for later steps


Step = Callable[[DemoContext], str]
DEMO_STEPS: list[tuple[str, Step]] = [
    ("simulate", demo_steps.step_simulate),
    ("model", demo_steps.step_model),
    ("export", demo_steps.step_export),
    ("reference", demo_steps.step_reference),
    ("hls4ml", demo_steps.step_hls4ml),
    ("rtl", demo_steps.step_rtl),
    ("bitstream", demo_steps.step_bitstream),
    ("bench", demo_steps.step_bench),
]


def _fingerprint(previous: str, name: str, config: DemoConfig) -> str:
    return fingerprint(previous, name, code_fingerprint(), config.model_dump_json())


def _encode(results: dict[str, Any]) -> dict[str, Any]:
    return {k: {"path": str(v)} if isinstance(v, Path) else v for k, v in results.items()}


def _decode(results: dict[str, Any]) -> dict[str, Any]:
    return {
        k: Path(v["path"]) if isinstance(v, dict) and set(v) == {"path"} else v for k, v in results.items()
    }


def _cached(entry: dict | None, fingerprint: str) -> dict | None:
    """The step's recorded results if its fingerprint matches and every file it made still exists."""
    if not entry or entry.get("fingerprint") != fingerprint:
        return None
    results = _decode(entry["results"])
    if all(v.exists() for v in results.values() if isinstance(v, Path)):
        return results
    return None


def run_steps(
    ctx: DemoContext, selected: Sequence[str] | None = None, steps: Sequence[tuple[str, Step]] = DEMO_STEPS
) -> list[tuple[str, str, float]]:
    """Run the `selected` steps (default: all) in order, one progress line each; (name, summary, seconds).

    Fingerprints chain over the whole list, so a step left out still hands its cached results (from an
    earlier run with the same config and code) to the steps after it.
    """
    state_path = ctx.out / STATE_FILE
    state = {} if ctx.force or not state_path.exists() else json.loads(state_path.read_text())
    chosen = select(steps, selected, "--steps")
    fingerprints, previous = {}, ""
    for name, _ in steps:
        previous = fingerprints[name] = _fingerprint(previous, name, ctx.config)
        if name not in dict(chosen):
            ctx.results.update(_cached(state.get(name), previous) or {})
    snapshot: dict[str, Any] = {}

    def cached(name: str) -> str | None:
        hit = _cached(state.get(name), fingerprints[name])
        if hit is None:
            return None
        ctx.results.update(hit)
        return state[name]["summary"]

    def before(name: str) -> None:
        snapshot.clear()
        snapshot.update(ctx.results)
        print(f"[{[n for n, _ in chosen].index(name) + 1}/{len(chosen)}] {name} ...", flush=True)

    def after(rec: StepRecord) -> None:
        if rec.cached:
            print(f"[{rec.index}/{rec.total}] {rec.name}: cached: {rec.result}", flush=True)
            return
        print(f"[{rec.index}/{rec.total}] {rec.name} done in {rec.seconds:.1f} s: {rec.result}", flush=True)
        added = {k: v for k, v in ctx.results.items() if k not in snapshot or snapshot[k] != v}
        state[rec.name] = {
            "fingerprint": fingerprints[rec.name],
            "summary": rec.result,
            "seconds": round(rec.seconds, 1),
            "results": _encode(added),
        }
        write_text_atomic(state_path, json.dumps(state, indent=1), force=True)

    records = run_steps_with(chosen, ctx, desc="demo", cached=cached, before=before, after=after)
    return [(r.name, r.result, r.seconds) for r in records]


def select_steps(names: str | None) -> list[str] | None:
    """The step names in a comma-separated list, checked against the demo's steps; None for all."""
    if not names:
        return None
    return [n for n, _ in select(DEMO_STEPS, [n.strip() for n in names.split(",") if n.strip()], "--steps")]


def joints(results: dict[str, Any]) -> list[str]:
    """'A vs B: n of N pixels differ' for every bit-exactness check the steps recorded."""
    lines = []
    for key, value in results.items():
        if key.startswith("mismatches_"):
            joint = key.removeprefix("mismatches_")
            total = results.get(f"pixels_{joint}", "?")
            lines.append(
                f"{joint.replace('_vs_', ' vs ').replace('_', ' ')}: {value} of {total} pixels differ"
            )
    return lines


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole chain on the built-in default",
        description="Run the pipeline's steps on the built-in default and write everything into one folder: "
        + ", ".join(n for n, _ in DEMO_STEPS)
        + ". A second run into the same folder reuses finished steps.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--force", action="store_true", help="re-run every step and overwrite what is in the folder"
    )
    p.add_argument("--steps", default=None, help="comma-separated subset of the steps (default: all)")
    p.add_argument(
        "--train", action="store_true", help="retrain the default model (recorded recipe, ~10 min)"
    )
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    selected = select_steps(args.steps)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; the demo writes into a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE_FILE).exists() and not args.force:
        raise UserError(f"--out {out} holds files that are not a demo's; pass --force to write into it")
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=out, force=args.force, config=DemoConfig(train=args.train))
    done = run_steps(ctx, selected)
    total = sum(s for _, _, s in done)
    print(f"\ndemo finished in {total:.1f} s; outputs in {out}/")
    for name, summary, _ in done:
        print(f"  {name}: {summary}")
    for line in joints(ctx.results):
        print(f"  bit-exact check, {line}")
    return 0
