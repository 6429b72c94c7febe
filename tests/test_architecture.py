"""The layering of the stage folders, enforced: nothing imports upward, and no module imports itself in a
circle, whether at module level or inside a function (a lazy import is still a dependency).

Layers, lowest first (docs: ../shared/ARCHITECTURE.md):
  base      fluorogate/{errors,outputs,imageio,steps,fingerprint,build_cache}.py: what every stage may use
  sim       the simulated microscope and camera, the stream model
  quantize  QAT quantizers, QONNX import/export, the IR, the reference
  models    networks, training, evaluation, run folders
  hls, firmware   the back ends: peers, neither imports the other
  cosim     bench/cosim: the back ends' outputs driven with the user's frames
  bench     measurements over everything below
  cli       fluorogate/{cli,demo,...}.py and every stage's `cli.py`: commands over the stages
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = {
    "fluorogate": "fluorogate",
    "sim": "sim",
    "quantize": "quantize",
    "models": "models",
    "hls": "hls",
    "firmware": "firmware",
    "bench": "bench",
}
BASE = {
    "fluorogate",
    "fluorogate.errors",
    "fluorogate.outputs",
    "fluorogate.imageio",
    "fluorogate.steps",
    "fluorogate.fingerprint",
    "fluorogate.build_cache",
}
RANK = {
    "base": 0,
    "sim": 1,
    "quantize": 2,
    "models": 3,
    "hls": 4,
    "firmware": 4,
    "cosim": 5,
    "bench": 6,
    "cli": 7,
}


def _modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    out = {}
    for folder, path in PACKAGE_DIRS.items():
        root = ROOT / path
        for file in root.rglob("*.py"):
            rel = file.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join(["fluorogate"] + ([] if folder == "fluorogate" else [folder]) + parts)
            out[name] = file
    return out


def layer(module: str) -> str:
    parts = module.split(".")
    if module in BASE:
        return "base"
    if parts[-1] == "cli" or parts[1] not in PACKAGE_DIRS:  # a stage's commands, or fluorogate/{cli,demo}.py
        return "cli"
    if parts[1:3] == ["bench", "cosim"]:
        return "cosim"
    return parts[1]


def imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its file (resolved to the longest known name)."""
    graph: dict[str, set[str]] = {}
    for name, file in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fluorogate"):
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("fluorogate")]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    deps.add(t)
                    break
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


GRAPH = imports(_modules())


def test_every_module_has_a_layer():
    assert {layer(m) for m in GRAPH} <= set(RANK)
    assert layer("fluorogate.quantize.cli") == "cli" and layer("fluorogate.bench.cosim.player") == "cosim"
    assert layer("fluorogate.errors") == "base" and layer("fluorogate.demo") == "cli"


def test_no_upward_import_between_stage_folders():
    upward = sorted(
        f"{src} ({layer(src)}) imports {dst} ({layer(dst)})"
        for src, deps in GRAPH.items()
        for dst in deps
        if RANK[layer(dst)] > RANK[layer(src)]
        or (layer(src) != layer(dst) and RANK[layer(dst)] == RANK[layer(src)])
    )
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("bad", [{"a": {"b"}, "b": {"a"}}, {"a": {"b"}, "b": {"c"}, "c": {"a"}}])
def test_cycle_finder_finds_cycles(bad):
    assert _cycles(bad) and _cycles({"a": {"b"}, "b": set()}) == []
