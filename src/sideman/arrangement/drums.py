"""The drum part: a groove per bar (kept as data), a fill at the end of each section and
a crash on the downbeat after it."""

from __future__ import annotations

from sideman.arrangement.context import PartContext
from sideman.arrangement.patterns import for_meter, patterns
from sideman.music import Note

STEPS_PER_BEAT = 4


def write_drums(ctx: PartContext, *, groove: str, sparse: bool, answer_gaps: bool = False) -> tuple[Note, ...]:
    """The groove in every bar but the last (one closing hit); fills at section ends,
    and with answer_gaps also in bars where the voice rests (the drummer answers)."""
    data = patterns()
    notes_by_drum = data["drum_notes"]
    table = data["grooves"][groove]["sparse" if sparse else "full"]
    bar_patterns = _bar_grooves(table, ctx.form.grid.beats_per_bar)
    fill_pattern = for_meter(data["fills"], ctx.form.grid.beats_per_bar)
    section_ends = _section_end_bars(ctx)
    if answer_gaps:
        beat = 60.0 / ctx.form.grid.tempo_bpm
        gaps = ctx.gaps(min_beats=1.5)
        for b, (_, bar_end) in enumerate(ctx.form.bars[1:-2], start=1):
            # the fill takes the bar's last beat: only where the voice rests through it
            if any(a <= bar_end - 1.05 * beat and e >= bar_end - 0.05 for a, e in gaps):
                section_ends.add(b)
    notes: list[Note] = []
    n_bars = len(ctx.form.bars)
    for b in range(n_bars):
        last_bar = b == n_bars - 1
        if last_bar:
            # the closing bar: one hit with the final chord, cymbal ringing
            t = ctx.time(b, 0.0)
            notes.append(Note(t, t + 1.5, notes_by_drum["kick"], ctx.velocity(b, 0.8)))
            notes.append(Note(t, t + 2.5, notes_by_drum["crash"], ctx.velocity(b, 0.7)))
            continue
        use_fill = (not sparse) and b in section_ends
        # a groove spanning bars starts over where the voice comes in
        groove_bar = bar_patterns[(b - ctx.form.intro_bars) % len(bar_patterns)]
        for drum, steps in groove_bar.items():
            for s, mark in enumerate(steps):
                beat = s / STEPS_PER_BEAT
                if mark == "." or (use_fill and _fill_covers(fill_pattern, s)):
                    continue
                base = 0.55 if mark == "o" else (0.8 if s % STEPS_PER_BEAT == 0 else 0.62)
                t = ctx.time(b, beat)
                notes.append(Note(t, t + 0.1, notes_by_drum[drum], ctx.velocity(b, base)))
        if use_fill:
            for drum, steps in fill_pattern.items():
                for s, mark in enumerate(steps):
                    if mark != ".":
                        t = ctx.time(b, s / STEPS_PER_BEAT)
                        notes.append(Note(t, t + 0.1, notes_by_drum[drum], ctx.velocity(b, 0.7, accent=0.05)))
        if b == 0 or (b - 1) in section_ends:
            t = ctx.time(b, 0.0)
            notes.append(Note(t, t + 1.5, notes_by_drum["crash"], ctx.velocity(b, 0.65)))
    return tuple(sorted(notes, key=lambda n: (n.start_seconds, n.pitch_midi)))


def _bar_grooves(table: dict, beats_per_bar: int) -> list[dict]:
    """The groove of each bar, taken in turn. A groove written only for four beats
    spans two bars of 2/4 (its halves in turn), so what it plays on beat 3 (a
    half-time backbeat, a reggae drop) still sounds; otherwise one pattern a bar."""
    source = table.get("4")
    if beats_per_bar == 2 and "2" not in table and isinstance(source, dict):
        steps = 2 * STEPS_PER_BEAT
        return [{drum: s[k * steps : (k + 1) * steps] for drum, s in source.items() if s} for k in (0, 1)]
    return [for_meter(table, beats_per_bar)]


def _fill_covers(fill: dict, step: int) -> bool:
    """The fill replaces the groove from its first hit to the end of the bar."""
    first = min(s.find("x") for s in fill.values() if "x" in s)
    return step >= first


def _section_end_bars(ctx: PartContext) -> set[int]:
    """Bars that end a section (not counting the last bars of the song)."""
    ends = set()
    bars = ctx.form.bars
    for section in ctx.form.sections[:-1]:
        for i, (a, b) in enumerate(bars):
            if a < section.end_seconds <= b + 1e-6 and i < len(bars) - 2:
                ends.add(i)
    return ends
