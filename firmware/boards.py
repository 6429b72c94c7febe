"""Board presets for the open bitstream flow: device, package, pin constraints, on-board clock.

A preset names what nextpnr needs (`--85k --package CABGA381 --speed 6 --lpf ...`) and what the board
top needs (the oscillator's frequency, the LED/switch/button port names in its constraint file).
Constraint files live in `firmware/boards/` and ship as package data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fluorogate.errors import UserError

BOARDS_DIR = Path(__file__).parent / "boards"


class Board(BaseModel):
    """One FPGA board: its part and the constraint file the self-test board top is written against."""

    model_config = ConfigDict(frozen=True)

    name: str
    family: Literal["ecp5"]
    part: str  # the full part number, for reports
    device_flag: str  # nextpnr-ecp5's device switch, e.g. '--85k'
    package: str
    speed: int = Field(ge=6, le=8)
    lpf: str  # file name in firmware/boards/
    osc_mhz: float = Field(gt=0)  # on-board oscillator feeding the PLL (port `clk_25mhz` on ULX3S)
    leds: int = Field(ge=1)
    switches: int = Field(ge=4)  # the self-test uses 4: show status, input gaps, backpressure, clear

    @property
    def lpf_path(self) -> Path:
        return BOARDS_DIR / self.lpf


BOARDS: dict[str, Board] = {
    "ulx3s-85f": Board(name="ulx3s-85f", family="ecp5", part="LFE5U-85F-6BG381C", device_flag="--85k",
                       package="CABGA381", speed=6, lpf="ulx3s-85f.lpf", osc_mhz=25.0, leds=8, switches=4),
}


def get_board(name: str) -> Board:
    """The preset called `name`; `UserError` listing the known ones otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(sorted(BOARDS))}") from None
