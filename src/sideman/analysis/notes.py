"""f0 -> notes. swift-f0's segmenter finds the note/gap split with the least cost by
dynamic programming, so vibrato around one pitch stays one note."""

from __future__ import annotations

import numpy as np

from sideman.analysis.pitch import PitchTrack, raw_result
from sideman.music import Note, hz_to_midi

MIN_NOTE_SECONDS = 0.06


def segment(track: PitchTrack, *, pitch_hold_ms: float = 90.0) -> tuple[Note, ...]:
    """Notes with integer MIDI pitch; velocity from the note's loudness (40..120)."""
    from swift_f0 import segment_notes

    found = segment_notes(raw_result(track), pitch_hold_ms=pitch_hold_ms)
    if not found:
        return ()
    times = track.times_seconds
    loud = track.loudness_db
    peak_db = float(np.percentile(loud, 99)) if len(loud) else 0.0
    notes = []
    for n in found:
        if n.end - n.start < MIN_NOTE_SECONDS or not n.pitch_hz > 0:
            continue
        sel = (times >= n.start) & (times < n.end)
        level = float(np.median(loud[sel])) if sel.any() else peak_db - 20
        velocity = int(np.clip(120 + 2.0 * (level - peak_db), 40, 120))
        pitch = int(round(hz_to_midi(n.pitch_hz)))
        if 0 <= pitch <= 127:
            notes.append(Note(float(n.start), float(n.end), pitch, velocity))
    return tuple(notes)
