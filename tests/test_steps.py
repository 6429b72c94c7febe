"""The one step runner (`fluorogate.steps`): order, selection, replacement, caching and the hooks."""

import pytest

from fluorogate.errors import UserError
from fluorogate.steps import replace, run_steps, select


def _steps(log):
    return [(name, lambda ctx, name=name: log.append(name) or f"{name} ran") for name in ("a", "b", "c")]


def test_runs_in_order_with_one_record_each_and_hooks_around_them():
    log, seen = [], []
    records = run_steps(
        _steps(log),
        {},
        desc="t",
        cached=lambda n: "from before" if n == "b" else None,
        before=lambda n: seen.append(f"before {n}"),
        after=lambda r: seen.append(f"after {r.name}"),
    )
    assert log == ["a", "c"]  # b's earlier result stands for it
    assert [(r.name, r.result, r.cached, r.index, r.total) for r in records] == [
        ("a", "a ran", False, 1, 3),
        ("b", "from before", True, 2, 3),
        ("c", "c ran", False, 3, 3),
    ]
    assert seen == ["before a", "after a", "after b", "before c", "after c"]
    assert records[1].seconds == 0.0 and all(r.seconds >= 0 for r in records)


def test_select_keeps_the_lists_order_and_names_the_choices():
    steps = _steps([])
    assert [n for n, _ in select(steps, ["c", "a"])] == ["a", "c"]
    assert select(steps, None) == steps
    with pytest.raises(UserError, match="--steps: unknown x; choose from a, b, c"):
        select(steps, ["x"], "--steps")


def test_replace_swaps_one_step_and_refuses_an_unknown_one():
    log = []
    steps = replace(_steps(log), "b", lambda ctx: "mine")
    assert [r.result for r in run_steps(steps, None, desc="t")] == ["a ran", "mine", "c ran"]
    with pytest.raises(UserError, match="no step 'x' to replace"):
        replace(steps, "x", lambda ctx: None)


def test_a_failing_step_stops_the_run_with_its_own_exception():
    def boom(ctx):
        raise ZeroDivisionError("a real bug keeps its traceback")

    log = []
    with pytest.raises(ZeroDivisionError):
        run_steps(
            [("a", lambda ctx: log.append("a")), ("boom", boom), ("c", lambda ctx: log.append("c"))],
            None,
            desc="t",
        )
    assert log == ["a"]
