"""A room: convolution with a stereo impulse response synthesized here, once per
(sample rate, reverberation time), from a fixed seed (the same bytes every run; no file
to download or ship).

The response is built the way a room answers a clap: a pre-delay, a dozen early
reflections placed and panned at random (independently per ear), then a diffuse tail
of noise that builds up over ~25 ms and decays with a reverberation time that falls
with frequency (lows ring longest, the top dies three times faster), independent noise
per ear. The mix convolves with one ear and spreads the return (see `Room`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pedalboard
from scipy.signal import butter, sosfilt

__all__ = ["CONVOLUTION_NORMALISED_GAIN", "Room", "rt60_for_room_size", "room_impulse_response", "room_in_place"]

#: the response's seed: one room for every render
_SEED = 0x500D
#: reverberation time per band relative to the nominal one: <300 Hz, 300-2k, 2k-6k, >6k
_BAND_EDGES_HZ = (300.0, 2000.0, 6000.0)
_BAND_RT60_SCALE = (1.15, 1.0, 0.7, 0.35)
_EARLY_REFLECTIONS = 12
_EARLY_WINDOW_MS = (6.0, 70.0)
_PRE_DELAY_MS = 10.0
_BUILD_UP_MS = 25.0
#: samples convolved at a time
_BLOCK_SAMPLES = 1 << 18
#: the mono return is spread to stereo by this delayed side copy
_SPREAD = 0.7
_SPREAD_DELAY_SECONDS = 0.017
#: pedalboard's (JUCE's) convolution normalises a response to this RMS gain; undone
CONVOLUTION_NORMALISED_GAIN = 0.125


def rt60_for_room_size(room_size: float) -> float:
    """Reverberation time (s) for the score's 0..1 room size: 0.45 -> 1.3 s, 0.62 -> 1.6 s."""
    return 0.5 + 1.8 * min(max(room_size, 0.0), 1.0)


@lru_cache(maxsize=4)
def room_impulse_response(*, sample_rate_hz: int, rt60_seconds: float) -> np.ndarray:
    """The room's stereo impulse response, np.ndarray [shape=(2, m), dtype=float32],
    unit energy per ear; m covers the reverberation time."""
    rng = np.random.default_rng(_SEED)
    sr = int(sample_rate_hz)
    m = int(rt60_seconds * sr)
    t = np.arange(m) / sr
    edges = [0.0, *_BAND_EDGES_HZ, 0.49 * sr]
    ir = np.zeros((2, m))
    pre = int(_PRE_DELAY_MS / 1000 * sr)
    build = 1.0 - np.exp(-np.maximum(t - _PRE_DELAY_MS / 1000, 0.0) / (_BUILD_UP_MS / 1000))
    build[:pre] = 0.0
    for ear in range(2):
        noise = rng.standard_normal(m)
        for (low, high), scale in zip(zip(edges, edges[1:], strict=False), _BAND_RT60_SCALE, strict=True):
            if low <= 0:
                sos = butter(4, high, btype="lowpass", fs=sr, output="sos")
            elif high >= 0.49 * sr:
                sos = butter(4, low, btype="highpass", fs=sr, output="sos")
            else:
                sos = butter(2, [low, high], btype="bandpass", fs=sr, output="sos")
            decay = np.exp(-6.9078 * t / (rt60_seconds * scale))  # -60 dB at the band's RT60
            ir[ear] += sosfilt(sos, noise) * decay
        ir[ear] *= build
        for _ in range(_EARLY_REFLECTIONS):
            delay_ms = rng.uniform(*_EARLY_WINDOW_MS)
            at = int(delay_ms / 1000 * sr)
            ir[ear, at] += rng.choice((-1.0, 1.0)) * 6.0 * math.exp(-delay_ms / 40.0) * rng.uniform(0.4, 1.0)
        ir[ear] /= math.sqrt(float(np.sum(ir[ear] ** 2)))
    return ir.astype(np.float32)


def room_in_place(audio: np.ndarray, *, sample_rate_hz: int, room_size: float) -> None:
    """Replace audio [shape=(n, 2), float32] by the room's wet return, in place and in
    blocks (partitioned FFT convolution, state carried across blocks, no latency).

    The sends are summed to mono and convolved with one ear's response, then spread to
    stereo by a delayed side copy (`Room`): half the work of convolving each side with
    its own ear (measured 0.55 against 1.05 s over a 64 s bus), and a diffuse tail has
    no panning to keep; the return is wide (L/R correlation about 0.3)."""
    room = Room(sample_rate_hz=sample_rate_hz, room_size=room_size)
    for start in range(0, len(audio), _BLOCK_SAMPLES):
        part = audio[start : start + _BLOCK_SAMPLES]
        mono = (part[:, 0] + part[:, 1]) * np.float32(0.5)
        part[:] = room.process(mono)


class Room:
    """The room for a mono send, one block at a time (state carried across calls): the
    left ear's response, spread to stereo as L = w + a·w(t-d), R = w - a·w(t-d)."""

    def __init__(self, *, sample_rate_hz: int, room_size: float) -> None:
        ir = room_impulse_response(sample_rate_hz=int(sample_rate_hz),
                                   rt60_seconds=round(rt60_for_room_size(room_size), 2))
        self._convolution = pedalboard.Convolution(np.ascontiguousarray(ir[:1]), mix=1.0,
                                                   sample_rate=float(sample_rate_hz))
        self._rate = float(sample_rate_hz)
        self._delay = max(1, round(_SPREAD_DELAY_SECONDS * sample_rate_hz))
        self._history = np.zeros(self._delay, dtype=np.float32)

    def process(self, mono: np.ndarray) -> np.ndarray:
        """mono [shape=(k,), float32] -> the wet return [shape=(k, 2), float32]."""
        wet = self._convolution.process(np.ascontiguousarray(mono, dtype=np.float32)[None, :], self._rate,
                                        reset=False)[0]
        wet *= np.float32(1.0 / CONVOLUTION_NORMALISED_GAIN)  # a unit-energy room
        joined = np.concatenate([self._history, wet])
        delayed = joined[: len(wet)] * np.float32(_SPREAD)
        self._history = joined[-self._delay :]
        out = np.empty((len(wet), 2), dtype=np.float32)
        out[:, 0] = wet + delayed
        out[:, 1] = wet - delayed
        return out
