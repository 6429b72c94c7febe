"""`open_movie`: a user's TIFF checked where it enters (one line per problem) and read a page at a time;
`write_frames`: frames written as they come. `fluorogate reference` streams: read, compute, write, frame by
frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rtl_graphs
import tifffile

from fluorogate.cli import main
from fluorogate.errors import UserError
from fluorogate.imageio import MEMORY_ENV, Movie, open_movie, read_tiff, write_frames, write_tiff


def _stack(n=6, h=12, w=16, dtype=np.uint16):
    return (np.arange(n * h * w) % 251).reshape(n, h, w).astype(dtype)


@pytest.mark.parametrize("writer", ["plain", "ome", "imagej", "zlib", "pages", "virtual"])
def test_frames_are_read_one_page_at_a_time(tmp_path, writer):
    data = _stack()
    path = tmp_path / ("m.ome.tif" if writer == "ome" else "m.tif")
    if writer == "pages":  # one tifffile write per frame: a series per page
        with tifffile.TiffWriter(path) as tw:
            for frame in data:
                tw.write(frame)
    else:
        kw = {
            "plain": {},
            "ome": {"ome": True, "metadata": {"axes": "TYX"}},
            "zlib": {"compression": "zlib"},
            "imagej": {"imagej": True, "metadata": {"axes": "TYX"}},
            "virtual": {"imagej": True, "truncate": True, "metadata": {"axes": "TYX"}},
        }[writer]  # one IFD
        tifffile.imwrite(path, data, photometric="minisblack", **kw)
    with open_movie(path) as movie:
        assert (movie.shape, movie.page_reads) == ((6, 12, 16), 0)  # opening reads no pixels
        np.testing.assert_array_equal(movie.frame(4), data[4])
        assert movie.page_reads == 1
        for k, frame in enumerate(movie.iter_frames(1, 3), start=1):
            np.testing.assert_array_equal(frame, data[k])
        assert movie.page_reads == 3


def test_the_channel_is_picked_by_the_file_axes(tmp_path):
    data = (np.arange(5 * 3 * 8 * 10) % 1000).reshape(5, 3, 8, 10).astype(np.uint16)
    tifffile.imwrite(tmp_path / "tc.ome.tif", data, ome=True, metadata={"axes": "TCYX"})
    with pytest.raises(UserError, match=r"3 channels, .*axes TCYX.*--channel 0..2"):
        open_movie(tmp_path / "tc.ome.tif")
    with open_movie(tmp_path / "tc.ome.tif", channel=2) as movie:
        np.testing.assert_array_equal(np.stack(list(movie)), data[:, 2])
    ct = np.ascontiguousarray(data.transpose(1, 0, 2, 3))
    tifffile.imwrite(tmp_path / "ct.ome.tif", ct, ome=True, metadata={"axes": "CTYX"})  # channel-major pages
    with open_movie(tmp_path / "ct.ome.tif", channel=1) as movie:
        assert movie.axes == "CTYX"
        np.testing.assert_array_equal(np.stack(list(movie)), data[:, 1])
    tifffile.imwrite(tmp_path / "ij.tif", data[:, None], imagej=True, metadata={"axes": "TZCYX"})
    with open_movie(tmp_path / "ij.tif", channel=0) as movie:
        assert movie.axes == "TCYX"
        np.testing.assert_array_equal(np.stack(list(movie)), data[:, 0])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: tifffile.imwrite(p, np.zeros((32, 32, 3), np.uint8)),
            r"RGB colour image, shape \(32, 32, 3\)",
        ),
        (
            lambda p: tifffile.imwrite(p, np.zeros((32, 32, 4), np.uint8), photometric="rgb"),
            "RGBA colour image",
        ),
        (
            lambda p: tifffile.imwrite(p, np.zeros((3, 16, 16), np.uint16)),
            "if these are 3 frames, not colour planes",
        ),
        (
            lambda p: tifffile.imwrite(p, np.zeros((2, 3, 16, 16), np.uint16), photometric="minisblack"),
            r"shape \(2, 3, 16, 16\) \(axes QQYX\)",
        ),
        (
            lambda p: tifffile.imwrite(
                p, np.zeros((2, 3, 16, 16), np.uint16), ome=True, metadata={"axes": "ZTYX"}
            ),
            r"both Z \(2\) and T \(3\) are longer than 1",
        ),
        (lambda p: tifffile.imwrite(p, np.zeros((8, 16, 16), np.int16)), "camera counts are unsigned"),
        (lambda p: tifffile.imwrite(p, np.zeros((8, 16, 16), np.float32)), "raw integer counts"),
        (lambda p: tifffile.imwrite(p, np.zeros((8, 16, 16), bool)), "boolean"),
        (lambda p: tifffile.imwrite(p, np.zeros((8, 16), np.complex64)), "complex"),
        (lambda p: tifffile.imwrite(p, np.zeros((16,), np.uint16)), "1-D image"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"II*\x00garbage"), "not a readable TIFF"),
    ],
)
def test_what_cannot_be_camera_frames_is_one_line(tmp_path, make, message):
    path = tmp_path / "x.tif"
    make(path)
    with pytest.raises(UserError, match=message) as info:
        open_movie(path, "u")
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_truncated_and_oversized_files_are_refused_before_reading(tmp_path, monkeypatch):
    path = write_tiff(tmp_path / "m.tif", _stack(20, 64, 64))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        UserError, match=r"m.tif: (truncated|a damaged or truncated TIFF|not a readable TIFF)"
    ):
        open_movie(path)
    one = write_tiff(tmp_path / "one.tif", _stack(1, 64, 64)[0])  # its IFD first, then its pixels
    one.write_bytes(one.read_bytes()[:-100])
    with pytest.raises(
        UserError, match=r"one.tif: truncated: the image data runs to byte 8,448 but the file ends"
    ):
        open_movie(one)
    path.write_bytes(whole)
    monkeypatch.setenv(MEMORY_ENV, str(64 * 64 * 2 * 3))  # a little more than one frame's bytes
    with open_movie(path) as movie:
        movie.frame(0)
        with pytest.raises(UserError, match=r"reading all 20 frames needs about .* MB of memory"):
            movie.read_all()
    with pytest.raises(UserError, match=r"one 64x64 frame needs about"):
        open_movie(path, working_bytes_per_pixel=8)


def test_write_frames_streams_from_an_iterator_and_never_overwrites(tmp_path):
    data = _stack(4)
    out = write_frames(tmp_path / "o.ome.tif", iter(data), data.shape, data.dtype, 0.1, metadata={"gain": 2})
    image = read_tiff(out)
    np.testing.assert_array_equal(image.data, data)
    assert image.pixel_size_um == pytest.approx(0.1) and image.metadata["gain"] == "2"
    with pytest.raises(UserError, match="exists; pass --force"):
        write_frames(out, iter(data), data.shape, data.dtype)
    with pytest.raises(ValueError, match="3 frames given for a stack of 4"):
        write_frames(tmp_path / "short.tif", iter(data[:3]), data.shape, data.dtype)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.ome.tif"]  # no partial file left


def test_reference_reads_computes_and_writes_frame_by_frame(tmp_path, monkeypatch):
    """The CLI holds one frame at a time: each output frame is written before the next input is read."""
    import fluorogate.imageio as imageio
    from fluorogate.quantize.reference import codes_from_adu, run_graph

    graph = rtl_graphs.residual_denoiser()
    graph.save(tmp_path / "ir.json")
    data = _stack(8, 12, 16)
    write_tiff(tmp_path / "in.tif", data)
    events = []
    read, write = Movie.frame, imageio.write_frames

    def counting_read(self, i):
        events.append(f"r{i}")
        return read(self, i)

    def counting_write(path, frames, *args, **kwargs):
        def logged():
            for k, frame in enumerate(frames):
                events.append(f"w{k}")
                yield frame

        return write(path, logged(), *args, **kwargs)

    monkeypatch.setattr(Movie, "frame", counting_read)
    monkeypatch.setattr(imageio, "write_frames", counting_write)
    out = tmp_path / "out.tif"
    assert main(["reference", str(tmp_path), "--input", str(tmp_path / "in.tif"), "--out", str(out)]) == 0
    assert events == [e for k in range(8) for e in (f"r{k}", f"w{k}")]
    with tifffile.TiffFile(out) as tif:
        got, note = tif.asarray(), json.loads(tif.pages[0].description)
    assert note["exp"] == graph.exps()[graph.output]
    for k in range(8):
        np.testing.assert_array_equal(got[k], run_graph(graph, codes_from_adu(graph, data[k]))[0])


def test_reference_refuses_an_rgb_tiff_in_one_line(tmp_path, capsys):
    """The report of issue 15: an RGB 32x32x3 TIFF was read as 32 frames of 32x3."""
    rtl_graphs.residual_denoiser().save(tmp_path / "ir.json")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((32, 32, 3), np.uint8))
    assert (
        main(
            [
                "reference",
                str(tmp_path),
                "--input",
                str(tmp_path / "rgb.tif"),
                "--out",
                str(tmp_path / "o.tif"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "RGB colour image, shape (32, 32, 3)" in err and err.count("\n") == 1
    assert not (tmp_path / "o.tif").exists()


def test_simulate_sizes_that_do_not_fit_are_one_line(tmp_path, capsys):
    for args, message in [
        (["--size", "100000"], "needs about 2,960.0 GB of memory"),
        (["--size", "64", "--frames", "100000000"], "simulating 100000000 frame(s) of 64x64"),
        (["--size", "3"], "at least 5x5"),
    ]:
        assert main(["simulate", *args, "--out", str(tmp_path / "m.ome.tif")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_training_patches_read_each_drawn_frame_once(tmp_path):
    """`train --data` holds no movie in memory: a chunk of patches reads just the frames it draws from."""
    from fluorogate.models.frames import draw_patches, open_frames

    data = _stack(30, 24, 24)
    frames = open_frames(write_tiff(tmp_path / "m.tif", data))
    assert frames.movie.page_reads == 0 and frames.shape == (30, 24, 24)
    patches = draw_patches([frames[:20]], 8, 16, np.random.default_rng(3))
    np.testing.assert_array_equal(patches, draw_patches([data[:20]], 8, 16, np.random.default_rng(3)))
    picks = np.random.default_rng(3).choice(
        20, size=8, p=np.full(20, 1 / 20)
    )  # the draw's frames (equal areas)
    assert frames.movie.page_reads == len(np.unique(picks)) <= 8


def _peak_rss_kb(argv: list[str]) -> int:
    """Peak resident memory of a child process running `argv` (its own rusage, from wait4)."""
    import os
    import subprocess

    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss


@pytest.mark.slow
def test_reference_peak_memory_does_not_grow_with_the_movie(tmp_path):
    """Peak RSS of `fluorogate reference` on 10 and 400 frames of 256x256: the 400-frame movie is 52 MB
    in and 26 MB out; reading it whole (as before) would add them, streaming adds nothing."""
    import shutil
    import sys

    graph = rtl_graphs.residual_denoiser()
    graph.save(tmp_path / "ir.json")
    exe = shutil.which("fluorogate", path=str(Path(sys.executable).parent))
    rss = {}
    for n in (10, 400):
        base = _stack(1, 256, 256)[0]
        path = write_frames(
            tmp_path / f"m{n}.tif", (base + np.uint16(i % 5) for i in range(n)), (n, 256, 256), np.uint16
        )
        rss[n] = _peak_rss_kb(
            [exe, "reference", str(tmp_path), "--input", str(path), "--out", str(tmp_path / f"o{n}.tif")]
        )
    print(f"peak RSS: 10 frames {rss[10] / 1024:.0f} MB, 400 frames {rss[400] / 1024:.0f} MB")
    assert rss[400] - rss[10] < 20 * 1024  # kB; the movie alone is 52 MB


def test_a_frame_failing_mid_movie_ends_with_the_one_error_line(tmp_path, monkeypatch, capsys):
    """The progress bar is closed before the error is printed: the error is the last line, no output left."""
    rtl_graphs.residual_denoiser().save(tmp_path / "ir.json")
    write_tiff(tmp_path / "in.tif", _stack(7, 12, 16))
    read = Movie.frame

    def failing(self, i):
        if i == 3:
            raise UserError(f"{self.path}: frame 3 is unreadable (test)")
        return read(self, i)

    monkeypatch.setattr(Movie, "frame", failing)
    assert (
        main(
            [
                "reference",
                str(tmp_path),
                "--input",
                str(tmp_path / "in.tif"),
                "--out",
                str(tmp_path / "o.tif"),
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.endswith("in.tif: frame 3 is unreadable (test)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "ir.json"]


def test_a_strip_offset_pointing_into_a_page_directory_is_refused(tmp_path):
    """A one-byte change in a StripOffsets value that still points inside the file (found by the fuzzing):
    the pixels would come from the next page's directory; refused instead of misread."""
    import struct

    path = write_tiff(tmp_path / "m.tif", _stack(2, 8, 8, np.uint8))
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[1]
        tag = page.tags["StripOffsets"]
        where, ifd = tag.valueoffset, page.offset
    raw = bytearray(path.read_bytes())
    raw[where : where + 4] = struct.pack("<I", ifd + 10)
    path.write_bytes(raw)
    with pytest.raises(
        UserError, match=r"m.tif: damaged: image data at bytes .* overlaps the file's page directory"
    ):
        open_movie(path)
