"""`fluorogate demo`: the whole chain on a built-in default, as a list of named steps (FINN-style).

Each step is a function `step(ctx) -> str` that reads the shared `DemoContext`, writes into
`ctx.out`, records what later steps need in `ctx.results`, and returns a one-line summary. Adding a
stage to the demo is one line in `DEMO_STEPS`; a user can run a subset with `--steps` or call
`run_steps(ctx, steps)` with their own list.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from fluorogate.errors import UserError


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


@dataclass
class DemoContext:
    out: Path
    force: bool = False
    config: DemoConfig = field(default_factory=DemoConfig)
    results: dict[str, Any] = field(default_factory=dict)  # artefacts by name, for later steps


def step_simulate(ctx: DemoContext) -> str:
    """A short simulated camera movie: OME-TIFF, noise-free truth and a PNG preview."""
    from fluorogate.sim.save import write_movie
    from fluorogate.sim.tasks import simulate_movie

    c = ctx.config
    movie = simulate_movie(c.frames, c.size, c.photons, c.background, c.preset, c.specimen, c.seed)
    title = f"{c.preset}, {c.specimen}, {c.photons:g} photons/px over {c.background:g}"
    paths = write_movie(movie, ctx.out / "movie.ome.tif", title, force=ctx.force, truth=True)
    ctx.results.update(movie=paths[0], movie_preview=paths[1], movie_truth=paths[2])
    return f"{c.frames} frames {c.size}x{c.size}: {paths[0]} (preview {paths[1].name}, truth {paths[2].name})"


Step = Callable[[DemoContext], str]
DEMO_STEPS: list[tuple[str, Step]] = [
    ("simulate", step_simulate),
]


def run_steps(
    ctx: DemoContext, steps: Sequence[tuple[str, Step]] = DEMO_STEPS
) -> list[tuple[str, str, float]]:
    """Run `steps` in order, one progress line each; return (name, summary, seconds) per step."""
    done = []
    for i, (name, step) in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {name} ...", flush=True)
        t0 = time.perf_counter()
        summary = step(ctx)
        seconds = time.perf_counter() - t0
        print(f"[{i}/{len(steps)}] {name} done in {seconds:.1f} s: {summary}", flush=True)
        done.append((name, summary, seconds))
    return done


def select_steps(names: str | None) -> list[tuple[str, Step]]:
    """The steps named in a comma-separated list (in pipeline order), or all of them."""
    if not names:
        return list(DEMO_STEPS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = dict(DEMO_STEPS)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise UserError(f"--steps: unknown step(s) {', '.join(unknown)}; the demo has {', '.join(known)}")
    return [(n, s) for n, s in DEMO_STEPS if n in wanted]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole chain on the built-in default",
        description="Run the pipeline's steps on the built-in default and write "
        "everything into one folder: " + ", ".join(n for n, _ in DEMO_STEPS) + ".",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="overwrite outputs already in the folder")
    p.add_argument("--steps", default=None, help="comma-separated subset of the steps (default: all)")
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    steps = select_steps(args.steps)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; the demo writes into a folder")
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=out, force=args.force)
    done = run_steps(ctx, steps)
    total = sum(s for _, _, s in done)
    print(f"demo finished in {total:.1f} s; outputs in {out}/:")
    for name, summary, _ in done:
        print(f"  {name}: {summary}")
    return 0
