"""Harmony that follows the singer: the colours the melody sings, slash chords on a
stepwise bass, and the knobs' blend at the defaults."""

from __future__ import annotations

import pytest

from sideman.arrangement.knobs import implied_colours, walk_bass
from sideman.music import Chord, ChordSpan, Key, Note

C_MAJOR = Key(0, "major")


def _span(chord: Chord, start: float = 0.0, end: float = 2.0) -> tuple[ChordSpan, ...]:
    return (ChordSpan(start, end, chord),)


@pytest.mark.parametrize(("chord", "sung", "expected"), [
    (Chord(7, "maj"), [67, 71, 65], "7"),         # G with a sung F: G7
    (Chord(0, "maj"), [60, 64, 71], "maj7"),      # C with a sung B: Cmaj7
    (Chord(9, "min"), [69, 72, 67, 71], "min9"),  # Am with G and B: Am9
    (Chord(0, "maj"), [65, 60, 65], "sus4"),      # C dwelling on F, no E: Csus4
    (Chord(5, "maj"), [65, 69, 62], "maj6"),      # F with a sung D: F6
    (Chord(0, "maj"), [60, 64, 67], "maj"),       # nothing but triad tones: a triad
])
def test_the_chord_takes_the_colour_the_melody_sings(chord: Chord, sung: list[int], expected: str) -> None:
    notes = tuple(Note(i * 0.5, i * 0.5 + 0.35, p) for i, p in enumerate(sung))  # none held
    out = implied_colours(_span(chord), notes, C_MAJOR, long_seconds=0.4)
    assert out[0].chord.quality == expected
    assert out[0].chord.root_pitch_class == chord.root_pitch_class


def test_a_colour_that_would_rub_is_left_out() -> None:
    # a sung B over C, then a held C: Cmaj7's B would rub a semitone under the held C
    notes = (Note(0.0, 0.35, 71), Note(0.4, 1.9, 72))
    out = implied_colours(_span(Chord(0, "maj")), notes, C_MAJOR, long_seconds=0.4)
    assert out[0].chord == Chord(0, "maj")
    short = (Note(0.0, 0.35, 71), Note(0.4, 0.75, 72))  # the same line, nothing held: Cmaj7
    assert implied_colours(_span(Chord(0, "maj")), short, C_MAJOR, long_seconds=0.4)[0].chord.quality == "maj7"


def test_the_bass_walks_down_through_a_slash_chord() -> None:
    spans = (ChordSpan(0, 2, Chord(0, "maj")), ChordSpan(2, 4, Chord(7, "maj")), ChordSpan(4, 6, Chord(9, "min")))
    out = walk_bass(spans)
    assert out[1].chord.bass_pitch_class == 11  # C - G/B - Am
    assert out[1].chord.symbol == "G/B" and out[1].chord.label == "G:maj/3"
    assert Chord.parse(out[1].chord.label) == out[1].chord
    assert out[0].chord.bass_pitch_class is None and out[2].chord.bass_pitch_class is None


def test_no_slash_where_the_roots_already_step() -> None:
    spans = (ChordSpan(0, 2, Chord(5, "maj")), ChordSpan(2, 4, Chord(7, "maj")), ChordSpan(4, 6, Chord(0, "maj")))
    assert walk_bass(spans) == spans  # F - G - C: the roots move by step and leap home


def test_a_second_take_reharmonises_where_the_melody_allows(melody) -> None:
    import numpy as np

    from sideman.analysis import analyze
    from sideman.arrangement import Knobs, arrange
    from sideman.arrangement.knobs import chord_fit, clash_seconds
    from sideman.ingest import Audio
    from sideman.style import style_from_tags

    heard = analyze(Audio(melody.samples, 44100))
    style = style_from_tags("pop")
    takes = [arrange(heard, style, knobs=Knobs(weirdness_constraint=0.0), seed=3 + i, variation=i) for i in range(2)]
    times = np.linspace(heard.first_note_seconds + 0.01, heard.last_note_end_seconds - 0.01, 200)
    roots = [[take.form.chord_at(t).root_pitch_class for t in times] for take in takes]
    assert np.mean([a != b for a, b in zip(*roots, strict=True)]) > 0.05  # another progression
    fit = lambda take: np.mean([chord_fit(c.chord, heard.notes, c.start_seconds, c.end_seconds)  # noqa: E731
                                for c in take.form.chords])
    assert fit(takes[1]) >= fit(takes[0]) - 1e-9  # the melody fits it as well
    assert sum(clash_seconds(c.chord, heard.notes, c.start_seconds, c.end_seconds, long_seconds=0.4)
               for c in takes[1].form.chords) == 0
