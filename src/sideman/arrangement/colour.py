"""Colour parts: what a style adds on top of the rhythm section — an arpeggiator,
string swells at section starts, brass stabs in the lively bars, wordless backing
vocals, and a lead instrument that answers the voice in its rests. All but the swells
and the answers play in the choruses only."""

from __future__ import annotations

from sideman.arrangement.arc import CHORUS
from sideman.arrangement.context import PartContext
from sideman.arrangement.harmony import harmony_register, write_harmony
from sideman.music import Note


def write_colour(ctx: PartContext, *, role: str, pattern: str, sparse: bool) -> tuple[Note, ...]:
    sung = set(range(ctx.form.intro_bars, len(ctx.form.bars) - ctx.form.outro_bars))
    # colour is what a chorus adds: the verses keep it out (unless the song has no chorus)
    sung = {b for b in sung if ctx.role(b).level >= CHORUS} or sung
    if pattern == "answers":
        return write_answers(ctx, role=role)
    if pattern == "swell":  # at the first bar of each section and on the closing chord
        starts = {ctx.bar_of(s.start_seconds) for s in ctx.form.sections}
        return write_harmony(ctx, role=role, pattern=pattern, sparse=False, bars=starts | {len(ctx.form.bars) - 1})
    if pattern == "stabs":  # where the band has energy to spare
        lively = {b for b in sung if ctx.energy_per_bar[b] >= 0.45} or sung
        return write_harmony(ctx, role=role, pattern=pattern, sparse=sparse, bars=lively)
    if pattern == "oohs":  # from the second sung bar of each section on
        starts = {ctx.bar_of(s.start_seconds) for s in ctx.form.sections}
        return write_harmony(ctx, role=role, pattern=pattern, sparse=False, bars=sung - starts)
    return write_harmony(ctx, role=role, pattern=pattern, sparse=sparse, bars=sung)


def write_answers(ctx: PartContext, *, role: str) -> tuple[Note, ...]:
    """In each rest of the voice, a short phrase of chord and scale tones stepping down
    to a chord tone: the band answers the singer, never talks over them."""
    low, high = harmony_register(ctx.vocal_range_midi, role)
    beat = 60.0 / ctx.form.grid.tempo_bpm
    scale = ctx.key.scale_pitch_classes
    notes: list[Note] = []
    for gap_start, gap_end in ctx.gaps(min_beats=2.0):
        b = ctx.bar_of(gap_start)
        chord = ctx.form.chord_at(gap_start + 0.5 * beat)
        if chord is None:
            continue
        start = gap_start + 0.5 * beat
        count = int(min(4, (gap_end - start - 0.5 * beat) / (0.5 * beat)))
        if count < 2:
            continue
        top = max(p for p in range(low, high + 1) if p % 12 in chord.pitch_classes)
        pitches = [top]
        while len(pitches) < count:
            below = pitches[-1] - 1
            while below % 12 not in scale:
                below -= 1
            pitches.append(below)
        if pitches[-1] % 12 not in chord.pitch_classes:  # land on a chord tone
            pitches[-1] = max(p for p in range(low - 12, pitches[-1] + 1) if p % 12 in chord.pitch_classes)
        step = 0.5 * beat
        for i, pitch in enumerate(pitches):
            t = start + i * step
            length = step * (2.0 if i == len(pitches) - 1 else 0.9)
            notes.append(Note(t, t + length, pitch, ctx.velocity(b, 0.55, accent=0.05 if i == 0 else 0.0)))
    return tuple(notes)
