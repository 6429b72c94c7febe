"""The task registry: what makes `denoise`, `unet`, `sr2x` (and any task added later) differ.

A task is one `TaskSpec`: the network class, its depth, how many camera frames feed one output image
(stacked as input channels), the output's sampling, how training/test pairs are simulated, which
classical baselines it is measured against, and optional task-specific metrics. Training, evaluation,
export and the bench read everything task-specific from here, so a new task is one entry plus its own
module, not a new branch in every stage.

The hooks are "module:function" strings, imported when called: this module stays import-light (the
CLI's `--help` and `ModelConfig` validation load it without torch or the simulator).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from fluorogate.errors import UserError


@dataclass(frozen=True)
class TaskSpec:
    """One task. Hook signatures (all arrays float, ADU):

    - `pairs(n, size, photons, tc: TrainConfig, seed) -> (noisy (n, H, W) or (n, C, H, W), truth
      (n, scale*H, scale*W))`: raw camera ADU in, ground truth as the camera would see it noise-free;
    - `baselines(cfg: RunConfig, adu, noisy: list, truths: list) -> {name: (restored frames, param)}`:
      `noisy` is the ADU minus the camera offset, restorations on the truth's grid;
    - `extra_eval(cfg, flt, qat, frames, size) -> (dict, markdown)`: task-specific metrics for
      eval.json["task_metrics"] and a section of eval.md.
    """

    name: str
    net: str  # key of fluorogate.models.nets.NETS
    default_layers: int
    pairs: str
    baselines: str
    min_layers: int = 3
    in_channels: int = 1  # camera frames per output image, stacked as input channels
    scale: int = 1  # output pixels per input pixel along each axis
    real_crop: bool = False  # also evaluated on the shipped real crop
    n2v: bool = False  # Noise2Void training allowed (input and output on one grid, one frame)
    extra_eval: str | None = None
    train: dict = field(
        default_factory=dict
    )  # TrainConfig defaults of the task (`fluorogate train` starts from them)
    levels: tuple[float, ...] = (5.0, 10.0, 20.0)  # the `photons` that eval passes to `pairs` (its own unit)
    # the camera modes the task is used with: names of fluorogate.sim.camera.CAMERA_MODES entries, the first
    # the one its hardware is built for; () = the full-frame sCMOS targets (the denoiser's)
    cameras: tuple[str, ...] = ()
    # hook `(cfg: RunConfig) -> PeakConfig` when the task's hardware ends in the integer peak finder (smlm:
    # camera in, localization list out): the design the bench builds and judges is then network + peak finder
    peaks: str | None = None

    def hook(self, which: str) -> Callable:
        """The hook `which` ('pairs', 'baselines', 'extra_eval', 'peaks') as a function."""
        target = getattr(self, which)
        module, _, func = target.partition(":")
        return getattr(importlib.import_module(module), func)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "denoise",
            net="denoise",
            default_layers=4,
            pairs="fluorogate.models.data:denoise_pairs",
            baselines="fluorogate.models.baselines:denoise_baselines",
            real_crop=True,
            n2v=True,
        ),
        TaskSpec(
            "unet",
            net="unet",
            default_layers=5,
            min_layers=5,
            pairs="fluorogate.models.data:denoise_pairs",
            baselines="fluorogate.models.baselines:denoise_baselines",
            real_crop=True,
            n2v=True,
        ),
        TaskSpec(
            "sr2x",
            net="sr2x",
            default_layers=4,
            scale=2,
            pairs="fluorogate.models.data:sr2x_pairs",
            baselines="fluorogate.models.baselines:upsampling_baselines",
            cameras=(
                "ORCA-Flash4.0 V3 sub-array (256x256 @ 801 fps)",
                "ORCA-Flash4.0 V3 sub-array (512x512 @ 400 fps)",
            ),
        ),
        TaskSpec(
            "smlm",
            net="smlm",
            default_layers=3,
            scale=2,
            pairs="fluorogate.models.smlm:pairs",
            baselines="fluorogate.models.smlm:baselines",
            extra_eval="fluorogate.models.smlm:extra_eval",
            train={"photons": (500.0, 3000.0), "background": 20.0, "peak_photons": 1000.0},
            levels=(500.0, 1500.0, 3000.0),
            cameras=("iXon Ultra 897 EMCCD (512x512 @ 56 fps)",),
            peaks="fluorogate.models.smlm:hardware_peaks",
        ),
        TaskSpec(
            "sim3",
            net="sim3",
            default_layers=5,
            in_channels=3,
            scale=2,
            pairs="fluorogate.models.sim3:pairs",
            baselines="fluorogate.models.sim3:baselines",
            extra_eval="fluorogate.models.sim3:extra_eval",
            cameras=(
                "ORCA-Flash4.0 V3 sub-array (256x256 @ 801 fps)",
                "ORCA-Flash4.0 V3 (2048x2048 @ 100 fps)",
            ),
        ),
    )
}


def get_task(name: str) -> TaskSpec:
    """The registered task `name`; a one-line `UserError` naming the choices otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"task {name!r}: unknown; choose one of {', '.join(TASKS)}") from None
