"""The singer's tuning: a voice off A440 is heard in its own tuning, and the band plays
at it."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.analysis.tuning import estimate_tuning
from sideman.arrangement import Knobs, arrange
from sideman.ingest import Audio
from sideman.music import Note, Track
from sideman.style import style_from_tags
from signals import sung_melody


def _note_f1(melody, heard, *, cents: float) -> float:
    ref = np.array(melody.notes, dtype=float)
    est_int = np.array([[n.start_seconds, n.end_seconds] for n in heard.notes])
    est = np.array([n.pitch_midi for n in heard.notes], dtype=float) + heard.tuning_cents / 100
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2] + cents / 100), est_int, mir_eval.util.midi_to_hz(est),
        offset_ratio=None)[2]


@pytest.fixture(scope="module")
def in_tune():
    melody = sung_melody(bars=8)
    heard = analyze(Audio(melody.samples, 44100))
    return melody, heard


@pytest.mark.parametrize("cents", [-50.0, -35.0, -15.0, 20.0, 40.0, 49.0])
def test_a_voice_off_a440_keeps_its_notes_and_the_band_plays_at_its_pitch(in_tune, cents) -> None:
    _, heard_in_tune = in_tune
    melody = sung_melody(bars=8, cents=cents)
    heard = analyze(Audio(melody.samples, 44100))
    # the band's reference: within 10 cents of the voice's (a semitone away is the same
    # pitch read in the neighbouring key)
    band = arrange(heard, style_from_tags("pop, piano"), knobs=Knobs(), seed=1)
    assert band.score.tuning_cents == heard.tuning_cents
    assert all(t.tuning_cents == heard.tuning_cents for t in band.score.tracks)
    off = (heard.tuning_cents - cents + 50.0) % 100.0 - 50.0
    assert abs(off) <= 10.0
    # the notes as heard sound where they were sung, as well as in the in-tune take
    assert _note_f1(melody, heard, cents=cents) >= _note_f1(melody, heard_in_tune, cents=0.0) - 0.02
    # the key is the one sung (or, at the wrap, the same pitches a semitone over)
    shift = round((cents - heard.tuning_cents) / 100.0)
    assert (heard.key.tonic_pitch_class - shift) % 12 == 7 and heard.key.mode == "major"


def test_an_in_tune_voice_is_heard_at_a440(in_tune) -> None:
    _, heard = in_tune
    assert abs(heard.tuning_cents) <= 6.0
    assert heard.to_json()["tuning_cents"] == pytest.approx(heard.tuning_cents)


def test_drift_follows_a_sagging_singer() -> None:
    # a scale sung over 60 s that sags from 0 to -40 cents
    starts = np.arange(0.0, 60.0, 0.5)
    meant = np.array([60, 62, 64, 65, 67, 69, 71, 72])[np.arange(len(starts)) % 8]
    sag = -0.4 * starts / 60.0
    tuning, notes = estimate_tuning(starts, starts + 0.45, meant + sag)
    assert list(notes) == list(meant)
    assert tuning.cents_at(5.0) > tuning.cents_at(55.0) + 20.0
    assert tuning.confidence > 0.5


def test_the_synthesizer_sounds_a_track_at_its_tuning() -> None:
    from sideman.render import find_soundfont, render_track

    rate = 22050
    track = Track("bass", "test", 32, notes=(Note(0.0, 2.0, 57, 100),), tuning_cents=37.0)
    audio = render_track(track, soundfont=find_soundfont(), sample_rate_hz=rate, origin_seconds=0.0,
                         n_samples=2 * rate)
    mono = audio[int(0.3 * rate):int(1.8 * rate)].mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono)), 16 * len(mono)))
    freqs = np.fft.rfftfreq(16 * len(mono), 1 / rate)
    band = (freqs > 180) & (freqs < 260)  # the fundamental of A3 (220 Hz) +- a few semitones
    peak = freqs[band][np.argmax(spectrum[band])]
    assert 1200 * np.log2(peak / 220.0) == pytest.approx(37.0, abs=5.0)
