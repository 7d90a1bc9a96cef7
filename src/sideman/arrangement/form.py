"""The form on the input's clock: where the band starts (an intro of whole bars before
the voice), where it stops (a closing tonic after the voice), and the chord per bar."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sideman.music import BeatGrid, Chord, ChordSpan, Key, Section


@dataclass(frozen=True)
class Form:
    """grid: the analysed grid extended over the intro and outro.
    bars: (start_seconds, end_seconds) of every bar the band plays.
    chords: what the band plays, contiguous from the first bar to the last: one per bar
        in the intro and outro, the heard harmonic rhythm in between.
    intro_bars / outro_bars: how many of `bars` are before the voice / after it.
    first_bar_beat_index: where the band's first bar starts in grid.beats_seconds.
    """

    grid: BeatGrid
    bars: tuple[tuple[float, float], ...]
    chords: tuple[ChordSpan, ...]  # contiguous over the bars; may change inside a bar
    sections: tuple[Section, ...]
    intro_bars: int
    outro_bars: int
    first_bar_beat_index: int  # index into grid.beats_seconds of the band's first downbeat

    @property
    def start_seconds(self) -> float:
        return self.bars[0][0]

    @property
    def end_seconds(self) -> float:
        return self.bars[-1][1]

    @cached_property
    def _chord_starts(self) -> list[float]:
        return [c.start_seconds for c in self.chords]

    def chord_index(self, time_seconds: float) -> int:
        """Index into chords of the span sounding at a time (clamped to the form)."""
        i = bisect_right(self._chord_starts, time_seconds + 1e-6) - 1
        return min(max(i, 0), len(self.chords) - 1)

    def chord_at(self, time_seconds: float) -> Chord | None:
        """The chord sounding at a time (the first or last one outside the form)."""
        return self.chords[self.chord_index(time_seconds)].chord

    def chord_changes(self, start_seconds: float, end_seconds: float) -> list[float]:
        """Times strictly inside (start, end) where the chord changes."""
        starts = self._chord_starts
        lo = bisect_right(starts, start_seconds + 1e-6)
        hi = bisect_left(starts, end_seconds - 1e-6)
        return starts[lo:hi]

    def chords_in_bar(self, bar_index: int) -> list[ChordSpan]:
        a, b = self.bars[bar_index]
        return [c for c in self.chords if c.end_seconds > a + 1e-6 and c.start_seconds < b - 1e-6]

    def bar_beat_time(self, bar_index: int, beat: float) -> float:
        """Seconds at `beat` (fractional, from 0) within bar `bar_index`."""
        position = self.first_bar_beat_index + bar_index * self.grid.beats_per_bar + beat
        return self.grid.time_at(position)


def plan_form(
    *,
    grid: BeatGrid,
    key: Key,
    chords: tuple[ChordSpan, ...],
    sections: tuple[Section, ...],
    first_note_seconds: float,
    last_note_end_seconds: float,
    duration_seconds: float,
    intro_bars: int,
    outro_bars: int = 1,
) -> Form:
    """Lay out the bars: at least `intro_bars` whole bars before the first note, the band
    over the whole input, and `outro_bars` of closing tonic after the last note (and
    after the end of the input)."""
    bar_seconds = grid.beats_per_bar * 60.0 / grid.tempo_bpm
    wide = grid.extended(
        before_seconds=(intro_bars + 2) * bar_seconds + max(0.0, -first_note_seconds),
        after_seconds=(outro_bars + 2) * bar_seconds,
    )
    downbeats = np.asarray(wide.downbeats_seconds)
    # the bar holding the first note (a pickup belongs to the bar after it)
    voice_bar = int(np.searchsorted(downbeats, first_note_seconds + 0.25 * 60 / grid.tempo_bpm, side="right")) - 1
    voice_bar = max(voice_bar, 0)
    # the band starts at the bar holding second 0 of the input, or earlier when the voice
    # needs more bars of intro before its first note (a pickup included)
    start_bar = min(voice_bar - intro_bars, int(np.searchsorted(downbeats, 0.0, side="right")) - 1)
    while start_bar > 0 and downbeats[start_bar] > first_note_seconds - intro_bars * bar_seconds * 0.98:
        start_bar -= 1
    start_bar = max(start_bar, 0)
    last_voice_bar = int(np.searchsorted(downbeats, last_note_end_seconds - 0.05, side="right")) - 1
    end_bar = last_voice_bar + 1 + outro_bars  # exclusive
    while downbeats[min(end_bar, len(downbeats) - 1)] < duration_seconds and end_bar < len(downbeats) - 1:
        end_bar += 1
    end_bar = min(end_bar, len(downbeats) - 1)
    bars = tuple((float(downbeats[i]), float(downbeats[i + 1])) for i in range(start_bar, end_bar))

    tonic = Chord(key.tonic_pitch_class, "maj" if key.mode == "major" else "min")
    song_chords = [c for c in chords if c.chord is not None]
    first_song_bar = voice_bar - start_bar
    last_song_bar = last_voice_bar - start_bar
    planned: list[ChordSpan] = []
    for i, (a, b) in enumerate(bars):
        if i < first_song_bar:
            planned.append(ChordSpan(a, b, _intro_chord(i, first_song_bar, song_chords, tonic)))
        elif i > last_song_bar:
            planned.append(ChordSpan(a, b, tonic))
        else:  # the sung bars keep the heard harmonic rhythm (a change mid-bar stays mid-bar)
            planned.extend(_clip(song_chords, a, b, fallback=tonic))
    planned = _merge(planned)
    intro = first_song_bar
    outro = len(bars) - 1 - last_song_bar
    planned_sections = [Section(bars[0][0], bars[max(intro, 1) - 1][1], "intro")] if intro else []
    for s in sections:
        planned_sections.append(Section(max(s.start_seconds, bars[min(intro, len(bars) - 1)][0]), s.end_seconds, s.label))
    if outro > 0:
        planned_sections.append(Section(bars[len(bars) - outro][0], bars[-1][1], "outro"))
    first_beat = wide.first_downbeat_index + start_bar * wide.beats_per_bar
    return Form(wide, bars, tuple(planned), tuple(planned_sections), intro, outro, first_beat)


def _intro_chord(i: int, intro_bars: int, song_chords: list[ChordSpan], tonic: Chord) -> Chord:
    """Intro bar i of intro_bars: the song's first chords, ending on a chord that leads
    into the first sung bar (its dominant when the song starts on the tonic)."""
    if not song_chords:
        return tonic
    if intro_bars == 1:
        return song_chords[0].chord or tonic
    if i == intro_bars - 1:
        first = song_chords[0].chord or tonic
        if first.root_pitch_class == tonic.root_pitch_class:
            return Chord((tonic.root_pitch_class + 7) % 12, "maj")
        return first
    return song_chords[min(i, len(song_chords) - 1)].chord or tonic


def _chord_at(chords: list[ChordSpan], time_seconds: float) -> Chord | None:
    for span in chords:
        if span.start_seconds <= time_seconds < span.end_seconds:
            return span.chord
    if chords and time_seconds < chords[0].start_seconds:
        return chords[0].chord
    return chords[-1].chord if chords else None


def _clip(spans: list[ChordSpan], start: float, end: float, *, fallback: Chord) -> list[ChordSpan]:
    """The spans inside [start, end), contiguous: holes take the chord sounding before."""
    out: list[ChordSpan] = []
    t = start
    current = _chord_at(spans, start) or fallback
    for span in spans:
        if span.end_seconds <= start or span.start_seconds >= end:
            continue
        a = max(span.start_seconds, start)
        if a > t + 1e-6:
            out.append(ChordSpan(t, a, current))
        current = span.chord or current
        t_end = min(span.end_seconds, end)
        out.append(ChordSpan(a, t_end, current))
        t = t_end
    if t < end - 1e-6:
        out.append(ChordSpan(t, end, current))
    return [c for c in out if c.end_seconds - c.start_seconds > 1e-3]


def _merge(spans: list[ChordSpan]) -> tuple[ChordSpan, ...]:
    """Join neighbours that hold the same chord."""
    out: list[ChordSpan] = []
    for span in spans:
        if out and out[-1].chord == span.chord and abs(out[-1].end_seconds - span.start_seconds) < 1e-6:
            out[-1] = ChordSpan(out[-1].start_seconds, span.end_seconds, span.chord)
        else:
            out.append(span)
    return tuple(out)
