"""Confidence per field, and the rival reading named where it is close."""

from __future__ import annotations

import numpy as np

from sideman.analysis import analyze
from sideman.analysis.confidence import estimate_confidence
from sideman.analysis.tuning import Tuning
from sideman.ingest import Audio
from sideman.music import BeatGrid, Key, Note
from signals import sung_melody


def test_analysis_reports_a_confidence_for_every_field() -> None:
    melody = sung_melody(bars=8)
    heard = analyze(Audio(melody.samples, 44100))
    out = heard.to_json()
    assert set(out["confidence"]) == {"tempo", "meter", "downbeat", "key", "tuning"}
    assert all(0.0 <= v <= 1.0 for v in out["confidence"].values())
    assert out["confidence"]["key"] >= 0.5 and out["confidence"]["tuning"] >= 0.6
    assert "key" not in out["alternatives"]  # a clear G major line names no rival key


def _line(pitches: list[int], beat: float = 0.5) -> tuple[Note, ...]:
    return tuple(Note(i * beat, (i + 0.9) * beat, p) for i, p in enumerate(pitches))


def test_a_melody_that_does_not_decide_its_key_names_the_rival() -> None:
    # only C D F G (no third, no sixth, no seventh): C major, F major, G... all fit
    notes = _line([60, 62, 65, 67, 65, 62, 60, 67, 65, 62, 60, 62] * 3)
    grid = BeatGrid(tuple(np.arange(0.0, len(notes) * 0.5 + 1.0, 0.5)), 4, 4, 0)
    confidence = estimate_confidence(notes, grid, Key(0, "major"), Tuning())
    assert "key" in confidence.alternatives
    assert confidence.key < 0.8


def test_a_clear_major_melody_is_sure_of_its_key() -> None:
    # the whole C major scale, tonic and fifth on the beats
    notes = _line([60, 64, 67, 72, 71, 69, 67, 65, 64, 62, 60, 67, 64, 60] * 3)
    grid = BeatGrid(tuple(np.arange(0.0, len(notes) * 0.5 + 1.0, 0.5)), 4, 4, 0)
    confidence = estimate_confidence(notes, grid, Key(0, "major"), Tuning())
    assert confidence.key >= 0.6
    assert "key" not in confidence.alternatives


def test_count_in_runs_at_the_songs_tempo_not_its_first_interval() -> None:
    # a first interval of 0.5 s (120 bpm) before a song at 0.54 s a beat (111 bpm)
    beats = (0.0, 0.5) + tuple(0.5 + 0.54 * k for k in range(1, 30))
    grid = BeatGrid(beats, 4, 4, 0).extended(before_seconds=2.0, after_seconds=0.0)
    head = np.diff(grid.beats_seconds[:5])
    assert np.allclose(head[:3], 0.54, atol=1e-6)
