"""What every part needs to write its notes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sideman.arrangement.arc import BarRole
from sideman.arrangement.form import Form
from sideman.arrangement.knobs import sounding
from sideman.music import Key, Note
from sideman.style import StyleSpec


@dataclass(frozen=True)
class PartContext:
    """form: bars, chords and grid; energy_per_bar: 0..1 per bar of the form;
    swing: delay of off-beat eighths as a fraction of a beat (0 straight, ~0.16 swing);
    rng: the one seeded generator; humanize: 0..1, how loose the model plays (V5: 1),
    read by the parts for what they choose to play (drum answers in the voice's rests);
    the notes are written on the grid at their written velocities, and the performance
    step (sideman.perform) alone moves them (correlated drift, push, accents);
    vocal_range_midi: the sung range the harmony keeps clear;
    arc: what each bar is for (arc.py), one BarRole per bar of the form."""

    form: Form
    key: Key
    style: StyleSpec
    energy_per_bar: np.ndarray
    swing: float
    rng: np.random.Generator
    humanize: float
    vocal_range_midi: tuple[int, int]
    variation: int
    fuller_voicings: bool
    melody: tuple[Note, ...] = ()
    vocal_gender: str = "f"
    arc: tuple[BarRole, ...] = ()

    def role(self, bar_index: int) -> BarRole:
        """The bar's place in the song (a chorus bar when no arc was planned)."""
        if 0 <= bar_index < len(self.arc):
            return self.arc[bar_index]
        return BarRole("chorus", 2)

    def time(self, bar_index: int, beat: float) -> float:
        """Seconds at a beat of a bar, with swing on the off-beat eighths (on the grid:
        the performance step adds the feel)."""
        whole = int(np.floor(beat + 1e-9))
        frac = beat - whole
        if self.swing and abs(frac - 0.5) < 1e-6:
            beat = whole + 0.5 + self.swing
        return self.form.bar_beat_time(bar_index, beat)

    @cached_property
    def beat_seconds(self) -> float:
        """One beat at the grid's tempo (the median beat; computed once)."""
        return 60.0 / self.form.grid.tempo_bpm

    def under_long_note(self, time_seconds: float) -> bool:
        """Whether a sung note of a beat or more is sounding at this time."""
        beat = self.beat_seconds
        return any(n.start_seconds <= time_seconds < n.end_seconds and n.duration_seconds >= beat
                   for n in sounding(self.melody, time_seconds, time_seconds + 1e-6))

    def gaps(self, *, min_beats: float = 1.5) -> list[tuple[float, float]]:
        """Rests in the voice of at least min_beats: between sung notes, and the intro and
        outro (before the first note, after the last one until the closing bar)."""
        beat = self.beat_seconds
        if not self.melody:
            return []
        edges = [(self.form.start_seconds, self.melody[0].start_seconds)]
        edges += [(a.end_seconds, b.start_seconds) for a, b in zip(self.melody, self.melody[1:], strict=False)]
        edges.append((self.melody[-1].end_seconds, self.form.bars[-1][0]))
        return [(a, b) for a, b in edges if b - a >= min_beats * beat]

    def bar_of(self, time_seconds: float) -> int:
        for i, (a, b) in enumerate(self.form.bars):
            if a <= time_seconds < b:
                return i
        return len(self.form.bars) - 1

    def velocity(self, bar_index: int, base: float, *, accent: float = 0.0) -> int:
        """MIDI velocity from a base (0..1), the bar's energy and an accent."""
        energy = float(self.energy_per_bar[min(bar_index, len(self.energy_per_bar) - 1)])
        level = base * (0.7 + 0.45 * energy) + accent
        return int(np.clip(round(127 * level), 20, 127))
