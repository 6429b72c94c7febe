"""Typed settings of an hls4ml build: backend, board or part, clock, frame size, FIFO model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fluorogate.errors import UserError


class Board(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    part: str
    description: str


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(name="pynq-z2", part="xc7z020clg400-1", description="TUL PYNQ-Z2, Zynq-7020"),
        Board(name="zcu104", part="xczu7ev-ffvc1156-2-e", description="AMD ZCU104, Zynq UltraScale+ ZU7EV"),
        Board(name="u250", part="xcu250-figd2104-2L-e", description="AMD Alveo U250"),
    )
}
BACKENDS = {"vitis": "Vitis", "vivado": "Vivado"}


class HlsBuildConfig(BaseModel):
    """One hls4ml project. `part` wins over `board` when both are given; default board PYNQ-Z2."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["vitis", "vivado"] = "vitis"
    board: str | None = None
    part: str | None = None
    clock_ns: float = Field(default=5.0, gt=0, le=100)
    width: int = Field(default=64, ge=4, le=8192, description="frame width the project is built for")
    height: int = Field(default=64, ge=4, le=8192)
    project_name: str = Field(default="fluorogate_net", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # Types hls4ml infers from the QONNX or we set from the IR override this; it must be concrete:
    # 'auto' makes hls4ml 1.3's ONNX conversion loop forever (measured).
    default_precision: str = "fixed<32,16>"
    reuse_factor: int = Field(default=1, ge=1)
    fifo_latency: int = Field(default=16, ge=0, description="assumed pipeline latency per layer, cycles")
    fifo_slack: int = Field(default=8, ge=1, description="extra entries on every stream")
    line_gap: int = Field(default=2, ge=0, description="camera idle beats per line the FIFO model assumes")

    @field_validator("default_precision")
    @classmethod
    def _not_auto(cls, v: str) -> str:
        if v.strip().lower() == "auto":
            raise ValueError(
                "default_precision 'auto' hangs hls4ml 1.3's ONNX conversion; give a type "
                "such as fixed<32,16>"
            )
        return v

    @model_validator(mode="after")
    def _known_board(self) -> HlsBuildConfig:
        if self.board is not None and self.board.lower() not in BOARDS:
            raise ValueError(f"unknown board {self.board!r}; known: {', '.join(BOARDS)} (or give --part)")
        return self

    @property
    def fpga_part(self) -> str:
        if self.part:
            return self.part
        return BOARDS[(self.board or "pynq-z2").lower()].part

    @property
    def hls4ml_backend(self) -> str:
        return BACKENDS[self.backend]


def make_config(**kwargs) -> HlsBuildConfig:
    """`HlsBuildConfig(**kwargs)` with a one-line `UserError` instead of a pydantic report."""
    from pydantic import ValidationError

    try:
        return HlsBuildConfig(**kwargs)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise UserError(f"hls config {where}: {err['msg']}") from exc
