"""Mix figures on signals with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sideman.errors import InvalidField
from sideman.render.measure import band_share_db, measure_mix, side_to_mid_db, vocal_to_band_db

SR = 44100


def _sine(hz: float, seconds: float = 4.0, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_band_share_of_tones() -> None:
    low = _sine(100.0)
    assert band_share_db(low, sample_rate_hz=SR, band_hz=(60.0, 250.0)) == pytest.approx(0.0, abs=0.1)
    both = _sine(100.0) + _sine(3000.0)  # equal power in each band
    assert band_share_db(both, sample_rate_hz=SR, band_hz=(2000.0, 6000.0)) == pytest.approx(-3.0, abs=0.2)


def test_side_to_mid() -> None:
    x = _sine(440.0)
    assert side_to_mid_db(np.stack([x, x], axis=1)) == -math.inf
    # L = m + s, R = m - s with s = m / 2: side/mid = -6 dB
    assert side_to_mid_db(np.stack([1.5 * x, 0.5 * x], axis=1)) == pytest.approx(-6.02, abs=0.05)


def test_vocal_to_band_reads_only_sung_windows() -> None:
    band = np.stack([_sine(200.0, 8.0)] * 2, axis=1)
    voice = _sine(1000.0, 8.0, amplitude=0.2)
    voice[: 4 * SR] = 0.0  # sings the second half only
    level = vocal_to_band_db(voice, band, sample_rate_hz=SR)
    # +6 dB of amplitude; K-weighting lifts 1 kHz over 200 Hz by a little
    assert 5.0 < level < 8.0


def test_measure_mix_spread_and_featured_gap() -> None:
    stems = {"drums": _sine(100.0, amplitude=0.1), "bass": _sine(80.0, amplitude=0.05),
             "keys": _sine(500.0, amplitude=0.2), "reverb": _sine(700.0, amplitude=0.5)}
    figures = measure_mix(stems, sample_rate_hz=SR, featured_role="keys")
    loud = figures.stem_loudness_lufs
    assert "reverb" not in loud  # an effects return is not a player
    assert figures.stem_spread_lu == pytest.approx(max(loud.values()) - min(loud.values()))
    assert figures.featured_gap_lu == pytest.approx(0.0)
    quiet = measure_mix(stems, sample_rate_hz=SR, featured_role="bass")
    assert quiet.featured_gap_lu == pytest.approx(loud["keys"] - loud["bass"])
    assert measure_mix(stems, sample_rate_hz=SR, featured_role="flute").featured_role == "keys"
    with pytest.raises(InvalidField):
        measure_mix({}, sample_rate_hz=SR, featured_role=None)
