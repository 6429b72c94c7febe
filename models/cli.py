"""`fluorogate train`, `fluorogate export`, `fluorogate import`, `fluorogate eval`: the models stage's
commands.

Nothing heavy is imported here (torch, brevitas load inside the handlers).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from fluorogate.errors import UserError
from fluorogate.models.tasks import TASKS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a restoration model (float, then QAT) on simulated data or your own frames"
    )
    p.add_argument(
        "--task",
        default="denoise",
        help=f"the task (models/tasks.py): {', '.join(TASKS)} (default %(default)s)",
    )
    p.add_argument(
        "--bits", default="w4a8", help="weight and activation bit widths, wNaM (2..8), default w4a8"
    )
    p.add_argument("--rounding", default="half_even", help="half_even (default; hls4ml) or half_up (FINN)")
    p.add_argument("--out", required=True, help="run folder to create, e.g. runs/denoise")
    p.add_argument("--steps", type=int, help="total steps, split 3:1 between float and QAT")
    p.add_argument("--float-steps", type=int, help="float pre-training steps (overrides --steps)")
    p.add_argument("--qat-steps", type=int, help="QAT fine-tuning steps (overrides --steps)")
    p.add_argument("--patch", type=int, help="training patch size in camera pixels (default 64; >= 16)")
    p.add_argument("--channels", type=int, help="feature channels (default 8)")
    p.add_argument("--layers", type=int, help="conv layers (default: the task's)")
    p.add_argument(
        "--out-extra-bits", type=int, help="output fractional bits below the input's grid (default 0)"
    )
    p.add_argument(
        "--weight-scale",
        choices=("max", "mse"),
        help="power-of-two weight scale: max (default: covers "
        "the largest weight) or mse (learned from the least-MSE power of two; outliers saturate)",
    )
    p.add_argument(
        "--tail-init",
        choices=("identity", "pedestal", "default"),
        help="how the last conv starts: "
        "identity (default with a global skip: the output starts as the input, CARE's global residual), "
        "pedestal (default without one, smlm: at the target's pedestal) or default (PyTorch's random init)",
    )
    p.add_argument(
        "--loss",
        choices=("mse", "psnr"),
        help="supervised loss: mse (default) or psnr (minus the batch "
        "PSNR: dim and bright photon levels weigh alike, as the per-level PSNR target does)",
    )
    p.add_argument("--extra-specimen", help="second training specimen for a share of the chunks, e.g. nuclei")
    p.add_argument(
        "--extra-fraction", type=float, help="share of training chunks from --extra-specimen (0..1)"
    )
    p.add_argument("--mode", default="supervised", help="supervised (default) or n2v (Noise2Void blind spot)")
    p.add_argument(
        "--preset",
        default="scmos",
        help="camera preset of the simulated data (default scmos), or a camera file (*.json)",
    )
    p.add_argument(
        "--camera",
        help="camera file from `fluorogate calibrate`: train on the simulator with YOUR camera "
        "(noise, gain, offset, ADC); photon range, background and input shift matched to the movie it "
        "was calibrated from (models/matching.py) unless given",
    )
    p.add_argument(
        "--photons",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="training signal photons per pixel "
        "on structures, drawn log-uniform per chunk (default 4 25; with --camera: detected photons)",
    )
    p.add_argument("--background", type=float, help="training background photons per pixel (default 2)")
    p.add_argument(
        "--specimen", help="training specimen: mix (default), puncta, filaments, nuclei, vesicles, beads"
    )
    p.add_argument(
        "--n2v-replace",
        choices=("neighbour", "median"),
        help="with --mode n2v: blind-spot value, a "
        "random neighbour (N2V, default) or the neighbourhood median without the centre (N2V2)",
    )
    p.add_argument(
        "--struct-mask",
        choices=("row", "col"),
        help="with --mode n2v: structN2V mask against noise correlated along camera rows or columns",
    )
    p.add_argument("--struct-span", type=int, help="with --struct-mask: pixels masked each side (default 2)")
    p.add_argument(
        "--allow-clipping",
        action="store_true",
        help="accept an --input-shift that saturates the brightest input pixels (counted and reported)",
    )
    p.add_argument(
        "--data",
        nargs="+",
        metavar="TIFF",
        help="train on your own frames (TIFF/OME-TIFF stacks or "
        "folders of them; needs --mode n2v) instead of simulated data",
    )
    p.add_argument(
        "--val-frames",
        type=int,
        help="with --data: last frames held out for the validation loss (default a tenth)",
    )
    p.add_argument(
        "--camera-offset", type=float, help="with --data: camera dark offset, ADU (else the files' metadata)"
    )
    p.add_argument(
        "--camera-gain", type=float, help="with --data: conversion gain, ADU per electron (else metadata)"
    )
    p.add_argument("--read-noise", type=float, help="with --data: read noise, electrons rms (else metadata)")
    p.add_argument(
        "--input-shift",
        type=int,
        help="with --data: right shift of ADU to input codes (default: the smallest that clips no pixel)",
    )
    p.add_argument(
        "--init", help="start from this finished run's float weights (or 'shipped': the shipped model)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (the result depends on it; default 1)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder's results")
    p.add_argument("--no-export", action="store_true", help="skip the export after training")
    p.set_defaults(handler=_train)

    p = subparsers.add_parser("export", help="export a trained run: QONNX, float ONNX and the IR")
    p.add_argument("run", help="run folder made by `fluorogate train`")
    p.add_argument(
        "--size", type=int, default=16, help="frame size baked into the exported shapes (default 16)"
    )
    p.add_argument("--force", action="store_true", help="overwrite existing exports")
    p.set_defaults(handler=_export)

    p = subparsers.add_parser(
        "import",
        help="a QONNX file from Brevitas, qonnx or another tool as a run folder for every hardware stage",
        description="Turn MODEL.onnx (QONNX, as Brevitas's export_qonnx or qonnx writes it) into a run "
        "folder that `reference`, `hls`, `finn`, `rtl`, `build` and `bench` take like a trained run: "
        "model.qonnx.onnx, ir.json and source.json (the file and its SHA-256, the tool, rounding, camera "
        "conversion, the check made). What the hardware cannot do is refused here, naming the node. The "
        "import checks that qonnx's execution equals the integer reference on every output pixel of 3 "
        "frames. The camera front end (raw ADU -> the input quantizer's codes: sat(round_shift(ADU - offset, "
        "shift))) is chosen from the camera's numbers as `fluorogate train` chooses it: offset = camera "
        "offset - 5 read-noise sigmas, shift fitting --peak-photons; --input-shift sets the shift "
        "(choose it as the model was trained: real input = codes * the input quantizer's scale).",
    )
    p.add_argument("model", help="QONNX file (.onnx)")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument(
        "--camera",
        metavar="FILE",
        help="camera JSON (`fluorogate calibrate`): offset_adu, gain_adu_per_e, "
        "read_noise_e, adu_bits, optional qe, em_gain",
    )
    p.add_argument("--camera-offset", type=float, help="camera dark offset, ADU (instead of --camera)")
    p.add_argument(
        "--camera-gain", type=float, help="conversion gain, ADU per electron (instead of --camera)"
    )
    p.add_argument("--read-noise", type=float, help="read noise, electrons rms (instead of --camera)")
    p.add_argument("--adu-bits", type=int, default=16, help="with --camera-offset: ADC bits (default 16)")
    p.add_argument(
        "--qe", type=float, default=1.0, help="with --camera-offset: quantum efficiency (default 1)"
    )
    p.add_argument("--em-gain", type=float, default=1.0, help="with --camera-offset: EM gain (default 1)")
    p.add_argument(
        "--peak-photons",
        type=float,
        default=100.0,
        help="brightest expected pixel, photons: sets the input shift (default 100)",
    )
    p.add_argument(
        "--input-shift", type=int, help="right shift of ADU - offset to input codes (negative: left shift)"
    )
    p.add_argument(
        "--rounding",
        choices=("half_even", "half_up"),
        help="override the rounding the file records (Brevitas labels a custom floor(x + 0.5) quantizer "
        "ROUND: pass half_up for such a model)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing run folder")
    p.set_defaults(handler=_import)

    p = subparsers.add_parser(
        "eval",
        help="PSNR/SSIM of a run against classical baselines; or, with --data, judge "
        "runs on your own movie without ground truth (Noise2Noise in time); PNG + tables",
    )
    p.add_argument(
        "run",
        nargs="*",
        help="run folder(s) made by `fluorogate train` (with --data: any number, compared side by side)",
    )
    p.add_argument(
        "--data",
        metavar="TIFF",
        help="your raw movie: score the runs, raw, best Gaussian and BM3D by "
        "MSE(restored frame t, raw frame t+1) (models/blind_eval.py)",
    )
    p.add_argument(
        "--pairs", type=int, default=19, help="with --data: frame pairs scored, the last ones (default 19)"
    )
    p.add_argument(
        "--criterion", default="auto", help="with --data: time (default for >= 2 frames) or spatial"
    )
    p.add_argument(
        "--camera",
        help="with --data: camera file for BM3D's Anscombe transform (default: calibrated from the movie)",
    )
    p.add_argument(
        "--truth",
        help="with --data: noise-free movie (e.g. `simulate --truth`): PSNR too, and how "
        "well the criterion ranks like it",
    )
    p.add_argument(
        "--no-bm3d", action="store_true", help="with --data: leave BM3D out (slow: seconds per frame)"
    )
    p.add_argument("--out", help="with --data: folder for eval_data.{json,md,png} (default the first run)")
    p.add_argument("--frames", type=int, default=4, help="test frames per photon level (default 4)")
    p.add_argument("--size", type=int, default=128, help="test frame size (default 128)")
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.set_defaults(handler=_eval)


def _run_config(args):
    from fluorogate.models.config import ModelConfig, RunConfig, TrainConfig, parse_bits
    from fluorogate.models.tasks import TASKS
    from fluorogate.quantize.camera import choose_conversion
    from fluorogate.quantize.export import package_versions
    from fluorogate.sim.camera import get_preset

    if args.task not in TASKS:
        raise UserError(f"--task {args.task!r}: unknown task; choose one of {', '.join(TASKS)}")
    if args.rounding not in ("half_even", "half_up"):
        raise UserError(f"--rounding {args.rounding!r}: choose half_even or half_up")
    if args.mode not in ("supervised", "n2v"):
        raise UserError(f"--mode {args.mode!r}: choose supervised or n2v")
    w, a = parse_bits(args.bits)
    model_kw = {
        k: v
        for k, v in (
            ("channels", args.channels),
            ("layers", args.layers),
            ("out_extra_bits", args.out_extra_bits),
            ("weight_scale", args.weight_scale),
            ("tail_init", args.tail_init),
        )
        if v is not None
    }
    if args.n2v_replace == "median" and args.tail_init is None:
        # N2V2's median is itself a denoised estimate of the blind spot: a net that starts as the identity
        # through its global skip keeps passing it on and, at inference, passes the raw pixel (measured on
        # a spot movie: 27.6 dB against raw's 35.0; from PyTorch's init 37.5, N2V 37.9): docs/movies.md
        model_kw["tail_init"] = "default"
    train_kw = {
        **TASKS[args.task].train,
        "mode": args.mode,
        "preset": args.preset,
        "seed": args.seed,
        "threads": args.threads,
    }
    train_kw |= {
        k: v
        for k, v in (
            ("extra_specimen", args.extra_specimen),
            ("extra_fraction", args.extra_fraction),
            ("patch", args.patch),
            ("init", args.init),
            ("loss", args.loss),
            ("photons", args.photons and tuple(args.photons)),
            ("background", args.background),
            ("specimen", args.specimen),
            ("n2v_replace", args.n2v_replace),
            ("struct_mask", args.struct_mask),
            ("struct_span", args.struct_span),
        )
        if v is not None
    }
    stats = None
    if args.camera:
        from fluorogate.models.matching import matched_light, movie_statistics

        train_kw["preset"] = get_preset(args.camera)
        stats = movie_statistics(args.camera)
        if stats and (args.photons is None or args.background is None):
            photons, background = matched_light(train_kw["preset"], args.specimen or "mix", stats)
            train_kw.setdefault("photons", photons)
            train_kw.setdefault("background", background)
            print(
                f"matched to the calibrated movie: --photons {photons[0]:g} {photons[1]:g} --background "
                f"{train_kw['background']:g}"
            )
    camera = None
    if args.data:
        from fluorogate.models.frames import prepare

        if args.mode != "n2v":
            raise UserError("--data: your frames have no clean target; train them with --mode n2v")
        options = {
            "camera_offset_adu": args.camera_offset,
            "gain_adu_per_e": args.camera_gain,
            "read_noise_e": args.read_noise,
        }
        train_kw["data"], train_kw["val_frames"], camera = prepare(
            args.data, a, options, args.input_shift, args.val_frames, args.allow_clipping
        )
    if args.steps is not None:
        train_kw["float_steps"] = args.steps - args.steps // 4
        train_kw["qat_steps"] = args.steps // 4
    if args.float_steps is not None:
        train_kw["float_steps"] = args.float_steps
    if args.qat_steps is not None:
        train_kw["qat_steps"] = args.qat_steps
    try:
        model = ModelConfig(task=args.task, weight_bits=w, act_bits=a, rounding=args.rounding, **model_kw)
        train = TrainConfig(**train_kw)
    except ValueError as exc:
        raise UserError(f"bad training options: {exc}") from None
    if camera is None and args.camera:
        from fluorogate.models.clipping import simulated_conversion
        from fluorogate.models.matching import movie_peak

        peak = movie_peak(train.preset, stats) if stats else None
        camera = simulated_conversion(model, train, args.input_shift, args.allow_clipping, peak_adu=peak)
    camera = camera or choose_conversion(get_preset(train.preset), train.peak_photons, bits=a)
    return RunConfig(
        model=model,
        train=train,
        camera=camera,
        versions=package_versions(),
        command=shlex.join(["fluorogate", *sys.argv[1:]]),
    )


def _train(args) -> int:
    from fluorogate.models.export_run import export_run
    from fluorogate.models.run_folder import CONFIG, load_config, save_config
    from fluorogate.models.train import train

    run = Path(args.out)
    if args.resume:
        cfg = load_config(run)
    else:
        if (run / CONFIG).exists() and not args.force:
            raise UserError(
                f"{run} already holds a run; pass --resume to continue it or --force to start over"
            )
        cfg = _run_config(args)
        run.mkdir(parents=True, exist_ok=True)
        (run / "checkpoint.pt").unlink(missing_ok=True)
        save_config(run, cfg)
    metrics = train(run, cfg, resume=args.resume)
    quality = (
        f"held-out N2V loss {metrics['val_loss']:.3e}"
        if "val_loss" in metrics
        else f"last batch PSNR {metrics['psnr']:.2f} dB"
    )
    print(
        f"trained {cfg.model.task} {cfg.model.bits_tag} {cfg.model.rounding}: step {metrics['step']}, "
        f"{quality} -> {run}"
    )
    if not args.no_export:
        _print_exports(export_run(run, force=True))
    return 0


def _print_exports(paths: dict) -> None:
    import json

    from fluorogate.quantize.clipping import summary

    for name, path in paths.items():
        print(f"wrote {path}")
        if name == "clipping.json":
            print(summary(json.loads(path.read_text())))


def _export(args) -> int:
    from fluorogate.models.export_run import export_run

    _print_exports(export_run(args.run, size=args.size, force=args.force))
    return 0


def _camera_settings(args):
    """--camera FILE, or --camera-offset/--camera-gain/--read-noise (all three), or None."""
    from pydantic import ValidationError

    from fluorogate.quantize.camera import CameraSettings, read_camera_settings

    given = {
        "--camera-offset": args.camera_offset,
        "--camera-gain": args.camera_gain,
        "--read-noise": args.read_noise,
    }
    named = [k for k, v in given.items() if v is not None]
    if args.camera and named:
        raise UserError(f"--camera FILE or {', '.join(named)}: give the camera's numbers one way")
    if args.camera:
        return read_camera_settings(args.camera)
    if not named:
        return None
    if len(named) < len(given):
        missing = [k for k in given if k not in named]
        raise UserError(f"the camera front end needs {', '.join(missing)} too (or --camera FILE)")
    try:
        return CameraSettings(
            offset_adu=args.camera_offset,
            gain_adu_per_e=args.camera_gain,
            read_noise_e=args.read_noise,
            adu_bits=args.adu_bits,
            qe=args.qe,
            em_gain=args.em_gain,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"camera {err['loc'][0]}: {err['msg']}") from None


def _import(args) -> int:
    from fluorogate.models.import_run import import_qonnx

    run = import_qonnx(
        args.model,
        args.out,
        camera=_camera_settings(args),
        rounding=args.rounding,
        peak_photons=args.peak_photons,
        input_shift=args.input_shift,
        force=args.force,
        command=shlex.join(["fluorogate", *sys.argv[1:]]),
    )
    src, graph = run.source, run.graph
    q = graph.input.quant
    print(
        f"imported {args.model} (sha256 {src.sha256[:12]}, {src.tool}) -> {run.path}: "
        f"{len(graph.nodes)} IR nodes, {graph.rounding} (from {src.rounding_from}), "
        f"input {q.bits}-bit {'signed' if q.signed else 'unsigned'} x 2**{q.exp}"
    )
    cam = graph.input.camera
    print(
        "camera front end: "
        + (
            f"codes = sat(round_shift(ADU - {cam.offset}, {cam.shift})), {cam.adu_bits}-bit ADU"
            if cam
            else "none (the stream carries input codes)"
        )
    )
    check = src.check["qonnx_execution"]
    if "skipped" in check:
        print(f"qonnx execution check skipped: {check['skipped']}")
    else:
        print(
            f"qonnx execution == integer reference on all {check['pixels']} output values of "
            f"{src.check['frames']} frames of {src.check['frame'][0]}x{src.check['frame'][1]}"
        )
    return 0


def _eval(args) -> int:
    if args.data:
        from fluorogate.models.blind_eval import evaluate_data

        report = evaluate_data(
            args.run,
            args.data,
            out=args.out,
            force=args.force,
            pairs=args.pairs,
            criterion=args.criterion,
            camera=args.camera,
            truth=args.truth,
            bm3d=not args.no_bm3d,
        )
        print(report.read_text())
        return 0
    from fluorogate.models.evaluate import evaluate_run

    if len(args.run) != 1:
        raise UserError("eval: name one run folder (several only with --data)")
    report = evaluate_run(args.run[0], frames=args.frames, size=args.size, force=args.force)
    print(report.read_text() if report.suffix == ".md" else report)
    return 0
