from __future__ import annotations

import numpy as np

from sideman.music import Note, Track
from sideman.render.mix import REVERB_STEM, mix

RATE = 44100


def _tail_energy(room_size: float) -> float:
    """Energy of the reverb return 0.5..2 s after a 0.1 s burst ends."""
    n = 3 * RATE
    burst = np.zeros((n, 2), dtype=np.float32)
    burst[: RATE // 10] = np.random.default_rng(0).normal(0, 0.2, (RATE // 10, 2))
    track = Track("keys", "piano", 0, notes=(Note(0.0, 0.1, 60),))
    out = mix({"keys": burst}, tracks=[track], voice=None, sample_rate_hz=RATE, voice_offset_samples=0,
              reverb_room_size=room_size)
    wet = np.asarray(out.stems[REVERB_STEM])
    return float(np.sum(wet[int(0.6 * RATE) : int(2.1 * RATE)] ** 2) / (np.sum(wet**2) + 1e-12))


def test_a_larger_room_rings_longer() -> None:
    assert _tail_energy(0.62) > 1.5 * _tail_energy(0.45)
