from __future__ import annotations

import io

import mido
import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.arrangement import Knobs, arrange
from sideman.deliver.midi import midi_file
from sideman.ingest import Audio
from sideman.style import style_from_tags


@pytest.fixture(scope="module")
def heard(melody):
    return analyze(Audio(melody.samples, 44100))


def _midi_bytes(arrangement) -> bytes:
    buffer = io.BytesIO()
    midi_file(arrangement.score, origin_seconds=arrangement.start_seconds).save(file=buffer)
    return buffer.getvalue()


def test_parts_follow_the_style(heard) -> None:
    arrangement = arrange(heard, style_from_tags("pop, piano"), knobs=Knobs(), seed=1)
    roles = {t.role for t in arrangement.score.tracks}
    assert {"drums", "bass", "keys"} <= roles
    assert all(t.notes for t in arrangement.score.tracks)


def test_intro_before_the_voice_and_closing_tonic_after_it(heard) -> None:
    arrangement = arrange(heard, style_from_tags("pop"), knobs=Knobs(), seed=1)
    bar = heard.grid.beats_per_bar * 60 / heard.grid.tempo_bpm
    first_note = heard.notes[0].start_seconds
    assert first_note - arrangement.start_seconds >= 0.98 * bar
    assert arrangement.form.intro_bars >= 1
    last = arrangement.form.chords[-1]  # the closing tonic (it may go on from the last sung chord)
    assert last.end_seconds >= heard.notes[-1].end_seconds + 0.5
    assert last.chord.root_pitch_class == heard.key.tonic_pitch_class
    assert arrangement.end_seconds >= heard.duration_seconds


def test_band_plays_on_the_analysed_grid(heard) -> None:
    arrangement = arrange(heard, style_from_tags("pop"), knobs=Knobs(), seed=1)
    beats = np.array(heard.grid.beats_seconds)
    kicks = [n.start_seconds for t in arrangement.score.tracks if t.role == "drums" for n in t.notes
             if n.pitch_midi == 36 and beats[0] <= n.start_seconds <= beats[-1]]
    assert kicks
    eighths = np.sort(np.concatenate([beats, (beats[1:] + beats[:-1]) / 2]))
    offsets = [np.min(np.abs(eighths - k)) for k in kicks]
    assert max(offsets) < 0.005  # every kick on a beat or its off-beat eighth of the analysed grid


def test_chords_agree_with_the_melody(heard, melody) -> None:
    arrangement = arrange(heard, style_from_tags("pop"), knobs=Knobs(weirdness_constraint=0.0), seed=1)
    on = total = 0.0
    for s, e, pitch in melody.notes:
        span = next(c for c in arrangement.form.chords if c.start_seconds <= (s + e) / 2 < c.end_seconds)
        total += e - s
        on += (e - s) * (pitch % 12 in span.chord.pitch_classes)
    assert on / total >= 0.75


def test_same_seed_same_midi_and_variations_differ(heard) -> None:
    style = style_from_tags("pop, piano")
    a = arrange(heard, style, knobs=Knobs(model="V5"), seed=11, variation=0)
    b = arrange(heard, style, knobs=Knobs(model="V5"), seed=11, variation=0)
    c = arrange(heard, style, knobs=Knobs(model="V5"), seed=12, variation=1)
    assert _midi_bytes(a) == _midi_bytes(b)
    assert _midi_bytes(a) != _midi_bytes(c)
    assert {t.name for t in a.score.tracks} != {t.name for t in c.score.tracks} or a.style.groove != c.style.groove


def test_negative_tags_hold_in_every_variation(heard) -> None:
    style = style_from_tags("rock, piano", "guitar, drums")
    for variation in range(2):
        arrangement = arrange(heard, style, knobs=Knobs(), seed=3, variation=variation)
        roles = {t.role for t in arrangement.score.tracks}
        assert "drums" not in roles and "guitar" not in roles
        assert not any("guitar" in t.name for t in arrangement.score.tracks)


def test_fast_drums_excluded_means_no_subdivisions(heard) -> None:
    arrangement = arrange(heard, style_from_tags("rock", "fast drums"), knobs=Knobs(), seed=3)
    drums = next(t for t in arrangement.score.tracks if t.role == "drums")
    beat = 60 / heard.grid.tempo_bpm
    hats = sorted(n.start_seconds for n in drums.notes if n.pitch_midi in (42, 46, 51))
    assert np.min(np.diff(hats)) > 0.9 * beat  # no eighth or sixteenth hats


def test_midi_round_trip(heard) -> None:
    arrangement = arrange(heard, style_from_tags("jazz"), knobs=Knobs(), seed=5)
    midi = mido.MidiFile(file=io.BytesIO(_midi_bytes(arrangement)))
    metas = [m for m in midi.tracks[0] if m.is_meta]
    assert any(m.type == "time_signature" and m.numerator == 4 for m in metas)
    assert any(m.type == "key_signature" and m.key == "G" for m in metas)
    tempos = [m.tempo for m in metas if m.type == "set_tempo"]
    assert tempos and mido.tempo2bpm(tempos[0]) == pytest.approx(heard.grid.tempo_bpm, rel=0.05)
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks[1:]]
    assert names == [f"{t.role}: {t.name}" for t in arrangement.score.tracks]
    for track, source in zip(midi.tracks[1:], arrangement.score.tracks, strict=True):
        ons = [m for m in track if m.type == "note_on"]
        assert len(ons) == len(source.notes)
        programs = [m.program for m in track if m.type == "program_change"]
        assert programs == [source.program]
        if source.is_drum:
            assert all(m.channel == 9 for m in ons)
    # the MIDI clock lands the band's notes where the score has them (within 10 ms)
    first = min(n.start_seconds for n in arrangement.score.tracks[0].notes)
    seconds = 0.0
    for message in midi:
        seconds += message.time
        if message.type == "note_on":
            break
    assert seconds == pytest.approx(first - arrangement.start_seconds, abs=0.01)
