"""f0 with swift-f0 (its ONNX model ships inside the package)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

#: swift-f0 works at 16 kHz with a 16 ms hop
PITCH_SAMPLE_RATE_HZ = 16000

_local = threading.local()
_ONNX_THREADS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class PitchTrack:
    """Frame-wise f0. All arrays [shape=(frames,)]; times_seconds spaced frame_period."""

    times_seconds: np.ndarray
    f0_hz: np.ndarray
    confidence: np.ndarray
    loudness_db: np.ndarray

    @property
    def voiced(self) -> np.ndarray:
        return self.confidence >= 0.5


def track_pitch(samples: np.ndarray, *, sample_rate_hz: int) -> PitchTrack:
    """Run swift-f0 on mono float32 audio at 16 kHz (resample before calling)."""
    if sample_rate_hz != PITCH_SAMPLE_RATE_HZ:
        raise ValueError(f"track_pitch expects {PITCH_SAMPLE_RATE_HZ} Hz audio, got {sample_rate_hz}")
    result = _detector().detect(samples, PITCH_SAMPLE_RATE_HZ, fmin=60.0, fmax=1400.0)
    return PitchTrack(result.timestamps, result.pitch_hz, result.confidence, result.loudness_db)


def raw_result(track: PitchTrack):  # -> swift_f0.PitchResult
    from swift_f0 import PitchResult

    return PitchResult(track.times_seconds, track.f0_hz, track.confidence, track.loudness_db)


def _detector():
    # One ONNX session per thread: sessions are costly to build and not shared across threads.
    detector = getattr(_local, "detector", None)
    if detector is None:
        from swift_f0 import SwiftF0

        # two intra-op threads: the analysis runs before anything else of its task can,
        # so the second core is idle then (60 s of voice: 0.84 -> 0.65 s)
        detector = SwiftF0(threads=_ONNX_THREADS)
        _local.detector = detector
    return detector
