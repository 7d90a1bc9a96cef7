"""Key from a melody: duration-weighted pitch-class profile against key profiles."""

from __future__ import annotations

import numpy as np

from sideman.music import BeatGrid, Key, Note

# Krumhansl-Kessler probe-tone profiles (major, minor), index 0 = tonic.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def pitch_class_profile(notes: tuple[Note, ...], grid: BeatGrid | None = None) -> np.ndarray:
    """Weight per pitch class [shape=(12,)]: duration, more on downbeats and on the last note."""
    profile = np.zeros(12)
    downbeats = np.asarray(grid.downbeats_seconds) if grid is not None else np.array([])
    period = 60.0 / grid.tempo_bpm if grid is not None else 0.5
    for i, note in enumerate(notes):
        weight = min(note.duration_seconds, 2.0)
        if len(downbeats) and np.min(np.abs(downbeats - note.start_seconds)) < 0.15 * period:
            weight *= 1.5
        if i == len(notes) - 1:
            weight *= 2.0
        profile[note.pitch_midi % 12] += weight
    return profile


def estimate_key(notes: tuple[Note, ...], grid: BeatGrid | None = None) -> Key:
    """The key whose profile correlates best with the melody's pitch-class profile."""
    profile = pitch_class_profile(notes, grid)
    if profile.sum() == 0:
        return Key(0, "major")
    best = (-np.inf, Key(0, "major"))
    for tonic in range(12):
        for mode, template in (("major", _MAJOR), ("minor", _MINOR)):
            r = np.corrcoef(profile, np.roll(template, tonic))[0, 1]
            if r > best[0]:
                best = (r, Key(tonic, mode))
    return best[1]
