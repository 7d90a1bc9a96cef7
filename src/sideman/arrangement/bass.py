"""The bass part: chord roots and fifths on the style's pattern; walking lines approach
the next root by a semitone."""

from __future__ import annotations

from sideman.arrangement.context import PartContext
from sideman.arrangement.patterns import for_meter, patterns
from sideman.music import Chord, Note

BASS_LOW_MIDI = 28  # E1
BASS_HIGH_MIDI = 52


def write_bass(ctx: PartContext, *, pattern: str, sparse: bool) -> tuple[Note, ...]:
    data = patterns()
    bar_pattern = for_meter(data["bass_sparse"] if sparse else data["bass"][pattern], ctx.form.grid.beats_per_bar)
    chords = ctx.form.chords
    notes: list[Note] = []
    for b, span in enumerate(chords):
        chord = span.chord
        if chord is None:
            continue
        next_chord = chords[b + 1].chord if b + 1 < len(chords) else chord
        last_bar = b == len(chords) - 1
        steps = [[0, ctx.form.grid.beats_per_bar, "R"]] if last_bar else bar_pattern
        for beat, length, degree in steps:
            pitch = _pitch(chord, degree, next_chord or chord)
            start = ctx.time(b, float(beat))
            end = ctx.time(b, float(beat) + float(length))
            if end > start:
                accent = 0.08 if beat == 0 else 0.0
                notes.append(Note(start, end, pitch, ctx.velocity(b, 0.72, accent=accent)))
    return tuple(notes)


def _pitch(chord: Chord, degree: str, next_chord: Chord) -> int:
    root = _in_range(chord.root_pitch_class)
    if degree == "R":
        return root
    if degree == "8":
        return root + 12 if root + 12 <= BASS_HIGH_MIDI + 7 else root
    if degree == "5":
        return root + 7
    if degree == "3":
        return root + chord.intervals[1]
    if degree == "A":  # a semitone below the next root
        target = _in_range(next_chord.root_pitch_class)
        return target - 1 if target - 1 >= BASS_LOW_MIDI else target + 1
    raise ValueError(f"unknown bass degree {degree!r}")


def _in_range(pitch_class: int) -> int:
    """The root in the bass's comfortable octave (E1..D#2 -> 28..39)."""
    return BASS_LOW_MIDI + (pitch_class - BASS_LOW_MIDI) % 12
