"""The integer peak finder after an SMLM density map: output codes -> a localization list stream.

Per pixel of the density map (unsigned codes `v`, raster order), on its 3x3 window (zero outside):
- peak: `v > threshold` and the 3x3 rule of `fluorogate.sim.localize.local_maxima` (strictly above the
  four neighbours earlier in raster order, >= the four later ones; a plateau gives one peak);
- `w = max(v - baseline, 0)` per tap (`baseline` = the target's pedestal in codes);
  `S = sum w`, `Sy = sum dy w`, `Sx = sum dx w` (dy, dx in -1, 0, 1);
- centroid in fixed point with `frac_bits` F: `q = sign(Sy) ((2 |Sy| 2**F + S) // (2 S))` (round half
  away from zero; |q| <= 2**F as |Sy| <= S), then the bias-correction table
  (`fluorogate.sim.localize.centroid_table`, rounded to F bits): `oy = table[q + 2**F]`.
A record is (row, col, oy, ox, S): position `row + oy / 2**F` output pixels, photons `S` codes (x 2**shift
ADU, / ADU per photon, / the 3x3 capture fraction at (oy, ox), on the host: `to_localizations`). Two peaks
are never 8-neighbours (the tie rule), so at most one record per two pixels of a line.

Stream: one 64-bit word per record, `col | row << 16 | (ox & 255) << 32 | (oy & 255) << 40 | S << 48`,
in raster order, then an end-of-frame word holding the frame's number (bits 0-31, counted from 0 by
the hardware; S = 0 never occurs in a record, as v > threshold >= baseline) with TLAST. `fg_peaks3.v`
emits exactly these words at any number of map pixels per beat (tests/test_firmware_peaks.py), as long
as its FIFO does not fill; when it does it drops a beat's records whole and counts them, never a frame
end (`received_ok` checks a list with drops against the reference; `fifo_depth` sizes the FIFO).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fluorogate.sim.localize import LOC_DTYPE, centroid_table, density_capture3, local_maxima, window3_sums

RECORD_DTYPE = np.dtype(
    [("row", np.int64), ("col", np.int64), ("oy", np.int64), ("ox", np.int64), ("s", np.int64)]
)


class PeakConfig(BaseModel):
    """The peak finder's integer parameters (codes of the density map's output quantizer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: int = Field(ge=0, lt=2**16, description="a peak's code must exceed this")
    baseline: int = Field(default=0, ge=0, description="code subtracted from every tap before the sums")
    frac_bits: int = Field(default=5, ge=1, le=6)
    sigma_out: float = Field(default=1.0, gt=0, description="the target's Gaussian sigma, output px")

    @model_validator(mode="after")
    def _check(self) -> PeakConfig:
        if self.baseline > self.threshold:
            raise ValueError(f"baseline {self.baseline} above threshold {self.threshold}: S could be 0")
        return self

    def table(self) -> np.ndarray:
        """Centroid -> offset table in F-bit fixed point (2**(F+1) + 1 signed entries)."""
        return np.rint(centroid_table(self.sigma_out, self.frac_bits) * 2**self.frac_bits).astype(np.int64)


def _quotient(num: np.ndarray, s: np.ndarray, frac_bits: int) -> np.ndarray:
    """round(num / s * 2**F), halves away from zero, in integers."""
    return np.sign(num) * ((2 * np.abs(num) * 2**frac_bits + s) // (2 * s))


def peak_records(codes: np.ndarray, cfg: PeakConfig) -> np.ndarray:
    """RECORD_DTYPE rows of one frame of codes (H, W), raster order."""
    v = np.asarray(codes, np.int64)
    w = np.clip(v - cfg.baseline, 0, None)
    rows, cols, s, sy, sx = window3_sums(w, local_maxima(v, cfg.threshold))
    table, half = cfg.table(), 2**cfg.frac_bits
    rec = np.zeros(len(rows), RECORD_DTYPE)
    rec["row"], rec["col"], rec["s"] = rows, cols, s
    rec["oy"] = table[_quotient(sy, s, cfg.frac_bits) + half]
    rec["ox"] = table[_quotient(sx, s, cfg.frac_bits) + half]
    return rec


def pack(rec: np.ndarray) -> np.ndarray:
    """Records -> 64-bit stream words (uint64)."""
    u = np.uint64
    return (
        rec["col"].astype(u)
        | rec["row"].astype(u) << u(16)
        | (rec["ox"] & 255).astype(u) << u(32)
        | (rec["oy"] & 255).astype(u) << u(40)
        | rec["s"].astype(u) << u(48)
    )


def frame_words(codes: np.ndarray, cfg: PeakConfig, frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The stream of frame number `frame`: (words, tlast flags), the end-of-frame word last."""
    words = np.append(pack(peak_records(codes, cfg)), np.uint64(frame % 2**32))
    last = np.zeros(len(words), bool)
    last[-1] = True
    return words, last


def to_localizations(
    rec: np.ndarray, frame: int, cfg: PeakConfig, scale: int, shift: int, adu_per_photon: float
) -> np.ndarray:
    """Records -> LOC_DTYPE in camera pixels (centres at integers) and photons (code = 2**shift ADU)."""
    loc = np.zeros(len(rec), LOC_DTYPE)
    f = 2.0**cfg.frac_bits
    loc["frame"] = frame
    loc["y_px"] = (rec["row"] + rec["oy"] / f + 0.5) / scale - 0.5
    loc["x_px"] = (rec["col"] + rec["ox"] / f + 0.5) / scale - 0.5
    dy, dx = rec["oy"] / f, rec["ox"] / f
    loc["photons"] = rec["s"] * 2.0**shift / adu_per_photon / density_capture3(dy, dx, cfg.sigma_out)
    return loc


def fifo_depth(width: int, lanes: int) -> int:
    """The FIFO depth (entries) of `fg_peaks3` for a `width`-wide map at `lanes` pixels per beat.

    Two peaks are never 8-neighbours, so a beat holds at most ceil(lanes / 2) records and a line at most
    width / 2 (a peak every other column; the next line then has none). With a word per clock out, a
    line of such beats leaves width / lanes x (1 - 2 / lanes) entries behind (0 at 1 or 2 lanes); plus 8
    for the frame end and the FIFO's own cycles, rounded up to a power of two (block RAM depth is free).
    """
    need = int(np.ceil(width / lanes * max(0.0, 1 - 2 / lanes))) + 8
    return max(16, 1 << (need - 1).bit_length())


def compare_stream(words: list[int], last: list[bool], frames: np.ndarray, cfg: PeakConfig) -> int:
    """Check a received stream against the reference of `frames` (codes, (F, H, W)); return how many
    records are missing (dropped by a full FIFO). Frame ends must all be there, exact, with TLAST; each
    frame's records must be the reference's in order with some left out. Raises AssertionError."""
    ends = [k for k, t in enumerate(last) if t]
    assert len(ends) == len(frames), f"{len(ends)} frame ends received, {len(frames)} frames sent"
    missing, start = 0, 0
    for f, (codes, end) in enumerate(zip(frames, ends, strict=True)):
        want, _ = frame_words(codes, cfg, f)
        got = words[start : end + 1]
        assert got[-1] == int(want[-1]), f"frame {f}: end word {got[-1]:#x}, want {int(want[-1]):#x}"
        it = iter(want[:-1].tolist())
        assert all(any(g == w for w in it) for g in got[:-1]), f"frame {f}: records not a subsequence"
        missing += len(want) - len(got)
        start = end + 1
    return missing
