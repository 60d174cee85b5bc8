"""Acquisition effects applied to the phantom's clean signals.

Shared by the zip writer and the fast path so that both describe the same images:

- a per-station gain (receiver scaling differs between table positions);
- a smooth in-plane coil sensitivity (bias field), brighter towards the surface;
- signal drop in the outermost slices of each station (the first and last slice at
  75 %, the second and second-last at 90 %);
- Gaussian noise on each of water and fat, taken as magnitude (Rician-like floor).
"""

from __future__ import annotations

import numpy as np

NOISE_SD = 7.0
EDGE_FACTORS = (0.75, 0.9)
#: Length of the fixed bank of standard-normal noise that images draw windows from
#: (a prime, so windows at different offsets do not line up with image rows).
NOISE_BANK_SIZE = 4_194_301
_bank: np.ndarray | None = None


def noise_bank() -> np.ndarray:
    """A fixed bank of float32 standard-normal samples (made once per process)."""
    global _bank
    if _bank is None:
        _bank = np.random.default_rng(20201).standard_normal(NOISE_BANK_SIZE, dtype=np.float32)
    return _bank


def noise(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal noise of ``shape``: a window of the bank at a random offset.

    Drawing fresh normal samples for the 14 million voxels of a subject costs more
    than everything else in the fast path; a window of a fixed bank at a random
    offset looks the same in an image and keeps generation deterministic.
    """
    bank = noise_bank()
    n = int(np.prod(shape))
    start = int(rng.integers(0, len(bank)))
    parts = []
    while n > 0:
        take = min(n, len(bank) - start)
        parts.append(bank[start:start + take])
        n -= take
        start = 0
    return np.concatenate(parts).reshape(shape)


def station_gains(seed: int, eid: int, n: int = 6) -> np.ndarray:
    """One gain per station (the same for a subject's zip and its fast path)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, eid, 3]))
    return rng.uniform(0.85, 1.15, size=n)


def bias_field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """In-plane coil sensitivity on a (ny, nx) grid, 1.0 at the centre."""
    return (1.0 + 0.12 * (x[None, :] / 250.0) ** 2 + 0.10 * ((y[:, None] + 20.0) / 190.0) ** 2
            ).astype(np.float32)


def edge_factor(distance_slices: np.ndarray) -> np.ndarray:
    """Signal factor of a slice ``distance_slices`` slices from its station's edge."""
    d = np.asarray(distance_slices, dtype=np.float64)
    f = np.ones_like(d)
    f[d < 2] = EDGE_FACTORS[1]
    f[d < 1] = EDGE_FACTORS[0]
    return f


def acquire(water: np.ndarray, fat: np.ndarray, gain: float, bias: np.ndarray,
            slice_factor: np.ndarray, rng: np.random.Generator,
            noise_sd: float = NOISE_SD) -> tuple[np.ndarray, np.ndarray]:
    """Apply gain, bias, slice factors and noise to clean (nz, ny, nx) signals.

    Returns float32 magnitudes (non-negative).
    """
    scale = (gain * slice_factor).astype(np.float32)[:, None, None] * bias[None]
    out = []
    for sig in (water, fat):
        noisy = noise(sig.shape, rng)
        noisy *= np.float32(noise_sd)
        noisy += sig * scale
        np.abs(noisy, out=noisy)
        out.append(noisy)
    return out[0], out[1]


def to_uint16(a: np.ndarray) -> np.ndarray:
    """Round and clip to uint16."""
    return np.clip(np.rint(a), 0, 65535).astype(np.uint16)
