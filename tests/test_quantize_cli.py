"""`fluorogate reference`: a TIFF in, the reference's output codes out; clean errors."""

from __future__ import annotations

import json

import numpy as np
import rtl_graphs
import tifffile

from fluorogate.cli import main
from fluorogate.quantize.reference import codes_from_adu, quantize_float_input, run_graph


def test_reference_on_frame_and_stack(tmp_path, capsys):
    graph = rtl_graphs.residual_denoiser()
    run = tmp_path / "run"
    run.mkdir()
    graph.save(run / "ir.json")
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 4000, (12, 16)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", frame)
    assert (
        main(["reference", str(run), "--input", str(tmp_path / "in.tif"), "--out", str(tmp_path / "o.tif")])
        == 0
    )
    with tifffile.TiffFile(tmp_path / "o.tif") as tif:
        out, note = tif.asarray(), json.loads(tif.pages[0].description)
    assert np.array_equal(out, run_graph(graph, codes_from_adu(graph, frame))[0])
    assert note["exp"] == graph.exps()[graph.output]

    # refuses to overwrite without --force: exit 2, one line
    assert (
        main(["reference", str(run), "--input", str(tmp_path / "in.tif"), "--out", str(tmp_path / "o.tif")])
        == 2
    )
    assert "pass --force" in capsys.readouterr().err

    stack = rng.random((3, 12, 16)).astype(np.float32)
    tifffile.imwrite(
        tmp_path / "stack.tif", stack, photometric="minisblack"
    )  # tifffile's default: RGB planes
    assert (
        main(
            [
                "reference",
                str(run / "ir.json"),
                "--input",
                str(tmp_path / "stack.tif"),
                "--out",
                str(tmp_path / "o.tif"),
                "--force",
            ]
        )
        == 0
    )
    out = tifffile.imread(tmp_path / "o.tif")
    assert out.shape == (3, 12, 16)
    for k in range(3):
        assert np.array_equal(out[k], run_graph(graph, quantize_float_input(graph, stack[k]))[0])
    for engine in (
        "spec",
        "fast",
    ):  # the torch spec path on demand, the fast kernels required: the same codes
        assert (
            main(
                [
                    "reference",
                    str(run / "ir.json"),
                    "--input",
                    str(tmp_path / "stack.tif"),
                    "--out",
                    str(tmp_path / f"{engine}.tif"),
                    "--engine",
                    engine,
                ]
            )
            == 0
        )
        assert np.array_equal(tifffile.imread(tmp_path / f"{engine}.tif"), out)


def test_reference_errors(tmp_path, capsys):
    assert main(["reference", str(tmp_path), "--input", "x.tif", "--out", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err
    assert "export it first" in err and "fluorogate import" in err
    rtl_graphs.residual_denoiser().save(tmp_path / "ir.json")
    assert (
        main(
            [
                "reference",
                str(tmp_path),
                "--input",
                str(tmp_path / "none.tif"),
                "--out",
                str(tmp_path / "o.tif"),
            ]
        )
        == 2
    )
    assert "no such file" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "big.tif", np.full((8, 8), 70000, np.uint32))
    assert (
        main(
            [
                "reference",
                str(tmp_path),
                "--input",
                str(tmp_path / "big.tif"),
                "--out",
                str(tmp_path / "o.tif"),
            ]
        )
        == 2
    )
    assert "do not fit the camera's 16 bits" in capsys.readouterr().err
