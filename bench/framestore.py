"""External frame store for multi-frame tasks (sim3): bytes per output image, bandwidth, and a verdict.

A task that needs `frames` camera frames per output image (sim3: 3 raw SIM frames) holds the earlier
ones while the last arrives. The scheme is `fg_framebuf3.v`'s, with the memory outside the FPGA when
the frames do not fit in block RAM: frames 1..F-1 of each set are written (sequential addresses, one
write stream at the camera rate R), and while frame F streams in, each of its pixels leaves with the
F-1 stored pixels at its address (F-1 sequential read streams, (F-1) R together; frame F itself is not
stored). Per output image: (F-1) frames written and (F-1) frames read. The peak demand is the read
phase, (F-1) R b; the memory must sustain it, averaged over a frame (the controller prefetches
`chunk_bytes` per stream into an on-chip FIFO, which also absorbs the camera's line blanking).

Sustained bandwidth = peak x burst efficiency x (1 - refresh share), where every chunk is charged one
row switch (precharge + activate + CAS latency + bus turnaround): the worst case, since the streams
take turns and each may land in another row of the same bank. These are data-sheet timings and a
controller's chunking, stated per memory below; no controller was built or measured here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fluorogate.bench.keep_up import CameraMode

DP16KD_WORDS_X9 = (
    2048  # ECP5 block RAM in its 2048 x 9 mode: one 8-bit pixel per word (yosys maps fg_framebuf3 so)
)
ON_CHIP_BUDGET_BLOCKS = (
    100  # of the LFE5U-85F's 208 DP16KD: about half, the network's line buffers need the rest
)


@dataclass(frozen=True)
class MemorySpec:
    """An external memory as the frame store sees it: bus, clock, size, and the timings that cost
    bandwidth."""

    name: str
    bus_bits: int
    clock_mhz: float
    transfers_per_clock: int  # 1 SDR, 2 DDR
    capacity_bytes: int
    row_switch_ns: float  # precharge + activate + CAS latency + read/write turnaround, charged once per chunk
    refresh_ns: float  # tRFC: the memory is busy this long ...
    refresh_interval_ns: float  # ... once per tREFI
    chunk_bytes: int  # what the controller moves per stream before switching to the next stream

    @property
    def peak_bytes_s(self) -> float:
        return self.bus_bits / 8 * self.clock_mhz * 1e6 * self.transfers_per_clock

    @property
    def burst_efficiency(self) -> float:
        data_ns = self.chunk_bytes / self.peak_bytes_s * 1e9
        return data_ns / (data_ns + self.row_switch_ns)

    @property
    def refresh_share(self) -> float:
        return self.refresh_ns / self.refresh_interval_ns

    @property
    def sustained_bytes_s(self) -> float:
        return self.peak_bytes_s * self.burst_efficiency * (1 - self.refresh_share)


# ULX3S: one 32 MB 16-bit SDR SDRAM (16M x 16, 4 banks, 512-word rows; AS4C16M16SB / IS42S16160 class)
# at 133 MHz, CL 3: tRP + tRCD = 2 x 20 ns, CL 3 cycles, 1 turnaround cycle; tRFC 63 ns, 8192 refreshes
# per 64 ms.
SDRAM_ULX3S = MemorySpec(
    "ULX3S SDR SDRAM (16-bit, 133 MHz, 32 MB)",
    bus_bits=16,
    clock_mhz=133.0,
    transfers_per_clock=1,
    capacity_bytes=32 << 20,
    row_switch_ns=40.0 + 4 / 133e6 * 1e9,
    refresh_ns=63.0,
    refresh_interval_ns=64e6 / 8192,
    chunk_bytes=512,
)
# DDR3-800 x16 (400 MHz clock, the ECP5's DDR3 limit; 2 Gbit part, e.g. the ECP5 Versa / OrangeCrab class):
# tRP = tRCD = 13.75 ns, CL 6 = 15 ns, write-to-read turnaround ~7.5 ns; tRFC 160 ns every 7.8 us.
DDR3_X16 = MemorySpec(
    "DDR3-800 x16 (400 MHz, 256 MB)",
    bus_bits=16,
    clock_mhz=400.0,
    transfers_per_clock=2,
    capacity_bytes=256 << 20,
    row_switch_ns=13.75 + 13.75 + 15.0 + 7.5,
    refresh_ns=160.0,
    refresh_interval_ns=7800.0,
    chunk_bytes=512,
)
MEMORIES = (SDRAM_ULX3S, DDR3_X16)


def on_chip_blocks(width: int, height: int, frames: int, bits: int) -> int:
    """DP16KD blocks that hold `frames - 1` stored frames on chip (x9 mode: ceil(bits / 9) blocks per
    word)."""
    return (frames - 1) * math.ceil(width * height / DP16KD_WORDS_X9) * math.ceil(bits / 9)


def frame_store(cam: CameraMode, memory: MemorySpec, frames: int = 3, bits: int = 8) -> dict:
    """Traffic and verdict for one camera mode on one memory; `bits` per stored pixel (whole bytes in memory).

    8-bit input codes (the camera conversion in front of the store) need half of 16-bit ADU's bytes.
    """
    stored = frames - 1
    frame_bytes = cam.width * cam.height * math.ceil(bits / 8)
    need = stored * frame_bytes * cam.fps  # bytes/s while the last frame of a set streams in (reads)
    sustained = memory.sustained_bytes_s
    fits = stored * frame_bytes <= memory.capacity_bytes
    ok = fits and need <= sustained
    short = (
        ""
        if ok
        else (
            f"needs {need / sustained:.2f}x its sustained bandwidth"
            if fits
            else f"needs {stored * frame_bytes >> 20} MiB, has {memory.capacity_bytes >> 20}"
        )
    )
    return {
        "camera": cam.name,
        "memory": memory.name,
        "bits_stored": bits,
        "written_per_output_mb": round(stored * frame_bytes / 1e6, 3),
        "read_per_output_mb": round(stored * frame_bytes / 1e6, 3),
        "write_mb_s": round(frame_bytes * cam.fps / 1e6, 1),
        "read_peak_mb_s": round(need / 1e6, 1),
        "average_mb_s": round(2 * stored * frame_bytes * cam.fps / frames / 1e6, 1),
        "peak_mb_s": round(memory.peak_bytes_s / 1e6, 1),
        "burst_efficiency": round(memory.burst_efficiency, 3),
        "refresh_share": round(memory.refresh_share, 4),
        "sustained_mb_s": round(sustained / 1e6, 1),
        "utilisation": round(need / sustained, 3),
        "max_camera_fps": round(sustained / (stored * frame_bytes), 1),
        "suffices": ok,
        "verdict": "yes" if ok else f"no: {short}",
    }


def free_blocks(build: dict | None = None) -> tuple[int, str]:
    """DP16KD blocks a frame buffer may take, and where that number comes from: what the routed network
    left free when there is a build (`bench.fpga.read_build`'s dict), else `ON_CHIP_BUDGET_BLOCKS`."""
    bram = (build or {}).get("placed", {}).get("DP16KD")
    if bram:
        return bram["available"] - bram[
            "used"
        ], f"free beside the network's {bram['used']} of {bram['available']}"
    return ON_CHIP_BUDGET_BLOCKS, "budgeted, no routed build"


def frame_buffer_place(
    cam: CameraMode, frames: int, bits: int = 8, build: dict | None = None
) -> tuple[bool, str]:
    """(on chip?, why) for holding `frames - 1` camera frames of `cam` as `bits`-bit codes: fg_framebuf3 on
    chip when its blocks fit `free_blocks(build)`, else external memory. The fpga and framestore sections
    both answer with this, so they cannot disagree for one build."""
    blocks = on_chip_blocks(cam.width, cam.height, frames, bits)
    free, source = free_blocks(build)
    if blocks <= free:
        return True, f"on chip: fg_framebuf3, {blocks} DP16KD ({free} {source})"
    return False, f"external memory: {blocks} DP16KD worth ({free} {source}); see the framestore section"


def frame_store_rows(
    cameras: tuple[CameraMode, ...],
    frames: int,
    bits: int = 8,
    memories: tuple[MemorySpec, ...] = MEMORIES,
    build: dict | None = None,
) -> list[dict]:
    """Per camera mode: on chip when its stored frames fit (`frame_buffer_place`), else each external
    memory."""
    rows = []
    for cam in cameras:
        on_chip, why = frame_buffer_place(cam, frames, bits, build)
        if on_chip:
            rows.append(
                {
                    "camera": cam.name,
                    "memory": "on chip (fg_framebuf3): "
                    f"{on_chip_blocks(cam.width, cam.height, frames, bits)} DP16KD",
                    "bits_stored": bits,
                    "suffices": True,
                    "verdict": f"yes: {why}",
                }
            )
            continue
        rows += [frame_store(cam, mem, frames, bits) for mem in memories]
    return rows
