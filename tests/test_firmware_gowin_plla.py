"""The GW5A PLLA settings: every one inside the datasheet's ranges, and none closer to the request missed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluorogate.errors import UserError
from fluorogate.firmware.gowin_plla import (
    IDIV,
    MDIV,
    ODIV,
    PFD_MHZ,
    VCO_MHZ,
    PllaSetting,
    plla_setting,
    plla_verilog,
)


def _in_ranges(s: PllaSetting) -> bool:
    return (
        PFD_MHZ[0] <= s.pfd_mhz <= PFD_MHZ[1]
        and VCO_MHZ[0] <= s.vco_mhz <= VCO_MHZ[1]
        and s.idiv in IDIV
        and s.mdiv in MDIV
        and s.odiv in ODIV
    )


def test_fifty_megahertz_to_the_cores_clocks():
    s = plla_setting(50, 110)
    assert (s.idiv, s.mdiv, s.odiv) == (1, 22, 10) and s.fout_mhz == 110 and s.vco_mhz == 1100
    assert plla_setting(50, 150).fout_mhz == 150
    assert abs(plla_setting(27, 104.7).fout_mhz - 104.7) < 0.1


@settings(max_examples=40, deadline=None)
@given(fin=st.floats(20, 200), fout=st.floats(10, 400))
def test_settings_stay_in_range_and_none_closer_is_missed(fin, fout):
    s = plla_setting(fin, fout)
    assert _in_ranges(s)
    # brute force over the same dividers: nothing in range lands closer to the request
    best = min(
        abs(fin * m / (i * o) - fout)
        for i in IDIV
        if PFD_MHZ[0] <= fin / i <= PFD_MHZ[1]
        for m in MDIV
        if VCO_MHZ[0] <= fin * m / i <= VCO_MHZ[1]
        for o in ODIV
    )
    assert abs(s.fout_mhz - fout) <= best + 1e-9


def test_an_input_clock_the_phase_detector_cannot_take_is_a_user_error():
    with pytest.raises(UserError, match="no PLLA setting reaches 100 MHz from a 5 MHz clock"):
        plla_setting(5, 100)


def test_every_integer_parameter_is_written_out():
    """gowin_pack reads PLLA integers as binary text; a default it fills in itself ('8') does not parse."""
    text = plla_verilog("fg_pll", ("clock_in", "clock_out", "locked"), plla_setting(50, 110), "GW5A-25A")
    for k in range(7):
        assert f".ODIV{k}_SEL(" in text and f".CLKOUT{k}_EN(" in text
    assert ".CLKOUT0(clock_out)" in text and ".LOCK(locked)" in text and ".CLKIN(clock_in)" in text
    assert "Achieved output frequency: 110.000 MHz" in text
