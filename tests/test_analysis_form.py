"""Phrases, sections, energy, range and register of a synthetic sung line."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.ingest import Audio
from signals import degraded, sung_melody


@pytest.mark.parametrize(("transpose", "register"), [(-12, "m"), (0, "f")])
def test_register_follows_the_median_pitch(transpose, register) -> None:
    """G major line around G4 reads as a high voice; an octave down as a low one; the
    range holds the sung notes (2nd..98th percentile)."""
    melody = sung_melody(transpose=transpose, bars=8)
    heard = analyze(Audio(melody.samples, 44100))
    assert heard.vocal_register == register
    pitches = [p for _, _, p in melody.notes]
    low, high = heard.vocal_range_midi
    assert min(pitches) - 1 <= low <= high <= max(pitches) + 1


def test_a_rest_splits_phrases_and_sections_cover_the_take() -> None:
    """Two eight-bar verses with two bars of rest between: two phrases or more, the
    rest falls between phrases, sections tile [0, duration), one energy value per bar."""
    first = sung_melody(bars=8, tempo_bpm=100.0)
    gap = int(2 * 4 * 0.6 * 44100)
    samples = np.concatenate([first.samples, np.zeros(gap, np.float32), first.samples])
    heard = analyze(Audio(degraded(samples, noise_db=-70.0), 44100))
    assert len(heard.phrases) >= 2
    rest_start = len(first.samples) / 44100
    assert any(a <= rest_start + 0.5 and b >= rest_start + 0.5 for a, b in zip(
        [p[1] for p in heard.phrases[:-1]], [p[0] for p in heard.phrases[1:]], strict=True))
    assert heard.sections[0].start_seconds == 0.0
    assert len(heard.sections) >= 2
    second = next(x for x in heard.sections if x.start_seconds >= rest_start)
    assert second.label == heard.sections[0].label  # the verse comes back
    assert heard.sections[-1].end_seconds == pytest.approx(heard.duration_seconds)
    for before, after in zip(heard.sections[:-1], heard.sections[1:], strict=True):
        assert before.end_seconds == after.start_seconds
    assert len(heard.energy_per_bar) == len(heard.grid.downbeats_seconds)
    assert all(0.0 <= e <= 1.0 for e in heard.energy_per_bar)
    # the bars of the rest are quieter than the sung bars
    downbeats = np.array(heard.grid.downbeats_seconds)
    in_rest = (downbeats > rest_start + 0.3) & (downbeats < rest_start + 2 * 4 * 0.6 - 2.5)
    if in_rest.any():
        assert max(np.array(heard.energy_per_bar)[in_rest]) < np.median(heard.energy_per_bar)
