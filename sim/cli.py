"""`fluorogate simulate`: a simulated camera movie as OME-TIFF plus a PNG preview.

Imports nothing heavy at module level; the simulator is loaded inside the handler.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate a fluorescence camera movie (OME-TIFF + PNG preview)",
        description="Simulate a camera movie of a specimen: optics (PSF, pixel integration) and the camera's "
        "noise (shot, dark, read, EM, ADC). Writes uint16 ADU as OME-TIFF with the pixel size, and a PNG "
        "preview beside it.",
    )
    p.add_argument(
        "--preset",
        default="scmos",
        help="camera preset: scmos, ccd12, emccd, or a camera file "
        "(*.json from `fluorogate calibrate`) (default scmos)",
    )
    p.add_argument("--camera", help="camera file from `fluorogate calibrate` (same as --preset FILE.json)")
    p.add_argument(
        "--specimen",
        default="filaments",
        help="filaments, puncta, vesicles, nuclei, beads, mix, or a 2D TIFF as the specimen (default "
        "filaments)",
    )
    p.add_argument(
        "--photons", type=float, default=10.0, help="signal photons per pixel on structures (default 10)"
    )
    p.add_argument("--background", type=float, default=2.0, help="background photons per pixel (default 2)")
    p.add_argument("--frames", type=int, default=20, help="number of exposures (default 20)")
    p.add_argument(
        "--size", type=int, default=None, help="frame size in pixels (default 256, or the image's size)"
    )
    p.add_argument("--psf", choices=["gaussian", "airy"], default="gaussian")
    p.add_argument("--wavelength", type=float, default=520.0, help="emission wavelength, nm (default 520)")
    p.add_argument("--na", type=float, default=1.4, help="numerical aperture (default 1.4)")
    p.add_argument("--magnification", type=float, default=60.0, help="total magnification (default 60)")
    p.add_argument("--haze", type=float, default=0.0, help="fraction of out-of-focus light, 0..1 (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--truth", action="store_true", help="also write the noise-free expected ADU (*.truth.ome.tif)"
    )
    p.add_argument("--out", required=True, help="output TIFF, e.g. movie.ome.tif")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(handler=run_simulate)

    from fluorogate.sim.calibrate_cli import register_calibrate  # `fluorogate calibrate`

    register_calibrate(subparsers)


def run_simulate(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from tqdm import tqdm

    from fluorogate.errors import UserError
    from fluorogate.imageio import read_image_2d
    from fluorogate.sim.camera import get_preset
    from fluorogate.sim.optics import Optics
    from fluorogate.sim.pairs import simulate_movie
    from fluorogate.sim.save import write_movie
    from fluorogate.sim.specimen import SPECIMENS, from_image

    preset = get_preset(args.camera or args.preset)
    try:
        optics = Optics(
            psf=args.psf,
            wavelength_nm=args.wavelength,
            na=args.na,
            magnification=args.magnification,
            haze=args.haze,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"--{err['loc'][0]}: {err['msg']} (got {err['input']})".replace("_nm", "")) from None
    specimen = args.specimen
    size = 256 if args.size is None else args.size
    if args.specimen not in SPECIMENS and args.specimen.lower().endswith((".tif", ".tiff")):
        image = read_image_2d(args.specimen, integer=False)
        specimen = from_image(image.data)
        if args.size is not None and args.size != image.data.shape[0]:
            raise UserError(
                f"--size {args.size} disagrees with the specimen image {args.specimen} "
                f"({image.data.shape[0]}x{image.data.shape[1]}); leave --size out"
            )
        size = image.data.shape
    check_size(args.frames, size, args.truth)
    movie = simulate_movie(
        args.frames,
        size,
        args.photons,
        args.background,
        preset,
        specimen,
        args.seed,
        optics,
        progress=lambda it: tqdm(it, desc="simulate", unit="frame"),
    )
    title = (
        f"{preset.name}, {args.specimen}, {args.photons:g} photons/px over {args.background:g}, "
        f"{movie.pixel_nm:.0f} nm pixels"
    )
    for path in write_movie(movie, args.out, title, force=args.force, truth=args.truth):
        print(f"wrote {path}")
    return 0


RENDER_BYTES_PER_PIXEL = 256  # the specimen on the 2x-oversampled grid, its PSF convolution: ~180 measured


def check_size(frames: int, size: int | tuple[int, int], truth: bool) -> None:
    """Refuse, in one line, a movie that cannot be read back or does not fit in memory: rendering takes
    about `RENDER_BYTES_PER_PIXEL` per frame pixel, and the movie 2 bytes per pixel per frame (plus 4
    for the truth frame), all held at once."""
    from fluorogate.errors import UserError
    from fluorogate.imageio import MIN_SIDE, ensure_fits

    h, w = (size, size) if isinstance(size, int) else size
    if min(h, w) < MIN_SIDE:
        raise UserError(f"--size {min(h, w)}: frames must be at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if frames < 1:
        raise UserError(f"--frames {frames}: need at least one frame")
    need = h * w * (RENDER_BYTES_PER_PIXEL + 2 * frames + 4 * truth)
    ensure_fits(need, f"simulating {frames} frame(s) of {h}x{w}")
