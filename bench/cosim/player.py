"""The HDL stream player's files: stimulus and tready in, accepted-input and output-beat logs out.

`bench/cobench/cosim/tb/fg_stream_player.v` wraps a generated top and does the bench's per-cycle work inside the
simulator (see its header for the protocol); this module is its Python side: `player_files` writes a
`BeatStream` and a tready pattern in the formats the player reads and returns the plusargs naming
them, `read_logs` parses what the player recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from fluorogate.errors import UserError
from fluorogate.sim.stream import BeatStream, pack_tdata

PLAYER_TOP = "fg_stream_player"
READY_DEPTH = 65536  # fg_stream_player's READY_DEPTH: the longest tready pattern it holds


def player_source() -> Path:
    """The player's Verilog, shipped as package data beside the cocotb benches."""
    return Path(str(resources.files("fluorogate.bench.cosim") / "tb" / f"{PLAYER_TOP}.v"))


def player_defines(top: str, in_width: int, out_width: int) -> dict[str, object]:
    """The macros the player is compiled with: the wrapped module's name and its tdata widths."""
    return {"FG_DUT": top, "FG_IN_W": in_width, "FG_OUT_W": out_width}


def player_files(stream: BeatStream, in_bits: int, ready: np.ndarray, folder: Path, n_out: int,
                 max_cycles: int) -> list[str]:
    """Write the stimulus and tready files into `folder`; return the player's plusargs.

    One stimulus line per stream cycle: flags {valid, user, last} and the packed tdata (lane l in bits
    [l*in_bits, (l+1)*in_bits)), both hex. The logs' paths are named too (they are written by the player).
    """
    if len(ready) > READY_DEPTH:
        raise UserError(f"tready pattern of {len(ready)} cycles: the HDL player holds at most {READY_DEPTH}")
    folder.mkdir(parents=True, exist_ok=True)
    masked = BeatStream(stream.data & ((1 << in_bits) - 1), stream.valid, stream.user, stream.last)
    words = pack_tdata(masked, in_bits)  # two's complement lanes, as the design reads them
    flags = np.char.mod("%x", stream.valid.astype(np.int64) << 2 | stream.user.astype(np.int64) << 1
                        | stream.last.astype(np.int64))
    paths = {name: folder / f"{name}.txt" for name in ("fg_in", "fg_ready", "fg_in_log", "fg_out_log")}
    paths["fg_in"].write_text("".join(f"{f} {w:x}\n" for f, w in zip(flags, words, strict=True)))
    paths["fg_ready"].write_text("".join("1\n" if r else "0\n" for r in np.asarray(ready, bool)))
    for log in ("fg_in_log", "fg_out_log"):
        paths[log].unlink(missing_ok=True)
    counts = {"fg_n_ready": len(ready), "fg_n_out": n_out, "fg_max_cycles": max_cycles}
    return [f"+{k}={p}" for k, p in paths.items()] + [f"+{k}={v}" for k, v in counts.items()]


@dataclass
class PlayerLogs:
    """What the player recorded: accepted input beats' cycles; output beats' cycles, tdata, (tuser, tlast)."""

    in_cycles: list[int]
    out_cycles: list[int]
    words: list[int]
    flags: list[tuple[int, int]]


def read_logs(folder: Path) -> PlayerLogs:
    """Parse the player's logs in `folder`; an X or Z on tdata, tuser or tlast is an AssertionError naming the beat."""
    in_cycles = [int(x) for x in (folder / "fg_in_log.txt").read_text().split()]
    out_cycles, words, flags = [], [], []
    for k, line in enumerate((folder / "fg_out_log.txt").read_text().splitlines()):
        cycle, word, ul = line.split()
        try:
            words.append(int(word, 16))
            user_last = int(ul)
        except ValueError:
            raise AssertionError(f"output beat {k} (cycle {cycle}) is undefined: tdata {word}, "
                                 f"{{tuser, tlast}} {ul}") from None
        out_cycles.append(int(cycle))
        flags.append((user_last >> 1, user_last & 1))
    return PlayerLogs(in_cycles, out_cycles, words, flags)
