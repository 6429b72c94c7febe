"""Shared pytest set-up: the `vendor` marker skips unless Vivado/Vitis are on PATH."""

import shutil

import pytest

VENDOR_TOOLS = ("vivado", "vitis_hls", "vitis-run")


def pytest_collection_modifyitems(config, items):
    if any(shutil.which(tool) for tool in VENDOR_TOOLS):
        return
    skip = pytest.mark.skip(reason=f"needs a vendor tool on PATH ({', '.join(VENDOR_TOOLS)}); none found")
    for item in items:
        if "vendor" in item.keywords:
            item.add_marker(skip)
