"""TIFF I/O, `fluorogate simulate`: outputs, metadata, and one-line errors."""

import numpy as np
import pytest
import tifffile

from fluorogate.cli import main
from fluorogate.errors import UserError
from fluorogate.imageio import read_image_2d, read_tiff, write_tiff


@pytest.mark.parametrize("name", ["img.ome.tif", "img.tif"])
@pytest.mark.parametrize("dtype", [np.uint16, np.uint8, np.float32, np.int16])
def test_tiff_round_trip_keeps_dtype_and_pixel_size(tmp_path, name, dtype):
    data = (np.arange(3 * 8 * 6) % 200).reshape(3, 8, 6).astype(dtype)
    write_tiff(tmp_path / name, data, pixel_size_um=0.108)
    image = read_tiff(tmp_path / name)
    assert image.data.dtype == dtype
    np.testing.assert_array_equal(image.data, data)
    assert image.pixel_size_um == pytest.approx(0.108, rel=1e-6)


def test_tiff_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match=r"missing.tif: no such file"):
        read_tiff(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_text("not a tiff")
    with pytest.raises(UserError, match=r"junk.tif: not a readable TIFF"):
        read_tiff(tmp_path / "junk.tif")
    write_tiff(tmp_path / "stack.tif", np.zeros((4, 8, 8), np.uint16))
    with pytest.raises(UserError, match=r"stack.tif: expected a 2D image, got a stack of shape \(4, 8, 8\)"):
        read_image_2d(tmp_path / "stack.tif")
    write_tiff(tmp_path / "float.tif", np.zeros((8, 8), np.float32))
    with pytest.raises(UserError, match=r"float.tif: expected integer camera ADU .* got dtype float32"):
        read_image_2d(tmp_path / "float.tif")
    write_tiff(tmp_path / "a.tif", np.zeros((8, 8), np.uint16))
    with pytest.raises(UserError, match=r"a.tif exists; pass --force"):
        write_tiff(tmp_path / "a.tif", np.ones((8, 8), np.uint16))
    write_tiff(tmp_path / "a.tif", np.ones((8, 8), np.uint16), force=True)
    assert read_tiff(tmp_path / "a.tif").data.max() == 1


def test_simulate_command_writes_movie_and_preview(tmp_path, capsys):
    out = tmp_path / "movie.ome.tif"
    argv = [
        "simulate",
        "--preset",
        "scmos",
        "--specimen",
        "filaments",
        "--photons",
        "10",
        "--frames",
        "4",
        "--size",
        "64",
        "--seed",
        "3",
        "--truth",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome and tif.series[0].axes == "TYX"
        movie = tif.asarray()
    assert movie.shape == (4, 64, 64) and movie.dtype == np.uint16
    assert read_tiff(out).pixel_size_um == pytest.approx(6.5 / 60, rel=1e-6)
    png = tmp_path / "movie.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    truth = read_tiff(tmp_path / "movie.truth.ome.tif").data
    assert truth.dtype == np.float32 and abs(float(movie.mean() - truth.mean())) < 1
    assert "wrote" in capsys.readouterr().out
    # same seed, same movie; no overwrite without --force
    assert main(argv) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    np.testing.assert_array_equal(read_tiff(out).data, movie)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "cmos"], "unknown camera preset 'cmos'"),
        (["--photons", "-3"], "photons must be >= 0"),
        (["--specimen", "cells"], "unknown specimen 'cells'"),
        (["--specimen", "nowhere.tif"], "nowhere.tif: no such file"),
        (["--na", "3"], "--na: "),
    ],
)
def test_simulate_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert (
        main(["simulate", "--frames", "1", "--size", "16", "--out", str(tmp_path / "m.ome.tif"), *args]) == 2
    )
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m.ome.tif").exists()


def test_simulate_from_a_real_image(tmp_path, capsys):
    from fluorogate.sim.real import load_real_crop

    write_tiff(tmp_path / "cells.tif", load_real_crop().data[:48, :40])
    out = tmp_path / "real.ome.tif"
    assert (
        main(["simulate", "--specimen", str(tmp_path / "cells.tif"), "--frames", "2", "--out", str(out)]) == 0
    )
    assert read_tiff(out).data.shape == (2, 48, 40)
    write_tiff(tmp_path / "stack.tif", np.zeros((2, 8, 8), np.uint16))
    assert (
        main(["simulate", "--specimen", str(tmp_path / "stack.tif"), "--out", str(tmp_path / "x.tif")]) == 2
    )
    assert "expected a 2D image" in capsys.readouterr().err
