"""Compound meters (6/8, 9/8) from a line that moves in threes: the dotted quarter is the
beat (BeatGrid.beat_unit 8), not the quarter note that three eighths-pairs suggest."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.ingest import Audio
from signals import compound_melody, sung_melody


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
