"""The HDL frame player's files: binary stimulus and tready in, accepted-input and output-beat logs out.

`bench/cosim/tb/fg_frame_player.v` wraps a generated top and does all per-cycle work inside the
simulator (see its header for the protocol and the record layouts); this module is its Python side:
`PlayerPorts` (the widths it is compiled for), `stimulus_records` / `write_ready` (what it reads),
`OutLog` and `read_in_log` (what it wrote), `unpack_fields` (tdata words to pixels), all numpy, so a
2048x2048 frame's 4 million beats take tens of milliseconds to write or read.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from fluorogate.errors import UserError
from fluorogate.sim.stream import BeatStream

PLAYER_TOP = "fg_frame_player"
READY_DEPTH = 65536  # fg_frame_player's ready memory: the longest tready pattern it holds


def player_sources() -> tuple[Path, Path]:
    """The player's Verilog and its Verilator main (C++), shipped beside the cocotb benches."""
    tb = resources.files("fluorogate.bench.cosim") / "tb"
    return Path(str(tb / f"{PLAYER_TOP}.v")), Path(str(tb / "fg_player_main.cpp"))


@dataclass(frozen=True)
class PlayerPorts:
    """What the player is compiled for: the generated top, its input lanes and pixel width, and the
    width of m_axis tdata (`out_width`: output lanes x channels x bits)."""

    top: str
    lanes: int
    lane_bits: int
    out_width: int

    def __post_init__(self) -> None:
        if not 1 <= self.lane_bits <= 64:
            raise UserError(f"the frame player takes input pixels of 1 to 64 bits, not {self.lane_bits}")

    @property
    def lane_bytes(self) -> int:
        return (self.lane_bits + 7) // 8

    @property
    def record_bytes(self) -> int:
        return 1 + self.lanes * self.lane_bytes

    @property
    def out_words(self) -> int:
        """32-bit words of tdata in an output record."""
        return (self.out_width + 31) // 32

    def defines(self) -> dict[str, object]:
        return {
            "FG_DUT": self.top,
            "FG_LANES": self.lanes,
            "FG_LANE_BITS": self.lane_bits,
            "FG_LANE_BYTES": self.lane_bytes,
            "FG_OUT_W": self.out_width,
        }


def stimulus_records(stream: BeatStream, ports: PlayerPorts) -> np.ndarray:
    """(cycles, record_bytes) uint8: per stream cycle the flag byte {valid, user, last, 0...} and the
    lanes, last lane first, each big-endian in `lane_bytes` (two's complement masked to `lane_bits`)."""
    if stream.lanes != ports.lanes:
        raise UserError(f"the stream has {stream.lanes} lane(s); the design takes {ports.lanes}")
    n = len(stream)
    rec = np.empty((n, ports.record_bytes), np.uint8)
    rec[:, 0] = (
        (stream.valid.astype(np.uint8) << 7)
        | (stream.user.astype(np.uint8) << 6)
        | (stream.last.astype(np.uint8) << 5)
    )
    mask = np.uint64((1 << ports.lane_bits) - 1)
    lanes = (stream.data.astype(np.uint64) & mask).astype(">u8").view(np.uint8).reshape(n, ports.lanes, 8)
    rec[:, 1:] = lanes[:, ::-1, 8 - ports.lane_bytes :].reshape(n, -1)
    return rec


def write_ready(ready: np.ndarray, path: Path) -> int:
    """The consumer's tready pattern, one bit per line; returns its length (the player repeats it)."""
    ready = np.asarray(ready, bool).ravel()
    if not 1 <= len(ready) <= READY_DEPTH:
        raise UserError(f"tready pattern of {len(ready)} cycles: the HDL player holds 1 to {READY_DEPTH}")
    path.write_text("".join("1\n" if r else "0\n" for r in ready))
    return len(ready)


def read_in_log(path: Path) -> np.ndarray:
    """The cycle of every accepted input beat (int64)."""
    return np.fromfile(path, dtype="<u4").astype(np.int64)


@dataclass
class OutBeats:
    """Output beats as the player logged them: cycle, tuser, tlast and tdata as 32-bit words (LS first)."""

    cycles: np.ndarray  # (n,) int64
    user: np.ndarray  # (n,) bool
    last: np.ndarray  # (n,) bool
    words: np.ndarray  # (n, out_words) uint32

    def __len__(self) -> int:
        return len(self.cycles)


class OutLog:
    """Reads the player's output log (`fg_out_log`) in order, while the simulator is still writing it:
    `read(n)` returns the next n beats (the player flushes the log before announcing a frame)."""

    def __init__(self, path: Path, ports: PlayerPorts):
        self.path, self.words = path, 2 + ports.out_words
        self._fh = None

    def read(self, count: int | None = None) -> OutBeats:
        if self._fh is None:
            self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open across calls, closed in close()
        size = 4 * self.words
        raw = self._fh.read() if count is None else self._fh.read(count * size)
        if len(raw) % size or (count is not None and len(raw) != count * size):
            raise RuntimeError(f"{self.path}: {len(raw)} bytes where {count} output records were announced")
        rec = np.frombuffer(raw, dtype="<u4").reshape(-1, self.words)
        return OutBeats(
            rec[:, 0].astype(np.int64), (rec[:, 1] & 2).astype(bool), (rec[:, 1] & 1).astype(bool), rec[:, 2:]
        )

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def unpack_fields(words: np.ndarray, fields: int, bits: int, signed: bool) -> np.ndarray:
    """tdata as (n, k) 32-bit words (least significant first) -> (n, fields) int64: field f at bits
    [f*bits, (f+1)*bits), sign-extended when `signed`. Fields of up to 32 bits."""
    if not 1 <= bits <= 32:
        raise UserError(f"output fields of {bits} bits: the player's reader takes 1 to 32")
    words = np.asarray(words, np.uint64)
    padded = np.concatenate([words, np.zeros((len(words), 1), np.uint64)], axis=1)
    out = np.empty((len(words), fields), np.int64)
    mask = np.uint64((1 << bits) - 1)
    for f in range(fields):
        w, s = divmod(f * bits, 32)
        pair = padded[:, w] | (padded[:, w + 1] << np.uint64(32))
        out[:, f] = ((pair >> np.uint64(s)) & mask).astype(np.int64)
    if signed:
        out = np.where(out >= 1 << (bits - 1), out - (1 << bits), out)
    return out
