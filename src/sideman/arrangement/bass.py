"""The bass part: chord roots and fifths on the style's pattern; walking lines approach
the next root by a semitone. A chord change inside a note starts a new note on the new
chord. Along the arc (arc.py) the bass holds roots in the intro, plays a lighter line in
a verse, jumps octaves in a chorus, answers every second bar with a pickup into the next,
walks up at the end of a four-bar phrase and drops out where a section ends in a rest."""

from __future__ import annotations

from sideman.arrangement.arc import CHORUS, INTRO, VERSE
from sideman.arrangement.context import PartContext
from sideman.arrangement.patterns import for_meter, patterns, variant_for, varied
from sideman.music import Chord, Note

BASS_LOW_MIDI = 28  # E1
BASS_HIGH_MIDI = 52


def write_bass(ctx: PartContext, *, pattern: str, sparse: bool) -> tuple[Note, ...]:
    data = patterns()
    beats_per_bar = ctx.form.grid.beats_per_bar
    sparse_table = data["bass_sparse_b" if ctx.variation % 2 else "bass_sparse"]  # a second take, another line
    base = for_meter(sparse_table if sparse else data["bass"][pattern], beats_per_bar)
    verse_pattern = data["bass_verse"].get(pattern, pattern)
    if ctx.style.energy >= 0.8 or verse_pattern in ctx.style.excluded_elements:
        verse_pattern = pattern  # a driving style drives from the first verse
    verse = base if sparse else for_meter(data["bass"][verse_pattern], beats_per_bar)
    octave = pattern in data["bass_octave"] and not sparse
    last = len(ctx.form.bars) - 1
    notes: list[Note] = []
    for b in range(len(ctx.form.bars)):
        role = ctx.role(b)
        if b == last:
            steps = [[0, beats_per_bar, "R"]]
        elif role.level == INTRO:
            if b < ctx.form.intro_bars - 1:
                continue  # the band comes in a bar at a time: the bass joins for the last intro bar
            steps = [[0, beats_per_bar, "R"]]
        elif role.breakdown and not role.section_end:
            steps = [[0, beats_per_bar, "R"]]  # a breakdown holds the roots
        elif role.stop:
            steps = [[0, 1, "R"], [beats_per_bar - 0.5, 0.45, "A"]]  # the band drops out; a pickup back in
        else:
            steps = verse if role.level == VERSE else base
            shape = verse_pattern if role.level == VERSE else pattern
            if role.turnaround:
                steps = varied(steps, variant_for(data["bass_turn"], shape, beats_per_bar, sparse=sparse))
            elif role.answer:
                steps = varied(steps, variant_for(data["bass_answer"], shape, beats_per_bar, sparse=sparse))
        for beat, length, degree in steps:
            if octave and role.level >= CHORUS and degree == "R" and float(beat) % 1.0 == 0.5:
                degree = "8"  # the chorus bass jumps octaves on the off-beats
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
    root = _in_range(chord.bass_pitch_class if chord.bass_pitch_class is not None else chord.root_pitch_class)
    if degree == "R":
        return root
    root = _in_range(chord.root_pitch_class)
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
