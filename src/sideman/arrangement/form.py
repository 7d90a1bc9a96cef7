"""The form on the input's clock: where the band starts (an intro of whole bars before
the voice), where it stops (a closing tonic after the voice), and the chord per bar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sideman.music import BeatGrid, Chord, ChordSpan, Key, Section


@dataclass(frozen=True)
class Form:
    """grid: the analysed grid extended over the intro and outro.
    bars: (start_seconds, end_seconds) of every bar the band plays.
    chords: one ChordSpan per bar (what the band plays).
    intro_bars / outro_bars: how many of `bars` are before the voice / after it.
    first_bar_beat_index: where the band's first bar starts in grid.beats_seconds.
    """

    grid: BeatGrid
    bars: tuple[tuple[float, float], ...]
    chords: tuple[ChordSpan, ...]
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
            chord = _intro_chord(i, first_song_bar, song_chords, tonic)
        elif i > last_song_bar:
            chord = tonic
        else:
            chord = _chord_at(song_chords, (a + b) / 2) or tonic
        planned.append(ChordSpan(a, b, chord))
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
