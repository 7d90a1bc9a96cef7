"""arrangement: Analysis + StyleSpec + knobs + seed -> Arrangement (a Score on the
input's clock, its chord chart, its form and a brief in words).

Same analysis, style, knobs and seed -> the same notes (one seeded Generator)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sideman.analysis import Analysis
from sideman.arrangement.bass import write_bass
from sideman.arrangement.brief import write_brief
from sideman.arrangement.colour import write_colour
from sideman.arrangement.context import PartContext
from sideman.arrangement.drums import write_drums
from sideman.arrangement.form import Form, plan_form
from sideman.arrangement.harmony import write_harmony
from sideman.arrangement.patterns import patterns
from sideman.music import Chord, ChordSpan, Score, Track
from sideman.style import PartChoice, StyleSpec

__all__ = ["Arrangement", "Knobs", "arrange"]

_STOCK_PROGRESSION = {"major": ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
                      "minor": ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj"))}


@dataclass(frozen=True)
class Knobs:
    """The request's knobs, 0..1 each (see the HTTP contract), and the model."""

    style_weight: float = 0.5
    weirdness_constraint: float = 0.3
    audio_weight: float = 0.7
    model: str = "V4_5PLUS"
    vocal_gender: str | None = None


@dataclass(frozen=True)
class Arrangement:
    """score: every part as notes (seconds on the input's clock);
    form: bars, chords and sections; brief: what was heard and what will be played."""

    score: Score
    form: Form
    style: StyleSpec
    seed: int
    variation: int
    brief: str

    @property
    def start_seconds(self) -> float:
        return self.form.start_seconds

    @property
    def end_seconds(self) -> float:
        return max(self.form.end_seconds, self.score.end_seconds)


def arrange(analysis: Analysis, style: StyleSpec, *, knobs: Knobs, seed: int, variation: int = 0) -> Arrangement:
    """Write the band's parts for one variation (0, 1, ...): later variations take the
    style's alternate instruments and the neighbouring groove and harmony patterns."""
    rng = np.random.default_rng(seed)
    style = _interpret(style, variation)
    chords = _follow_or_stock(analysis, knobs.audio_weight)
    chords = _colour(chords, rng, knobs.weirdness_constraint)
    intro_bars = max(style.intro_bars, 2 if analysis.grid.tempo_bpm < 70 else 1)
    form = plan_form(
        grid=analysis.grid,
        key=analysis.key,
        chords=chords,
        sections=analysis.sections,
        first_note_seconds=analysis.first_note_seconds,
        last_note_end_seconds=analysis.last_note_end_seconds,
        duration_seconds=analysis.duration_seconds,
        intro_bars=intro_bars,
    )
    energy = _energy_per_bar(analysis, form, style, knobs.audio_weight)
    register = (analysis.vocal_range_midi if knobs.vocal_gender is None
                else ((57, 76) if knobs.vocal_gender == "f" else (45, 64)))
    ctx = PartContext(
        form=form, key=analysis.key, style=style, energy_per_bar=energy,
        swing=0.16 if style.feel == "swing" else 0.0, rng=rng,
        humanize=1.0 if knobs.model == "V5" else 0.0, vocal_range_midi=register,
        variation=variation, fuller_voicings=knobs.model == "V4_5PLUS",
        melody=analysis.notes, vocal_gender=knobs.vocal_gender or analysis.vocal_register,
    )
    mix = patterns()["mix"]
    tracks = []
    for part in style.parts:
        sparse = part.role in style.sparse_roles or style.density < 0.3
        notes = _write_part(ctx, part, style, sparse)
        if notes:
            level = mix.get(part.role, {"gain_db": -6.0, "pan": 0.0})
            tracks.append(Track(part.role, part.instrument, part.program, part.is_drum, notes,
                                gain_db=float(level["gain_db"]), pan=float(level["pan"]) * (-1 if variation % 2 else 1)))
    score = Score(tuple(tracks), form.grid, analysis.key, form.chords, form.sections)
    brief = write_brief(analysis, style, form, tracks=score.tracks, variation=variation)
    return Arrangement(score, form, style, seed, variation, brief)


def _write_part(ctx: PartContext, part: PartChoice, style: StyleSpec, sparse: bool):
    if part.role == "drums":
        return write_drums(ctx, groove=style.groove, sparse=sparse)
    if part.role == "bass":
        return write_bass(ctx, pattern=style.bass_pattern, sparse=sparse)
    if part.pattern is not None:
        return write_colour(ctx, role=part.role, pattern=part.pattern, sparse=sparse)
    pattern = "sustained"
    if part.role == "guitar" or (part.role == "keys" and style.part("guitar") is None):
        pattern = style.harmony_pattern  # the part that carries the style's comping
    elif part.role == "keys":
        pattern = patterns()["companion_harmony"].get(style.harmony_pattern, "sustained")
    return write_harmony(ctx, role=part.role, pattern=pattern, sparse=sparse)


def _interpret(style: StyleSpec, variation: int) -> StyleSpec:
    """Variation 0 plays the tags as read; odd variations swap in the alternate harmony
    instrument and the neighbouring groove and harmony patterns."""
    if variation % 2 == 0:
        return style
    data = patterns()
    parts = tuple(style.alternates.get(p.role, p) if p.role in ("keys", "guitar", "strings") else p
                  for p in style.parts)
    return replace(
        style,
        parts=parts,
        groove=data["variation_groove"].get(style.groove, style.groove) if style.energy < 0.9 else style.groove,
        harmony_pattern=data["variation_harmony"].get(style.harmony_pattern, style.harmony_pattern),
    )


def _follow_or_stock(analysis: Analysis, audio_weight: float) -> tuple[ChordSpan, ...]:
    """audio_weight >= 0.3 follows the chords heard in the melody; below it the style's
    stock progression in the key, bar by bar."""
    if audio_weight >= 0.3 or not analysis.chords:
        return analysis.chords
    steps = _STOCK_PROGRESSION[analysis.key.mode]
    tonic = analysis.key.tonic_pitch_class
    return tuple(
        ChordSpan(c.start_seconds, c.end_seconds, Chord((tonic + steps[i % 4][0]) % 12, steps[i % 4][1]))
        for i, c in enumerate(analysis.chords)
    )


def _colour(chords: tuple[ChordSpan, ...], rng: np.random.Generator, weirdness: float) -> tuple[ChordSpan, ...]:
    """weirdness_constraint > 0 adds sevenths and sus colours to some chords (the same
    roots, so the melody still agrees)."""
    out = []
    for span in chords:
        chord = span.chord
        if chord is not None and rng.random() < 0.5 * weirdness:
            quality = {"maj": "maj7", "min": "min7"}.get(chord.quality, chord.quality)
            chord = Chord(chord.root_pitch_class, quality)
        out.append(ChordSpan(span.start_seconds, span.end_seconds, chord))
    return tuple(out)


def _energy_per_bar(analysis: Analysis, form: Form, style: StyleSpec, audio_weight: float) -> np.ndarray:
    """0..1 per bar: the style's energy, moved toward the voice's energy by audio_weight;
    the intro a little softer, the outro fading."""
    voice = np.asarray(analysis.energy_per_bar) if analysis.energy_per_bar else np.zeros(1)
    downbeats = np.asarray(analysis.grid.downbeats_seconds)
    values = []
    for i, (a, _) in enumerate(form.bars):
        j = int(np.clip(np.searchsorted(downbeats, a + 1e-3) - 1, 0, len(voice) - 1))
        heard = float(voice[j]) if form.intro_bars <= i < len(form.bars) - form.outro_bars else style.energy * 0.8
        values.append((1 - audio_weight) * style.energy + audio_weight * (0.5 * style.energy + 0.5 * heard))
    return np.clip(np.array(values), 0.05, 1.0)
