"""Chord estimation from small note lists whose harmony is known."""

from __future__ import annotations

from sideman.analysis.harmony import (
    candidate_chords,
    emission_scores,
    estimate_chords,
    transition_bonus,
)
from sideman.music import BeatGrid, Chord, Key, Note

BEAT = 0.5  # 120 bpm


def _grid(bars: int, *, pickup_beats: int = 0) -> BeatGrid:
    beats = tuple(round(k * BEAT, 6) for k in range(pickup_beats + 4 * bars + 1))
    return BeatGrid(beats, beats_per_bar=4, first_downbeat_index=pickup_beats)


def _arpeggios(triads: list[tuple[int, int, int]], *, offset_seconds: float = 0.0) -> list[Note]:
    """One bar per triad: root, third, fifth, root an octave up, a beat each."""
    notes = []
    for bar, (root, third, fifth) in enumerate(triads):
        for beat, pitch in enumerate((root, third, fifth, root + 12)):
            start = offset_seconds + (4 * bar + beat) * BEAT
            notes.append(Note(start, start + 0.95 * BEAT, pitch))
    return notes


def _chord_at(spans, t: float) -> str:
    return next(s.label for s in spans if s.start_seconds <= t < s.end_seconds)


def test_a_melody_outlining_i_vi_iv_v_gets_those_chords() -> None:
    # C major: I - vi - IV - V - I, the melody spelling each triad
    triads = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62), (60, 64, 67)]
    notes = tuple(_arpeggios(triads))
    grid = _grid(len(triads))
    spans = estimate_chords(notes, grid, Key(0, "major"), start_seconds=notes[0].start_seconds,
                            end_seconds=notes[-1].end_seconds)
    labels = [_chord_at(spans, (4 * bar + 2) * BEAT) for bar in range(len(triads))]
    assert labels == ["C:maj", "A:min", "F:maj", "G:maj", "C:maj"]


def test_a_bar_that_fits_vi_and_iv_alike_between_v_and_iv_is_vi() -> None:
    # C major: I - V - ? - IV - I, the third bar sings G then A (both in A minor and in
    # F major alike): the pop progression I-V-vi-IV hears A minor, not an early F
    notes = _arpeggios([(60, 64, 67), (55, 59, 62)])
    notes += [Note(8 * BEAT, 9.9 * BEAT, 67), Note(10 * BEAT, 11.9 * BEAT, 69)]
    notes += _arpeggios([(53, 57, 60), (60, 64, 67)], offset_seconds=12 * BEAT)
    spans = estimate_chords(tuple(notes), _grid(5), Key(0, "major"), start_seconds=0.0,
                            end_seconds=notes[-1].end_seconds)
    labels = [_chord_at(spans, (4 * bar + 2) * BEAT) for bar in range(5)]
    assert labels == ["C:maj", "G:maj", "A:min", "F:maj", "C:maj"]


def test_plagal_and_authentic_motion_weigh_alike_and_pop_progression_steps_weigh_more() -> None:
    def bonus(key: Key, a: Chord, b: Chord) -> float:
        chords = candidate_chords(key)
        return float(transition_bonus(chords, key)[chords.index(a), chords.index(b)])

    c_major = Key(0, "major")
    c, f, g, am, em = Chord(0, "maj"), Chord(5, "maj"), Chord(7, "maj"), Chord(9, "min"), Chord(4, "min")
    assert bonus(c_major, f, c) == bonus(c_major, g, c)  # IV-I as much as V-I
    assert bonus(c_major, g, am) > bonus(c_major, g, em)  # V-vi (I-V-vi-IV) over V-iii
    assert bonus(c_major, am, f) > bonus(c_major, am, g)  # vi-IV over vi-V
    a_minor = Key(9, "minor")
    assert bonus(a_minor, c, g) > bonus(a_minor, c, f)  # III-VII (i-VI-III-VII) over III-VI


def test_pickup_notes_before_the_first_bar_line_have_a_chord() -> None:
    # a two-beat pickup (G, B: the dominant) into bars of C major
    triads = [(60, 64, 67), (53, 57, 60), (55, 59, 62), (60, 64, 67)]
    pickup = [Note(0.0, 0.95 * BEAT, 55), Note(BEAT, 1.95 * BEAT, 59)]
    notes = tuple(pickup + _arpeggios(triads, offset_seconds=2 * BEAT))
    grid = _grid(len(triads), pickup_beats=2)
    spans = estimate_chords(notes, grid, Key(0, "major"), start_seconds=notes[0].start_seconds,
                            end_seconds=notes[-1].end_seconds)
    assert spans[0].start_seconds <= notes[0].start_seconds
    assert _chord_at(spans, 0.1) == "G:maj"
    assert _chord_at(spans, 2 * BEAT + 0.1) == "C:maj"


def test_a_first_note_sung_just_before_the_bar_line_is_no_pickup() -> None:
    triads = [(60, 64, 67), (55, 59, 62), (60, 64, 67)]
    notes = _arpeggios(triads)
    notes[0] = Note(-0.05, notes[0].end_seconds, notes[0].pitch_midi)  # a hair early
    grid = BeatGrid(tuple(round(k * BEAT, 6) for k in range(4 * len(triads) + 1)), beats_per_bar=4)
    spans = estimate_chords(tuple(notes), grid, Key(0, "major"), start_seconds=-0.05,
                            end_seconds=notes[-1].end_seconds)
    assert spans[0].start_seconds == 0.0


def test_a_sung_tonic_is_no_more_evidence_for_i_than_for_iv_or_vi_but_other_roots_are() -> None:
    # a melody rests on the tonic over vi and IV as much as over I: a sung C scores
    # C major, F major and A minor alike in C major (in A minor: A minor, F and D minor)
    def scores(key: Key, pitch: int) -> dict[str, float]:
        chords = candidate_chords(key)
        row = emission_scores((Note(0.0, BEAT, pitch),), [(0.0, BEAT)], chords, key)[0]
        return {c.label: float(v) for c, v in zip(chords, row, strict=True)}

    c_major = scores(Key(0, "major"), 60)
    assert c_major["C:maj"] == c_major["F:maj"] == c_major["A:min"] > 0
    a_minor = scores(Key(9, "minor"), 69)
    assert a_minor["A:min"] == a_minor["F:maj"] == a_minor["D:min"] > 0
    g = scores(Key(0, "major"), 67)  # the fifth degree: the root of V counts more than a fifth of I
    assert g["G:maj"] > g["C:maj"] == g["E:min"]


def _minor_cadence(*, seventh: int) -> list[str]:
    """A minor, i - iv - ? - i: the third bar sings E and B (the dominant's root and fifth,
    in v and V alike) with `seventh` (G or G#) as a short passing note between them."""
    notes = _arpeggios([(57, 60, 64), (62, 65, 69)])
    notes += [Note(8 * BEAT, 9.4 * BEAT, 64), Note(9.5 * BEAT, 9.95 * BEAT, seventh), Note(10 * BEAT, 11.9 * BEAT, 71)]
    notes += _arpeggios([(57, 60, 64)], offset_seconds=12 * BEAT)
    spans = estimate_chords(tuple(notes), _grid(4), Key(9, "minor"), start_seconds=0.0,
                            end_seconds=notes[-1].end_seconds)
    return [_chord_at(spans, (4 * bar + 2) * BEAT) for bar in range(4)]


def test_a_minor_key_hears_the_natural_minor_v_where_the_melody_passes_its_flat_seventh() -> None:
    # pop minor is mostly Aeolian: a passing G over E and B makes the dominant E minor
    # (i-iv-v-i), a passing G# the harmonic-minor E major (i-iv-V-i)
    assert _minor_cadence(seventh=67) == ["A:min", "D:min", "E:min", "A:min"]
    assert _minor_cadence(seventh=68) == ["A:min", "D:min", "E:maj", "A:min"]
