"""Shared pytest set-up: every test is `unit`, `integration` (an HDL simulator, g++, yosys/nextpnr) or `e2e`
(a command over several stages) -- unmarked tests are unit; the `vendor` marker skips unless Vivado/Vitis
are on PATH."""

import shutil

import pytest

VENDOR_TOOLS = ("vivado", "vitis_hls", "vitis-run")


KINDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(kind in item.keywords for kind in KINDS):
            item.add_marker(pytest.mark.unit)
    if any(shutil.which(tool) for tool in VENDOR_TOOLS):
        return
    skip = pytest.mark.skip(reason=f"needs a vendor tool on PATH ({', '.join(VENDOR_TOOLS)}); none found")
    for item in items:
        if "vendor" in item.keywords:
            item.add_marker(skip)
