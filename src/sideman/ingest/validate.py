"""Refuse input that cannot carry a song, saying what was measured."""

from __future__ import annotations

import numpy as np

from sideman.errors import InvalidInput, SilentAudio, TooLong, TooShort
from sideman.ingest.decode import Audio


def level_dbfs(samples: np.ndarray, *, sample_rate_hz: int) -> float:
    """The level of the loudest 400 ms windows (95th percentile of windowed RMS), in dBFS.

    A voice that sings only part of the time is judged by where it sings, so a quiet
    room between phrases does not make a song look silent."""
    window = max(1, int(0.4 * sample_rate_hz))
    n = len(samples) // window
    if n == 0:
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    else:
        frames = samples[: n * window].reshape(n, window).astype(np.float64)
        rms = float(np.percentile(np.sqrt(np.mean(frames**2, axis=1)), 95))
    return 20.0 * np.log10(max(rms, 1e-10))


def validate(
    audio: Audio,
    *,
    min_duration_seconds: float,
    max_duration_seconds: float,
    silence_threshold_dbfs: float,
) -> None:
    """Raise TooShort, TooLong or SilentAudio (each carrying the measured value), or
    InvalidInput for audio that is only a constant (DC) offset."""
    duration = audio.duration_seconds
    if duration < min_duration_seconds:
        raise TooShort(duration_seconds=duration, minimum_seconds=min_duration_seconds)
    if duration > max_duration_seconds:
        raise TooLong(duration_seconds=duration, maximum_seconds=max_duration_seconds)
    level = level_dbfs(audio.samples, sample_rate_hz=audio.sample_rate_hz)
    if not np.isfinite(level):  # decode() refuses NaN samples; this guards other doors
        raise InvalidInput("the audio holds samples that are not numbers (NaN or infinity)")
    if level < silence_threshold_dbfs:
        raise SilentAudio(level_dbfs=level, threshold_dbfs=silence_threshold_dbfs)
    sound = _sound_level_dbfs(audio.samples, sample_rate_hz=audio.sample_rate_hz)
    if sound < silence_threshold_dbfs:
        raise InvalidInput(
            f"the audio is a constant offset (DC at {level:.1f} dBFS) with no sound on it: "
            f"what moves is at {sound:.1f} dBFS, below the {silence_threshold_dbfs:.0f} dBFS "
            "threshold"
        )


def _sound_level_dbfs(samples: np.ndarray, *, sample_rate_hz: int) -> float:
    """level_dbfs of `samples` less their mean in each 400 ms window, so a constant
    offset does not count as sound; worked out 256 windows at a time (an 8-minute input
    needs no full-length float64 copy)."""
    window = max(1, int(0.4 * sample_rate_hz))
    n = len(samples) // window
    if n == 0:
        spread = float(np.std(samples, dtype=np.float64)) if len(samples) else 0.0
        return 20.0 * np.log10(max(spread, 1e-10))
    spreads = np.empty(n)
    for first in range(0, n, 256):
        last = min(n, first + 256)
        block = samples[first * window: last * window].reshape(last - first, window)
        spreads[first:last] = np.std(block, axis=1, dtype=np.float64)
    return 20.0 * np.log10(max(float(np.percentile(spreads, 95)), 1e-10))
