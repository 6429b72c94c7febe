"""Report parsing on real tool output captured once from the smoke build (tests/data, see its README).

The same smoke core was built at 100 MHz (met: 122.8 MHz) and at 200 MHz (not met), on ULX3S 85F.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fluorogate.errors import UserError
from fluorogate.firmware.boards import ECP5
from fluorogate.firmware.reports import (
    BuildReport,
    combine_resources,
    parse_nextpnr_report,
    parse_yosys_stat,
    report_markdown,
)

DATA = Path(__file__).parent / "data"


def _report(mhz: int) -> BuildReport:
    pnr = parse_nextpnr_report(DATA / f"nextpnr_report_smoke_{mhz}mhz.json")
    cells = parse_yosys_stat(DATA / "yosys_stat_smoke.json")
    return BuildReport(
        board="ulx3s-85f",
        part="LFE5U-85F-6BG381C",
        core="smoke_box3x3",
        top="fg_board_top",
        requested_mhz=mhz,
        pll_mhz=mhz,
        resources=combine_resources(pnr, cells["design"], ECP5.headline, ECP5.from_yosys),
        core_cells=cells["smoke_box3x3"],
        headline=list(ECP5.headline),
        clocks=pnr.clocks,
        critical_paths=pnr.critical_paths,
        step_seconds={"synth": 1.0},
    )


def test_nextpnr_utilisation_and_fmax():
    pnr = parse_nextpnr_report(DATA / "nextpnr_report_smoke_100mhz.json")
    assert pnr.resources["DP16KD"].used == 2 and pnr.resources["DP16KD"].available == 208
    assert pnr.resources["TRELLIS_FF"].used == 413 and pnr.resources["MULT18X18D"].available == 156
    assert pnr.resources["EHXPLLL"].used == 1  # the board top's PLL
    (clk,) = pnr.clocks
    assert clk.name == "clk" and clk.constraint_mhz == 100
    assert clk.achieved_mhz == pytest.approx(122.77, abs=0.01) and clk.met


def test_critical_path_matches_fmax_and_names_the_design_source():
    pnr = parse_nextpnr_report(DATA / "nextpnr_report_smoke_100mhz.json")
    (path,) = pnr.critical_paths.values()
    # Fmax is 1 / (worst register-to-register delay): the parsed path must account for it.
    assert 1000.0 / path.total_ns == pytest.approx(pnr.clocks[0].achieved_mhz, rel=0.01)
    assert 0 < path.logic_ns < path.total_ns and path.logic_levels > 0
    assert any("smoke_box3x3.v" in s for s in path.user_sources())
    assert not any(s.startswith("/share/") for s in path.user_sources())


def test_yosys_stat_core_alone_and_whole_design():
    cells = parse_yosys_stat(DATA / "yosys_stat_smoke.json")
    core, design = cells["smoke_box3x3"], cells["design"]
    assert core == {"CCU2C": 33, "DP16KD": 2, "LUT4": 179, "PFUMX": 34, "TRELLIS_FF": 241}
    # The whole design adds the board top (PLL, self-test source and sink) around the core.
    assert design["LUT4"] > core["LUT4"] and design["EHXPLLL"] == 1
    assert not any(k.startswith("$") for k in design)  # yosys' bookkeeping cells are not resources


def test_headline_resources_and_timing_met():
    rep = _report(100)
    assert list(rep.resources)[:5] == ["LUT4", "TRELLIS_FF", "CCU2C", "DP16KD", "MULT18X18D"]
    assert rep.resources["LUT4"].used == 245 and rep.resources["CCU2C"].used == 43  # from yosys
    assert rep.resources["TRELLIS_FF"].used == 413  # placed, from nextpnr
    # nextpnr's TRELLIS_COMB holds every LUT4 and both halves of every CCU2C (plus route-throughs).
    assert rep.resources["TRELLIS_COMB"].used >= rep.resources["LUT4"].used + 2 * rep.resources["CCU2C"].used
    assert rep.timing_met
    assert "core LUT4 179, FF 241, CCU2C 33, DP16KD 2, MULT18X18D 0" in rep.summary()


def test_timing_failure_is_reported_not_raised():
    rep = _report(200)
    assert not rep.timing_met
    assert "FAILED at 200" in rep.summary()
    md = report_markdown(rep)
    assert "**NOT MET**" in md and "| clk | 122.77 | 200 | NO |" in md
    assert "Critical path, clock clk" in md and "smoke_box3x3.v" in md
    data = json.loads(rep.model_dump_json())
    assert data["clocks"][0]["constraint_mhz"] == 200


def test_markdown_resource_table_has_core_and_whole_design():
    md = report_markdown(_report(100))
    assert "| DP16KD | 2 | 2 | 208 | 1.0 |" in md
    assert "| LUT4 | 179 | 245 |  |  |" in md
    assert "| FF | 241 | 413 | 83640 | 0.5 |" in md


def test_not_a_report_is_a_user_error(tmp_path):
    bad = tmp_path / "report.json"
    bad.write_text('{"fmax": {}}')
    with pytest.raises(UserError, match="not a nextpnr --report JSON"):
        parse_nextpnr_report(bad)
    with pytest.raises(UserError, match="no nextpnr report"):
        parse_nextpnr_report(tmp_path / "missing.json")
    with pytest.raises(UserError, match="not yosys `stat -json`"):
        parse_yosys_stat(bad)


def test_ice40_report_clock_name_and_bels():
    pnr = parse_nextpnr_report(DATA / "nextpnr_report_smoke_icebreaker_30mhz.json")
    (clk,) = pnr.clocks
    assert clk.net == "clk_$glb_clk" and clk.name == "clk" and clk.met  # 32.5 MHz against the PLL's 30.02
    assert clk.achieved_mhz == pytest.approx(32.50, abs=0.01)
    assert pnr.resources["ICESTORM_RAM"].used == 8 and pnr.resources["ICESTORM_PLL"].used == 1
    (path,) = pnr.critical_paths.values()
    assert 1000.0 / path.total_ns == pytest.approx(clk.achieved_mhz, rel=0.01)
