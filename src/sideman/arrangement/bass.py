"""The bass part: chord roots and fifths on the style's pattern; walking lines approach
the next root by a semitone. A chord change inside a note starts a new note on the new
chord."""

from __future__ import annotations

from sideman.arrangement.context import PartContext
from sideman.arrangement.patterns import for_meter, patterns
from sideman.music import Chord, Note

BASS_LOW_MIDI = 28  # E1
BASS_HIGH_MIDI = 52


def write_bass(ctx: PartContext, *, pattern: str, sparse: bool) -> tuple[Note, ...]:
    data = patterns()
    beats_per_bar = ctx.form.grid.beats_per_bar
    bar_pattern = for_meter(data["bass_sparse"] if sparse else data["bass"][pattern], beats_per_bar)
    last = len(ctx.form.bars) - 1
    notes: list[Note] = []
    for b in range(len(ctx.form.bars)):
        steps = [[0, beats_per_bar, "R"]] if b == last else bar_pattern
        for beat, length, degree in steps:
            start = ctx.time(b, float(beat))
            end = ctx.time(b, float(beat) + float(length))
            for seg_start, seg_end, first in _segments(ctx, start, end):
                chord = ctx.form.chord_at(seg_start)
                if chord is None:
                    continue
                upcoming = ctx.form.chord_at(ctx.form.bar_beat_time(b, float(beat) + 1.0)) or chord
                pitch = _pitch(chord, degree if first else "R", upcoming)
                accent = 0.08 if beat == 0 and first else 0.0
                notes.append(Note(seg_start, seg_end, pitch, ctx.velocity(b, 0.72, accent=accent)))
    return tuple(notes)


def _segments(ctx: PartContext, start: float, end: float):
    """[start, end) cut at the chord changes inside it: (a, b, is_first_piece)."""
    cuts = [start, *ctx.form.chord_changes(start, end), end]
    for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        if b - a > 0.02:
            yield a, b, i == 0


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
    if degree == "A":  # a semitone below the next beat's root
        target = _in_range(next_chord.root_pitch_class)
        return target - 1 if target - 1 >= BASS_LOW_MIDI else target + 1
    raise ValueError(f"unknown bass degree {degree!r}")


def _in_range(pitch_class: int) -> int:
    """The root in the bass's comfortable octave (E1..D#2 -> 28..39)."""
    return BASS_LOW_MIDI + (pitch_class - BASS_LOW_MIDI) % 12
