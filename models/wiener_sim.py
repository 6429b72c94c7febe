"""Classical SIM reconstructions in numpy, the baselines `sim3` is measured against.

`WienerSIM`: Gustafsson's linear SIM from the full `angles x phases` stack with the pattern known
(Gustafsson, J. Microsc. 198:82, 2000; Wiener combine as in fairSIM, Mueller et al., Nat. Commun.
7:10980, 2016). Per angle, the P phases are unmixed into the three bands (S H, S(k - k0) H,
S(k + k0) H) by inverting the known phase matrix; each band is Fourier-interpolated onto the 2x grid,
moved back by -/+ k0 (a phase ramp in real space, so k0 need not sit on the FFT grid), and all bands
are combined: sum conj(H_b) C_b / (sum |H_b|^2 + w2), times an apodization. The apodization is the
transfer of the truth itself (`fluorogate.sim.sim3.sim_optics`, plus the 2x pixel's integration), so
the estimate aims at the same target as the network; w2 is chosen by oracle like every baseline here
(`best_wiener_sim`). H is the widefield OTF times the camera pixel's sinc, zero outside the camera
grid's band (what a raw frame can hold).

The output grid: pixel j of the 2x frame is centred at camera coordinate j / 2 - 1/4 (two fine pixels
per camera pixel, as the simulator's truth and skimage's `rescale`); the FFT interpolation puts it at
j / 2, hence the quarter-pixel shift at the end.
"""

from __future__ import annotations

import numpy as np

from fluorogate.models.baselines import _best
from fluorogate.sim.optics import Optics, otf
from fluorogate.sim.sim3 import SCALE, Sim3Frames, sim_optics

WIENER_W2 = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def transfer(
    optics: Optics, pixel_nm: float, ky: np.ndarray, kx: np.ndarray, pixel: float = 1.0
) -> np.ndarray:
    """OTF x the integration over a pixel `pixel` camera pixels wide at (ky, kx) cycles per camera pixel."""
    k_nm = np.hypot(ky, kx) / pixel_nm
    h = np.vectorize(lambda k: otf(optics, k), otypes=[np.float64])(k_nm)
    return h * np.abs(np.sinc(ky * pixel) * np.sinc(kx * pixel))


def _interpolate(spectrum: np.ndarray) -> np.ndarray:
    """A (H, W) spectrum -> the complex image on the 2x grid (zero padding), intensities kept."""
    h, w = spectrum.shape
    padded = np.pad(np.fft.fftshift(spectrum), ((h // 2, h - h // 2), (w // 2, w - w // 2)))
    return np.fft.ifft2(np.fft.ifftshift(padded)) * SCALE**2


class WienerSIM:
    """The reconstruction for one pattern set (`frames`) and frame size: transfers, ramps and the
    apodization computed once, then `combine(stack)` per stack and `estimate(parts, w2)` per w2."""

    def __init__(self, frames: Sim3Frames, h: int, w: int):
        self.frames = frames
        fy = np.fft.fftfreq(SCALE * h, d=1 / SCALE)[:, None]  # cycles per camera pixel
        fx = np.fft.fftfreq(SCALE * w, d=1 / SCALE)[None, :]
        ry, rx = np.arange(SCALE * h)[:, None] / SCALE, np.arange(SCALE * w)[None, :] / SCALE
        self.ramps, self.transfers = [], []
        for ky, kx in frames.k_cycles_per_px:
            self.ramps.append([np.exp(-2j * np.pi * s * (ky * ry + kx * rx)) for s in (0, 1, -1)])
            self.transfers.append([self._band_transfer(fy + s * ky, fx + s * kx) for s in (0, 1, -1)])
        self.den = sum(hb**2 for row in self.transfers for hb in row)
        apod = transfer(sim_optics(frames.optics, frames.config), frames.pixel_nm, fy, fx, pixel=1 / SCALE)
        shift = np.exp(-2j * np.pi * (fy + fx) * (1 - 1 / SCALE) / 2)  # centres j/2 -> j/2 - 1/4
        self.out = apod * shift

    def _band_transfer(self, ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
        inside = (np.abs(ky) < 0.5) & (np.abs(kx) < 0.5)
        return np.where(inside, transfer(self.frames.optics, self.frames.pixel_nm, ky, kx), 0.0)

    def combine(self, stack: np.ndarray) -> np.ndarray:
        """sum over bands of conj(H_b) C_b for one (A, P, H, W) offset-subtracted stack."""
        a_n, p_n, h, w = stack.shape
        m = self.frames.config.modulation
        num = np.zeros((SCALE * h, SCALE * w), complex)
        for a in range(a_n):
            phi = self.frames.phases_rad[a]
            mix = np.stack([np.ones(p_n), m / 2 * np.exp(1j * phi), m / 2 * np.exp(-1j * phi)], axis=1)
            bands = np.linalg.lstsq(mix, np.fft.fft2(stack[a]).reshape(p_n, -1), rcond=None)[0]
            for band, ramp, hb in zip(bands.reshape(3, h, w), self.ramps[a], self.transfers[a], strict=True):
                num += hb * np.fft.fft2(_interpolate(band) * ramp)
        return num

    def estimate(self, num: np.ndarray, w2: float) -> np.ndarray:
        """The Wiener estimate, its DC gain put back to 1 (w2 alone would dim the image by w2 / sum H^2)."""
        dc = (self.den[0, 0] + w2) / self.den[0, 0]
        return np.fft.ifft2(num / (self.den + w2) * self.out * dc).real


def widefield(stack: np.ndarray) -> np.ndarray:
    """Mean of the (A, P, H, W) stack, bicubic 2x onto the truth's grid (equal phases: uniform light)."""
    from skimage.transform import rescale

    return rescale(stack.mean(axis=(0, 1)), SCALE, order=3, mode="reflect")


def best_wiener_sim(stacks: list[np.ndarray], frames: Sim3Frames, truths: list[np.ndarray]):
    """Wiener SIM with the w2 that maximises the mean PSNR against the truth (oracle, as for every
    baseline)."""
    recon = WienerSIM(frames, *stacks[0].shape[-2:])
    parts = {id(s): recon.combine(s) for s in stacks}
    return _best(stacks, truths, WIENER_W2, lambda s, w2: recon.estimate(parts[id(s)], w2))
