"""Named steps over one context, FINN-style: the one runner every stage's list of steps goes through.

A stage's work is an ordered list of `(name, step)` pairs; `step(ctx)` reads and writes the stage's own
context object and returns what the stage records for it (a summary line, a report section, nothing).
A user changes a stage by editing the list: `select` keeps some steps by name, `replace` swaps one.
What differs between stages goes into three hooks instead of five runners: `cached(name)` hands back a
step's earlier result so it is not run again (the demo's fingerprints), `before(name)` runs just before a
step that is not cached, `after(record)` sees each result as it comes (FINN saves and checks the model;
the demo prints and records; the bench keeps a section's error). Every step is timed and logged; `progress`
shows a bar for commands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fluorogate.errors import UserError

C = TypeVar("C")
R = TypeVar("R")
Steps = Sequence[tuple[str, Callable[[C], R]]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepRecord(Generic[R]):
    """One step as it ran: its name, its result, its wall time (0 when its cached result was used)."""

    name: str
    result: R
    seconds: float
    cached: bool = False
    index: int = 0  # 1-based position among the steps run
    total: int = 0


def select(
    steps: Steps, names: Sequence[str] | None, what: str = "steps"
) -> list[tuple[str, Callable[[C], R]]]:
    """The steps called `names` (None: all), in the list's order; one line naming the choices if unknown."""
    if names is None:
        return list(steps)
    known = [n for n, _ in steps]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"{what}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    return [(n, s) for n, s in steps if n in names]


def replace(steps: Steps, name: str, step: Callable[[C], R]) -> list[tuple[str, Callable[[C], R]]]:
    """`steps` with the one called `name` replaced by `step` (a user's own version of it)."""
    if name not in [n for n, _ in steps]:
        raise UserError(f"no step {name!r} to replace; steps: {', '.join(n for n, _ in steps)}")
    return [(n, step if n == name else s) for n, s in steps]


def run_steps(
    steps: Steps,
    ctx: C,
    *,
    desc: str,
    progress: bool = False,
    cached: Callable[[str], Any] | None = None,
    before: Callable[[str], None] | None = None,
    after: Callable[[StepRecord], None] | None = None,
) -> list[StepRecord]:
    """Run `steps` on `ctx` in order and return their records.

    `cached(name)`: an earlier result for that step, or None to run it. `before(name)`: called just before
    a step runs. `after(record)`: called once per step, cached or run, before the next one starts (raising
    there stops the run). An exception from a
    step propagates with its traceback: what it means is the caller's to say.
    """
    from tqdm import tqdm

    records: list[StepRecord] = []
    bar = tqdm(total=len(steps), desc=desc, unit="step", disable=not progress)
    try:
        for i, (name, step) in enumerate(steps, 1):
            bar.set_postfix_str(name)
            earlier = cached(name) if cached else None
            if earlier is not None:
                record = StepRecord(name, earlier, 0.0, cached=True, index=i, total=len(steps))
                log.info("%s: step %s: cached", desc, name)
            else:
                log.info("%s: step %s", desc, name)
                if before:
                    before(name)
                t0 = time.perf_counter()
                result = step(ctx)
                record = StepRecord(name, result, time.perf_counter() - t0, index=i, total=len(steps))
                log.info("%s: step %s done in %.1f s", desc, name, record.seconds)
            records.append(record)
            if after:
                after(record)
            bar.update()
    finally:
        bar.close()
    return records
