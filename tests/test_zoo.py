"""The foreign-model zoo (tests/zoo.py): Brevitas models built outside `models/nets`, imported with
`import_brevitas`, each bit-exact on every back end or refused at import naming the node.

Default suite: a few derandomized examples through the import (Brevitas forward == qonnx execution ==
integer reference, checked by the import itself) and the streaming reference, and fixed examples
through hls4ml's C-sim, the RTL under cocotb and (half_up) FINN. `slow`: many more of both.
`FLUOROGATE_ZOO_LEDGER=file.jsonl` records every model's outcome (tests/zoo.py `Ledger`).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from zoo import (
    Ledger,
    Op,
    ZooSpec,
    backend_refusal,
    check_finn,
    check_hls4ml,
    check_rtl,
    check_streaming,
    frames_for,
    hardware_frame,
    import_or_refusal,
    zoo_specs,
)

from fluorogate.errors import UserError

LEDGER = Ledger()
QUICK = settings(
    derandomize=True,
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MANY = settings(QUICK, derandomize=False, max_examples=300)

# The model of issue 15: 5 convs, 12 channels, W3A6, a 1x1 conv, an add of two unsigned branches, a
# concat with the input, camera front end, Brevitas's default rounding.
ISSUE_15 = ZooSpec(
    1,
    6,
    False,
    True,
    "half_even",
    (
        Op("conv", (0,), channels=12, kernel=3, bias=True, bits=3),
        Op("relu", (1,), bits=6),
        Op("conv", (2,), channels=12, kernel=3, bias=True, bits=3),
        Op("relu", (3,), bits=6),
        Op("conv", (2,), channels=12, kernel=1, bias=True, bits=3),
        Op("relu", (5,), bits=6),
        Op("add", (4, 6)),
        Op("relu", (7,), bits=6),
        Op("conv", (8,), channels=12, kernel=3, bias=True, bits=3),
        Op("relu", (9,), bits=6),
        Op("concat", (10, 0)),
        Op("conv", (11,), channels=1, kernel=3, bias=False, bits=3),
        Op("relu", (12,), bits=6),
    ),
    seed=0,
)
# A half_up U-Net in small without a camera: signed 1x1 requant, maxpool, upsample, concat across levels.
UNET_HALF_UP = ZooSpec(
    1,
    8,
    False,
    False,
    "half_up",
    (
        Op("conv", (0,), channels=4, kernel=3, bias=True, bits=4),
        Op("relu", (1,), bits=8),
        Op("maxpool", (2,)),
        Op("conv", (3,), channels=6, kernel=1, bias=True, bits=5),
        Op("relu", (4,), bits=7),
        Op("upsample", (5,)),
        Op("concat", (6, 2)),
        Op("conv", (7,), channels=2, kernel=3, bias=False, bits=6),
        Op("relu", (8,), bits=8),
    ),
    seed=3,
)

# Found by the zoo: an upsample straight after a conv (no quantizer between; hls4ml's resize streams
# one type in and out).
CONV_UPSAMPLE = ZooSpec(
    1,
    6,
    False,
    False,
    "half_even",
    (Op("conv", (0,), channels=3, kernel=1, bias=True, bits=4), Op("upsample", (1,))),
    seed=0,
)
# Found by the zoo: the output is a conv's accumulator, 8-bit weights on 8-bit codes (values with more
# significant digits than hls4ml's testbench printed).
CONV_OUTPUT = ZooSpec(
    1, 8, False, False, "half_even", (Op("conv", (0,), channels=4, kernel=3, bias=True, bits=8),), seed=0
)
# Found by the zoo: a conv with a bias reading a bias-free conv's accumulator (hls4ml's default-typed zero
# bias makes both inferred accumulators finer than the IR's).
CONV_CONV = ZooSpec(
    1,
    7,
    True,
    False,
    "half_up",
    (
        Op("conv", (0,), channels=5, kernel=1, bias=False, bits=6),
        Op("conv", (1,), channels=2, kernel=3, bias=True, bits=5),
        Op("relu", (2,), bits=7),
    ),
    seed=0,
)

# Found by the zoo: a signed quantizer straight on the unsigned camera codes (FINN kept its negative
# thresholds and its Thresholding layer refused them).
SIGNED_ON_CAMERA = ZooSpec(
    1,
    5,
    False,
    True,
    "half_up",
    (
        Op("requant", (0,), bits=5, signed=True),
        Op("conv", (1,), channels=3, kernel=1, bias=False, bits=4),
        Op("relu", (2,), bits=4),
    ),
    seed=0,
)

# Found by the zoo: the output is a concat of a signed conv accumulator and a narrower unsigned one (the
# RTL packed the narrow channel by selecting past its wire's width: X on m_axis).
CONCAT_OUTPUT = ZooSpec(
    1,
    6,
    False,
    True,
    "half_up",
    (
        Op("conv", (0,), channels=2, kernel=1, bias=True, bits=4),
        Op("relu", (1,), bits=3),
        Op("conv", (2,), channels=1, kernel=3, bias=True, bits=5),
        Op("concat", (3, 1)),
    ),
    seed=1782,
)

# Found by the zoo: a requant that changes nothing (a 6-bit requant of a max pool of a 6-bit requant, the
# same scale): hls4ml leaves it out, the IR keeps it.
IDENTITY_REQUANT = ZooSpec(
    2,
    5,
    False,
    False,
    "half_up",
    (
        Op("requant", (0,), bits=2),
        Op("requant", (1,), bits=6),
        Op("maxpool", (2,)),
        Op("requant", (3,), bits=6),
        Op("conv", (4,), channels=2, kernel=1, bias=True, bits=4),
        Op("relu", (5,), bits=4),
    ),
    seed=19045,
)


def _imported(spec: ZooSpec, tmp_path_factory):
    """(module, run) of an imported spec, or None after recording a refusal (which names the node)."""
    module, run = import_or_refusal(spec, tmp_path_factory.mktemp("zoo") / "run")
    if isinstance(run, str):
        LEDGER.record(spec, {"import": run})
        return None
    return module, run


def _check_import(spec: ZooSpec, tmp_path_factory) -> None:
    got = _imported(spec, tmp_path_factory)
    if got is None:
        return
    _, run = got
    check = run.source.check
    outcome = {"import": "exact"}
    for key in ("brevitas_forward", "qonnx_execution"):
        res = check[key]
        assert "skipped" in res or res["mismatches"] == 0, (spec.describe(), key, res)
        outcome[key] = "exact" if res.get("mismatches") == 0 else str(res)
    if spec.in_channels == 1:
        assert check_streaming(run.graph, frames_for(run.graph, 2, spec.seed), spec.seed) == 0, (
            spec.describe()
        )
        outcome["streaming"] = "exact"
    LEDGER.record(spec, outcome)


@QUICK
@example(spec=ISSUE_15)
@example(spec=UNET_HALF_UP)
@given(spec=zoo_specs())
def test_foreign_models_import_bit_exact_or_refused(spec, tmp_path_factory):
    _check_import(spec, tmp_path_factory)


@pytest.mark.slow
@MANY
@given(spec=zoo_specs())
def test_many_foreign_models_import_bit_exact_or_refused(spec, tmp_path_factory):
    _check_import(spec, tmp_path_factory)


def _run_backend(outcome: dict, name: str, check) -> None:
    """`check()` must pass; a back end's clear refusal (naming the node) is recorded instead."""
    try:
        check()
    except UserError as exc:
        if backend_refusal(exc) is None:
            raise
        outcome[name] = str(exc)
        return
    outcome[name] = "exact"


def _check_hardware(spec: ZooSpec, tmp_path_factory) -> None:
    got = _imported(spec, tmp_path_factory)
    if got is None:
        return
    _, run = got
    work = run.path.parent
    frames = frames_for(run.graph, 2, spec.seed, hardware_frame(spec))
    outcome = {"import": "exact"}

    def hls4ml():
        assert check_hls4ml(run, work, frames) == 0, spec.describe()

    def rtl():
        res = check_rtl(run, work / "rtl", frames, spec.seed)
        assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == len(frames), (
            spec.describe(),
            res.mismatches[:3],
        )

    def finn():
        steps = check_finn(run, work, hardware_frame(spec))["steps"]
        assert len(steps) == 16 and all(s["mismatches"] == 0 for s in steps), spec.describe()

    _run_backend(outcome, "hls4ml_csim", hls4ml)
    _run_backend(outcome, "rtl_cocotb", rtl)
    if spec.rounding == "half_up":
        _run_backend(outcome, "finn", finn)
    LEDGER.record(spec, outcome)


@pytest.mark.integration
@pytest.mark.parametrize(
    "spec",
    [ISSUE_15, pytest.param(UNET_HALF_UP, marks=pytest.mark.slow)],
    ids=["issue15-1x1-add-concat", "unet-half-up"],
)
def test_foreign_model_on_every_back_end(spec, tmp_path_factory):
    _check_hardware(spec, tmp_path_factory)


@pytest.mark.integration
@pytest.mark.parametrize(
    "spec",
    [CONV_UPSAMPLE, CONV_OUTPUT, CONV_CONV, IDENTITY_REQUANT],
    ids=["conv-upsample", "conv-output", "conv-after-bias-free-conv", "identity-requant"],
)
def test_zoo_findings_in_hls4ml_csim(spec, tmp_path_factory):
    """The zoo's hls4ml findings, each on its smallest model: C-sim bit-exact with the reference."""
    _, run = _imported(spec, tmp_path_factory)
    assert check_hls4ml(run, run.path.parent, frames_for(run.graph, 2, spec.seed)) == 0


@pytest.mark.integration
@pytest.mark.parametrize("spec", [CONCAT_OUTPUT], ids=["concat-output-narrow-channel"])
def test_zoo_findings_in_the_rtl(spec, tmp_path_factory):
    """The zoo's RTL findings, each on its smallest model: cocotb bit-exact, gaps and backpressure."""
    _, run = _imported(spec, tmp_path_factory)
    frames = frames_for(run.graph, 2, spec.seed, hardware_frame(spec))
    res = check_rtl(run, run.path.parent / "rtl", frames, spec.seed)
    assert res.ok and not res.mismatches and res.flag_errors == 0 and res.frames_out == len(frames)


@pytest.mark.integration
@pytest.mark.parametrize("spec", [SIGNED_ON_CAMERA], ids=["signed-quant-on-camera-codes"])
def test_zoo_findings_in_finn(spec, tmp_path_factory):
    """The zoo's FINN findings, each on its smallest half_up model: bit-exact after every build step."""
    _, run = _imported(spec, tmp_path_factory)
    steps = check_finn(run, run.path.parent)["steps"]
    assert len(steps) == 16 and all(s["mismatches"] == 0 for s in steps)


@pytest.mark.slow
@pytest.mark.integration
@settings(MANY, max_examples=25, phases=[Phase.explicit, Phase.generate])  # no shrinking: minutes per model
@given(spec=zoo_specs(max_ops=6))
def test_many_foreign_models_on_every_back_end(spec, tmp_path_factory):
    _check_hardware(spec, tmp_path_factory)


def test_hls4ml_refuses_a_graph_without_conv_or_pool_naming_the_node(tmp_path_factory):
    """Without a conv or pool the graph stays channels-first, which hls4ml 1.3 builds for the wrong layout
    (a Resize's stream width, the frame's shape, a multi-channel input's Transpose): refused, naming a
    node."""
    from fluorogate.hls.hls4ml.prepare import prepare_qonnx

    for ops, channels, node in (
        ((Op("upsample", (0,)),), 1, r"Resize_0 \(Resize\)"),
        ((Op("requant", (0,), bits=6),), 1, r"Quant_1 \(Quant\)"),
        ((Op("relu", (0,), bits=5), Op("add", (0, 1))), 2, r"Relu_0 \(Relu\)"),
    ):
        _, run = _imported(ZooSpec(channels, 4, False, False, "half_even", ops), tmp_path_factory)
        with pytest.raises(UserError, match=rf"node {node}: the graph has no conv and no max pool"):
            prepare_qonnx(run.qonnx_path, 8, 8)
