"""The hand-written Verilog primitives the generated designs instantiate (`firmware/rtl/`)."""

from __future__ import annotations

from pathlib import Path

RTL_DIR = Path(__file__).parent / "rtl"
# Copied beside every generated design: the front end, windows, FIFOs and the rate-changing blocks.
LIBRARY = (
    "fg_frontend.v",
    "fg_window3.v",
    "fg_fifo.v",
    "fg_maxpool2.v",
    "fg_upsample2.v",
    "fg_upsample2_lanes.v",
    "fg_maxpool2_lanes.v",
    "fg_fifo_bram.v",
)
