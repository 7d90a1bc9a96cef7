"""f0 -> notes. swift-f0's segmenter finds the note/gap split with the least cost by
dynamic programming, so vibrato around one pitch stays one note. Each note's pitch is
then read in the singer's own tuning (see tuning.py), not rounded to A440."""

from __future__ import annotations

import numpy as np

from sideman.analysis.pitch import PitchTrack, raw_result
from sideman.analysis.tuning import Tuning, estimate_tuning
from sideman.music import Note, hz_to_midi

MIN_NOTE_SECONDS = 0.06


def segment_in_tuning(
    track: PitchTrack, *, pitch_hold_ms: float = 90.0, tuning: Tuning | None = None
) -> tuple[tuple[Note, ...], Tuning]:
    """(notes, tuning): each note at the semitone it most likely meant once the
    singer's local reference is taken off; the reference estimated from the notes
    unless given (a singer's stated tuning: then the nearest semitone)."""
    from swift_f0 import segment_notes

    found = segment_notes(raw_result(track), pitch_hold_ms=pitch_hold_ms)
    kept = [n for n in found if n.end - n.start >= MIN_NOTE_SECONDS and n.pitch_hz > 0]
    if not kept:
        return (), tuning or Tuning()
    starts = np.array([n.start for n in kept], dtype=float)
    ends = np.array([n.end for n in kept], dtype=float)
    sung = np.array([hz_to_midi(n.pitch_hz) for n in kept], dtype=float)
    if tuning is None:
        tuning, meant = estimate_tuning(starts, ends, sung)
    else:
        meant = np.array([round(p - tuning.cents_at((s + e) / 2) / 100.0) for s, e, p in zip(starts, ends, sung, strict=True)])
    times = track.times_seconds
    loud = track.loudness_db
    peak_db = float(np.percentile(loud, 99)) if len(loud) else 0.0
    notes = []
    for start, end, pitch in zip(starts, ends, meant, strict=True):
        sel = (times >= start) & (times < end)
        level = float(np.median(loud[sel])) if sel.any() else peak_db - 20
        velocity = int(np.clip(120 + 2.0 * (level - peak_db), 40, 120))
        pitch = int(pitch)
        if 0 <= pitch <= 127:
            notes.append(Note(float(start), float(end), pitch, velocity))
    return tuple(notes), tuning
