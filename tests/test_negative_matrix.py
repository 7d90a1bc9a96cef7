"""Negative tags are obeyed completely: a matrix of tags x negative tags, both takes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.arrangement import Knobs, arrange
from sideman.ingest import Audio
from sideman.style import style_from_tags, vocabulary

TAGS = ["pop", "rock, guitar", "jazz, piano", "edm, synth", "country, banjo", "relaxing, piano, soothing",
        "reggae", "funk, brass", "cinematic, choir", "lofi, rhodes", "swing, sax", "metal"]
NEGATIVES = ["", "drums", "fast drums", "piano", "guitar", "heavy metal", "jazz", "synths", "strings",
             "reggae", "brass", "backing vocals", "heavy metal, fast drums", "funk, country"]
HAT_LIKE = (42, 44, 46, 51, 70, 37)  # hats, ride, shaker, rim
TOMS = (45, 47, 50)


@pytest.fixture(scope="module")
def heard(melody):
    return analyze(Audio(melody.samples, 44100))


@pytest.mark.parametrize(("tags", "negative"), list(itertools.product(TAGS, NEGATIVES)))
def test_negative_tags_are_obeyed(heard, tags: str, negative: str) -> None:
    style = style_from_tags(tags, negative)
    vocab = vocabulary()
    beat = 60.0 / heard.grid.tempo_bpm
    for variation in (0, 1):
        band = arrange(heard, style, knobs=Knobs(model="V5" if variation else "V4_5PLUS"), seed=9, variation=variation)
        names = {t.name for t in band.score.tracks}
        assert not names & style.excluded_instruments, (names, style.excluded_instruments)
        negatives = [n.strip() for n in negative.split(",") if n.strip()]
        if "drums" in negatives:
            assert all(not t.is_drum for t in band.score.tracks)
        if "guitar" in negatives:
            assert not any(vocab["instruments"][n]["role"] == "guitar" for n in names)
        if "piano" in negatives:
            assert "piano" not in names
        if "fast drums" in negatives:
            for track in band.score.tracks:
                if track.is_drum:
                    for pitch in HAT_LIKE:  # each cymbal keeps to a beat or slower
                        hits = sorted(n.start_seconds for n in track.notes if n.pitch_midi == pitch)
                        assert len(hits) < 2 or np.min(np.diff(hits)) > 0.9 * beat
                    assert not any(n.pitch_midi in TOMS for n in track.notes)  # no fills
        for genre in style.excluded_genres:
            assert band.style.genre != genre
            signature = set(vocab["genres"][genre].get("signature", ()))
            used = {band.style.groove, band.style.bass_pattern, band.style.harmony_pattern}
            used |= {p.pattern for p in band.style.parts if p.pattern}
            assert not used & signature, (genre, used & signature)
            if "swing feel" in signature:
                assert band.style.feel == "straight"


def test_unknown_negative_tags_are_reported() -> None:
    style = style_from_tags("pop", "kazoo solo")
    assert style.unmatched_negative_tags == ("kazoo solo",)
