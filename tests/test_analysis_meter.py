"""Compound meters (6/8, 9/8) from a line that moves in threes: the dotted quarter is the
beat (BeatGrid.beat_unit 8), not the quarter note that three eighths-pairs suggest; 2/4
from a line whose every other beat is as strong as a downbeat; and a line that moves in
quarter notes keeps its quarter-note tempo (not half of it)."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.arrangement import Knobs, arrange
from sideman.ingest import Audio
from sideman.style import style_from_tags
from signals import (
    SAMPLE_RATE_HZ,
    compound_melody,
    quarter_note_melody,
    running_compound_melody,
    sung_melody,
    two_four_melody,
)


@pytest.mark.parametrize(
    ("beats_per_bar", "dotted_quarter_bpm", "meter"),
    [(2, 60.0, "6/8"), (2, 76.0, "6/8"), (3, 66.0, "9/8")],
)
def test_compound_meter_counts_dotted_quarters(beats_per_bar, dotted_quarter_bpm, meter) -> None:
    """Tempo within 4 % of the dotted-quarter tempo, the meter named, bar lines found
    (downbeat F >= 0.8)."""
    melody = compound_melody(dotted_quarter_bpm=dotted_quarter_bpm, beats_per_bar=beats_per_bar, bars=12)
    heard = analyze(Audio(melody.samples, 44100))
    assert heard.grid.beat_unit == 8
    assert heard.grid.meter == meter
    assert heard.grid.tempo_bpm == pytest.approx(dotted_quarter_bpm, rel=0.04)
    f = mir_eval.beat.f_measure(np.array(melody.downbeats_seconds), np.array(heard.grid.downbeats_seconds))
    assert f >= 0.8


def test_compound_chords_follow_the_bars() -> None:
    """The chords of a 6/8 tune keep the melody on chord tones (>= 75 % of its time)."""
    melody = compound_melody(dotted_quarter_bpm=60.0, beats_per_bar=2, bars=12)
    heard = analyze(Audio(melody.samples, 44100))
    on = total = 0.0
    for s, e, pitch in melody.notes:
        span = next(c for c in heard.chords if c.start_seconds <= (s + e) / 2 < c.end_seconds + 1e-6)
        total += e - s
        on += (e - s) * (pitch % 12 in span.chord.pitch_classes)
    assert on / total >= 0.75


@pytest.mark.parametrize("tempo_bpm", [80.0, 100.0, 132.0])
def test_simple_meter_stays_simple(tempo_bpm) -> None:
    """A 4/4 line with halves and quarters is not heard in threes."""
    melody = sung_melody(tempo_bpm=tempo_bpm, bars=8)
    heard = analyze(Audio(melody.samples, 44100))
    assert heard.grid.beat_unit == 4
    assert heard.grid.meter == "4/4"


@pytest.mark.parametrize(("tempo_bpm", "phrase_bars"), [(112.0, 5), (96.0, 3), (132.0, 5)])
def test_two_four_is_heard_in_twos(tempo_bpm, phrase_bars) -> None:
    """A march-like line in 2/4 (phrases of an odd number of bars) is 2/4, not 4/4: a bar
    line every two beats (downbeat F >= 0.8), and the meter in the analysis JSON."""
    melody = two_four_melody(tempo_bpm=tempo_bpm, phrase_bars=phrase_bars, bars=6 * phrase_bars)
    heard = analyze(Audio(melody.samples, 44100))
    grid = heard.grid
    assert (grid.beats_per_bar, grid.beat_unit, grid.meter) == (2, 4, "2/4")
    assert heard.to_json()["meter"] == "2/4"
    assert grid.tempo_bpm == pytest.approx(tempo_bpm, rel=0.04)
    assert grid.downbeats_seconds == grid.beats_seconds[grid.first_downbeat_index :: 2]
    f = mir_eval.beat.f_measure(np.array(melody.downbeats_seconds), np.array(grid.downbeats_seconds))
    assert f >= 0.8


@pytest.fixture(scope="module")
def two_four_heard():
    return analyze(Audio(two_four_melody().samples, 44100))


@pytest.mark.parametrize(("tags", "drum", "on_beat"), [("pop, piano", 38, 1), ("reggae", 36, 0), ("trap", 38, 0)])
def test_two_four_arrangement_plays_two_beat_bars(two_four_heard, tags, drum, on_beat) -> None:
    """The band plays bars of two beats on a 2/4 grid; a groove written for four beats
    spans two of them, so what it plays on its third beat (the reggae drop, the
    half-time snare) falls on the downbeat of every other bar."""
    grid = two_four_heard.grid
    band = arrange(two_four_heard, style_from_tags(tags), knobs=Knobs(), seed=1)
    beat = 60.0 / grid.tempo_bpm
    assert band.form.grid.beats_per_bar == 2
    assert all(b - a == pytest.approx(2 * beat, rel=0.05) for a, b in band.form.bars)
    drums = next(t for t in band.score.tracks if t.role == "drums")
    hits = np.array([n.start_seconds for n in drums.notes if n.pitch_midi == drum])
    on = [a + on_beat * (b - a) / 2 for a, b in band.form.bars[:-1]]  # the last bar is one closing hit
    struck = [len(hits) > 0 and np.min(np.abs(hits - t)) < 0.03 for t in on]
    assert sum(struck) >= len(on) // 2 - 1
    downbeats = np.array(band.form.grid.downbeats_seconds)
    # every bar's start is a downbeat of the 2/4 grid
    assert all(np.min(np.abs(downbeats - a)) < 1e-6 for a, _ in band.form.bars)


def test_two_four_intro_is_two_bars(two_four_heard) -> None:
    """A count-in of one 2/4 bar is two beats: too short to come in on."""
    band = arrange(two_four_heard, style_from_tags("pop, piano"), knobs=Knobs(), seed=1)
    assert band.form.intro_bars >= 2
    first_bar_start = band.form.bars[0][0]
    assert two_four_heard.first_note_seconds - first_bar_start >= 4 * 60.0 / two_four_heard.grid.tempo_bpm - 0.3


@pytest.mark.parametrize(("bars", "tempo_bpm"), [(4, 100.0), (16, 100.0), (4, 112.0)])
def test_simple_tune_keeps_its_tempo(bars, tempo_bpm) -> None:
    """Halves and quarters at 100 bpm are heard at 100, not as quarters and eighths at
    50: notes that long do not subdivide a beat, so the notes-per-beat prior stays out."""
    melody = sung_melody(tempo_bpm=tempo_bpm, bars=bars)
    heard = analyze(Audio(melody.samples, 44100))
    assert heard.grid.tempo_bpm == pytest.approx(tempo_bpm, rel=0.04)
    period = 60.0 / tempo_bpm
    truth = melody.first_downbeat_seconds + period * np.arange(4 * bars)
    beats = np.array(heard.grid.beats_seconds)
    beats = beats[(beats > truth[0] - period / 2) & (beats < truth[-1] + period / 2)]
    assert mir_eval.beat.f_measure(truth, beats, f_measure_threshold=0.07) >= 0.9


@pytest.mark.parametrize(("bars", "tempo_bpm"), [(4, 110.0), (4, 132.0), (8, 120.0)])
def test_even_quarter_notes_are_the_beat(bars, tempo_bpm) -> None:
    """Even quarter notes, with nothing pairing them, are the beat, even where half their
    rate (55-66 bpm) would hold two notes a beat."""
    melody = quarter_note_melody(tempo_bpm=tempo_bpm, bars=bars)
    heard = analyze(Audio(melody.samples, 44100))
    assert heard.grid.tempo_bpm == pytest.approx(tempo_bpm, rel=0.04)


@pytest.mark.parametrize(
    ("dotted_quarter_bpm", "beats_per_bar", "seed"),
    [(110.0, 2, 0), (110.0, 2, 1), (50.0, 2, 0), (70.0, 2, 1), (60.0, 4, 1), (100.0, 3, 1)],
)
def test_running_eighths_in_compound_time_are_counted_in_dotted_quarters(dotted_quarter_bpm, beats_per_bar,
                                                                         seed) -> None:
    """Jigs, slip jigs and slow 6/8 and 12/8 lines that run in eighths: the beat is the
    dotted quarter (not the quarter of the 3:2 trap, nor the eighth)."""
    samples, beats, _ = running_compound_melody(dotted_quarter_bpm=dotted_quarter_bpm,
                                                beats_per_bar=beats_per_bar, seed=seed)
    heard = analyze(Audio(samples, SAMPLE_RATE_HZ))
    assert heard.grid.beat_unit == 8
    assert heard.grid.tempo_bpm == pytest.approx(dotted_quarter_bpm, rel=0.04)
    assert mir_eval.beat.f_measure(np.array(beats), np.array(heard.grid.beats_seconds)) >= 0.9
