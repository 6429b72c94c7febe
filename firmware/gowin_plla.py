"""The GW5A PLL (Gowin's PLLA primitive) for the GW5A board tops, written here because apycula's
`gowin_pll` writes only the older rPLL/PLLVR.

PLLA: CLKOUT0 = FCLKIN * MDIV_SEL / (IDIV_SEL * ODIV0_SEL), with the phase detector at FCLKIN / IDIV_SEL
and the VCO at FCLKIN * MDIV_SEL / IDIV_SEL (FBDIV_SEL = 1, internal feedback). The ranges are the
GW5A datasheet's as apycula quotes them (DS1103: PFD 19-800 MHz, VCO 800-1600 MHz) and the
primitive's divider ranges (UG306). nextpnr-himbaechel places the PLLA and gowin_pack encodes it;
neither checks the frequencies, so this module does.

Every integer parameter is written out: yosys writes instance parameters to the netlist as binary
strings, and gowin_pack parses all PLLA integers that way, including the defaults it fills in for
parameters the netlist lacks, which it keeps as decimal text ('8' is not binary).
"""

from __future__ import annotations

from dataclasses import dataclass

from fluorogate.errors import UserError

PFD_MHZ = (19.0, 800.0)
VCO_MHZ = (800.0, 1600.0)
IDIV = range(1, 65)
MDIV = range(2, 129)
ODIV = range(1, 129)
UNUSED_ODIV = 8  # the primitive's default divider for the six outputs left off


@dataclass(frozen=True)
class PllaSetting:
    """One choice of dividers and the frequencies it gives."""

    fin_mhz: float
    idiv: int
    mdiv: int
    odiv: int

    @property
    def pfd_mhz(self) -> float:
        return self.fin_mhz / self.idiv

    @property
    def vco_mhz(self) -> float:
        return self.fin_mhz * self.mdiv / self.idiv

    @property
    def fout_mhz(self) -> float:
        return self.vco_mhz / self.odiv


def plla_setting(fin_mhz: float, fout_mhz: float) -> PllaSetting:
    """The dividers closest to `fout_mhz`: ties go to the smallest input divider (the highest phase
    detector frequency, the least jitter), then to the highest VCO."""
    best: tuple[tuple[float, int, float], PllaSetting] | None = None
    for idiv in IDIV:
        if not PFD_MHZ[0] <= fin_mhz / idiv <= PFD_MHZ[1]:
            continue
        for mdiv in MDIV:
            vco = fin_mhz * mdiv / idiv
            if not VCO_MHZ[0] <= vco <= VCO_MHZ[1]:
                continue
            # vco / odiv is not linear in odiv: the nearest frequency is at the floor or the ceiling of
            # vco / fout, whichever lands closer (not always the rounded divider)
            exact = vco / fout_mhz
            for odiv in {min(max(d, ODIV.start), ODIV.stop - 1) for d in (int(exact), int(exact) + 1)}:
                setting = PllaSetting(fin_mhz, idiv, mdiv, odiv)
                key = (round(abs(setting.fout_mhz - fout_mhz), 9), idiv, -vco)
                if best is None or key < best[0]:
                    best = (key, setting)
    if best is None:
        raise UserError(
            f"no PLLA setting reaches {fout_mhz:g} MHz from a {fin_mhz:g} MHz clock "
            f"(phase detector {PFD_MHZ[0]:g}-{PFD_MHZ[1]:g} MHz, VCO {VCO_MHZ[0]:g}-{VCO_MHZ[1]:g} MHz)"
        )
    return best[1]


def plla_verilog(module: str, ports: tuple[str, str, str], setting: PllaSetting, device: str) -> str:
    """A module `module(in, out, locked)` around one PLLA with CLKOUT0 at the setting's frequency."""
    clk_in, clk_out, locked = ports
    s = setting
    params = {
        "FCLKIN": f'"{s.fin_mhz:g}"',
        "IDIV_SEL": s.idiv,
        "FBDIV_SEL": 1,
        "MDIV_SEL": s.mdiv,
        "MDIV_FRAC_SEL": 0,
        "ODIV0_SEL": s.odiv,
        "ODIV0_FRAC_SEL": 0,
        **{f"ODIV{k}_SEL": UNUSED_ODIV for k in range(1, 7)},
        "CLKFB_SEL": '"INTERNAL"',
        **{f"CLKOUT{k}_EN": '"TRUE"' if k == 0 else '"FALSE"' for k in range(7)},
        **{f"CLKOUT{k}_DT_DIR": "1'b1" for k in range(4)},
        **{f"CLKOUT{k}_DT_STEP": 0 for k in range(4)},
        **{f"CLK{k}_{d}_SEL": "1'b0" for k in range(7) for d in ("IN", "OUT")},
        **{f"CLKOUT{k}_PE_{p}": 0 for k in range(7) for p in ("COARSE", "FINE")},
    }
    body = ",\n".join(f"        .{name}({value})" for name, value in params.items())
    return "\n".join(
        [
            f"// {module}: Gowin PLLA for {device}, written by fluorogate.firmware.gowin_plla.",
            f"// {s.fin_mhz:g} MHz / IDIV {s.idiv} = PFD {s.pfd_mhz:g} MHz; x MDIV {s.mdiv} = VCO "
            f"{s.vco_mhz:g} MHz; / ODIV0 {s.odiv}",
            f"// Achieved output frequency: {s.fout_mhz:.3f} MHz",
            f"module {module} (input wire {clk_in}, output wire {clk_out}, output wire {locked});",
            "    PLLA #(",
            body,
            "    ) pll (",
            f"        .CLKIN({clk_in}), .CLKFB(1'b0), .RESET(1'b0), .PLLPWD(1'b0), .RESET_I(1'b0), "
            ".RESET_O(1'b0),",
            "        .PSSEL(3'b0), .PSDIR(1'b0), .PSPULSE(1'b0), .SSCPOL(1'b0), .SSCON(1'b0), "
            ".SSCMDSEL(7'b0), .SSCMDSEL_FRAC(3'b0),",
            "        .MDCLK(1'b0), .MDOPC(2'b0), .MDAINC(1'b0), .MDWDI(8'b0), .MDRDO(),",
            f"        .LOCK({locked}), .CLKOUT0({clk_out}), .CLKOUT1(), .CLKOUT2(), .CLKOUT3(), .CLKOUT4(), "
            ".CLKOUT5(), .CLKOUT6(), .CLKFBOUT()",
            "    );",
            "endmodule",
            "",
        ]
    )
