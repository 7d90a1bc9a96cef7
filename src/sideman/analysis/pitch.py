"""f0 with swift-f0 (its ONNX model ships inside the package)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

#: swift-f0 works at 16 kHz with a 16 ms hop
PITCH_SAMPLE_RATE_HZ = 16000

#: the range of f0 searched, Hz
F0_MIN_HZ = 60.0
F0_MAX_HZ = 1400.0

_local = threading.local()
#: inputs up to this long run two windows at once: ONNX Runtime keeps the memory of its
#: largest concurrent runs for the session's life (measured on 8 minutes: +134 MB), which
#: the memory budget of the longest inputs cannot spare
PARALLEL_MAX_SECONDS = 150.0
#: windows of a long input analysed at once, one core each
_PARALLEL_WINDOWS = min(2, os.cpu_count() or 1)


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
    result = _detect_windows_in_parallel(samples)
    if result is None:  # one window (or an unknown swift-f0): its thread pool shares it out
        result = _detector(_PARALLEL_WINDOWS).detect(samples, PITCH_SAMPLE_RATE_HZ, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ)
    return PitchTrack(result.timestamps, result.pitch_hz, result.confidence, result.loudness_db)


def _detect_windows_in_parallel(samples: np.ndarray):  # -> swift_f0.PitchResult | None
    """swift-f0's `detect`, with its 30 s windows run on the machine's cores at once.

    The same windows, margins and concatenation as `SwiftF0.detect` (0.3), read from
    its module; each window is one single-threaded model run (ONNX Runtime sessions
    accept concurrent runs). Measured on 60 s: one run with a two-thread pool 0.65 s,
    two windows side by side ~0.45 s. None where the input is one window or longer
    than `PARALLEL_MAX_SECONDS`, or the library's layout is not the one this was
    written against (`detect` then)."""
    try:
        from swift_f0 import PitchResult, core

        hop, width = core.HOP, core.WINDOW_FRAMES
        left_frames, lookahead = core.LEFT_FRAMES, core.LOOKAHEAD_FRAMES
        timestamps = core._timestamps
    except (ImportError, AttributeError):
        return None
    signal = np.ascontiguousarray(samples, dtype=np.float32)
    n = max(1, len(signal) // hop)
    if n <= width or len(signal) < hop or len(signal) > PARALLEL_MAX_SECONDS * PITCH_SAMPLE_RATE_HZ:
        return None
    detector = _detector(1)
    spans = []
    for start in range(0, n, width):
        end = min(start + width, n)
        left = max(0, start - left_frames)
        window = signal[left * hop : (end + lookahead) * hop] if end < n else signal[left * hop :]
        spans.append((start - left, end - left, window))

    def run(span):
        first, last, window = span
        return [values[first:last] for values in detector._run(window, F0_MIN_HZ, F0_MAX_HZ)]

    with ThreadPoolExecutor(max_workers=_PARALLEL_WINDOWS, thread_name_prefix="sideman-f0") as pool:
        parts = list(pool.map(run, spans))
    pitch, confidence, loudness = (np.concatenate([part[i] for part in parts]) for i in range(3))
    return PitchResult(timestamps(0, len(pitch)), pitch, confidence, loudness)


def raw_result(track: PitchTrack):  # -> swift_f0.PitchResult
    from swift_f0 import PitchResult

    return PitchResult(track.times_seconds, track.f0_hz, track.confidence, track.loudness_db)


def _detector(threads: int):
    # One ONNX session per thread and pool size: sessions are costly to build. Not
    # spinning: an idle pool must not busy-wait on a core the render needs.
    detectors = getattr(_local, "detectors", None)
    if detectors is None:
        detectors = _local.detectors = {}
    if threads not in detectors:
        from swift_f0 import SwiftF0

        detectors[threads] = SwiftF0(threads=threads, spin=False)
    return detectors[threads]
