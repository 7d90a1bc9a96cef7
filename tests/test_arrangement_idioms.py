"""Each style plays its idiom: one test per genre reads its signature from the MIDI
(the score the MIDI file writes), in the chorus bars where the band plays full out."""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.arrangement import Knobs, arrange
from sideman.arrangement.arc import CHORUS
from sideman.deliver.midi import midi_file
from sideman.ingest import Audio
from sideman.style import style_from_tags, vocabulary

KICK, SNARE, RIM, HAT, OPEN_HAT, RIDE = 36, 38, 37, 42, 46, 51
POSITION_TOLERANCE_BEATS = 0.04


@pytest.fixture(scope="module")
def heard(melody):
    return analyze(Audio(melody.samples, 44100))


def _band(heard, tags: str, *, variation: int = 0, negative: str = "", model: str = "V4_5PLUS"):
    return arrange(heard, style_from_tags(tags, negative), knobs=Knobs(model=model), seed=7 + variation,
                   variation=variation)


def _chorus_bars(band) -> list[int]:
    bars = [b for b, role in enumerate(band.arc) if role.level >= CHORUS and b < len(band.form.bars) - 1]
    assert bars, "the test melody has a chorus"
    return bars


def _plain_chorus_bars(band) -> list[int]:
    """Chorus bars that play the groove as written (no fill, no answer, no turnaround)."""
    return [b for b in _chorus_bars(band)
            if not (band.arc[b].phrase_end or band.arc[b].answer or band.arc[b].section_start)]


def _track(band, role: str):
    return next(t for t in band.score.tracks if t.role == role)


def _positions(band, notes, bar: int, pitch: int | None = None) -> list[float]:
    """Onsets in beats from the bar's downbeat (sorted, one per onset)."""
    start = band.form.grid.beat_position(band.form.bars[bar][0])
    a, b = band.form.bars[bar]
    found = {round(band.form.grid.beat_position(n.start_seconds) - start, 3) for n in notes
             if a - 1e-6 <= n.start_seconds < b - 1e-6 and (pitch is None or n.pitch_midi == pitch)}
    return sorted(found)


def _close(found: list[float], expected: list[float]) -> bool:
    return len(found) == len(expected) and all(abs(f - e) <= POSITION_TOLERANCE_BEATS for f, e in zip(found, expected, strict=True))


def test_jazz_ride_swings_on_every_beat_with_the_skip_note(heard) -> None:
    band = _band(heard, "jazz")
    drums = _track(band, "drums")
    swung_and = 0.5 + 0.16
    for b in _plain_chorus_bars(band):
        ride = _positions(band, drums.notes, b, RIDE)
        assert _close(ride, [0, 1, 1 + swung_and, 2, 3, 3 + swung_and]), (b, ride)
    bass = _track(band, "bass")
    for b in _plain_chorus_bars(band):
        assert _close(_positions(band, bass.notes, b), [0, 1, 2, 3])  # walking quarters


def test_bossa_clave_in_both_takes(heard) -> None:
    for variation in (0, 1):
        band = _band(heard, "bossa nova", variation=variation)
        drums = _track(band, "drums")
        for b in _plain_chorus_bars(band):
            assert _close(_positions(band, drums.notes, b, RIM), [0, 0.75, 1.5, 2.5, 3.25])


def test_funk_sixteenths_with_ghost_notes(heard) -> None:
    band = _band(heard, "funk")
    drums = _track(band, "drums")
    for b in _plain_chorus_bars(band):
        assert _close(_positions(band, drums.notes, b, HAT), [i / 4 for i in range(16)])
        a, e = band.form.bars[b]
        snares = [n for n in drums.notes if n.pitch_midi == SNARE and a <= n.start_seconds < e]
        backbeat = max(n.velocity for n in snares)
        ghosts = [n for n in snares if n.velocity <= 0.6 * backbeat]
        assert len(ghosts) >= 2, [n.velocity for n in snares]


def test_rock_power_chords_and_eighth_note_bass(heard) -> None:
    band = _band(heard, "rock")
    guitar = _track(band, "guitar")
    by_onset: dict[float, list[int]] = {}
    for n in guitar.notes:
        by_onset.setdefault(round(n.start_seconds, 4), []).append(n.pitch_midi)
    for pitches in by_onset.values():
        low, high = min(pitches), max(pitches)
        assert len(pitches) == 2 and high - low == 7, pitches  # root and fifth, no third
    bass = _track(band, "bass")
    for b in _plain_chorus_bars(band):
        assert _close(_positions(band, bass.notes, b), [i / 2 for i in range(8)])


def test_ballad_arpeggios(heard) -> None:
    band = _band(heard, "ballad")
    keys = _track(band, "keys")
    for b in _plain_chorus_bars(band):
        a, e = band.form.bars[b]
        onsets: dict[float, int] = {}
        for n in keys.notes:
            if a <= n.start_seconds < e:
                onsets[round(n.start_seconds, 4)] = onsets.get(round(n.start_seconds, 4), 0) + 1
        assert len(onsets) >= 6 and max(onsets.values()) == 1  # one note at a time, eighths


def test_edm_pumps_builds_and_drops(heard) -> None:
    band = _band(heard, "edm")
    drums = _track(band, "drums")
    pad = _track(band, "pad")
    for b in _plain_chorus_bars(band):
        assert _close(_positions(band, drums.notes, b, KICK), [0, 1, 2, 3])  # four on the floor
        assert _close(_positions(band, pad.notes, b), [0.25, 1.25, 2.25, 3.25])  # ducked off each kick
    builds = [b for b, role in enumerate(band.arc) if role.build]
    assert builds, "the verse rolls into the chorus"
    b = builds[-1]
    a, e = band.form.bars[b]
    roll = [n for n in drums.notes if n.pitch_midi == SNARE and a <= n.start_seconds < e]
    assert len(roll) >= 8 and roll[-1].velocity > roll[0].velocity
    assert not [n for n in drums.notes if n.pitch_midi == KICK and e - 0.4 * (e - a) <= n.start_seconds < e]
    drop = band.form.bars[b + 1][0]  # the drop: kick and crash on the chorus downbeat
    assert {KICK, 49} <= {n.pitch_midi for n in drums.notes if abs(n.start_seconds - drop) < 1e-3}


def test_lofi_hats_swing(heard) -> None:
    band = _band(heard, "lofi")
    drums = _track(band, "drums")
    offbeats = []
    for b in _plain_chorus_bars(band):
        offbeats += [p % 1 for p in _positions(band, drums.notes, b, HAT) if p % 1 > 0.01]
    assert offbeats and all(abs(p - 0.66) < POSITION_TOLERANCE_BEATS for p in offbeats), offbeats


def test_country_train_beat(heard) -> None:
    band = _band(heard, "country")
    drums = _track(band, "drums")
    for b in _plain_chorus_bars(band):
        assert _close(_positions(band, drums.notes, b, SNARE), [i / 4 for i in range(16)])
        a, e = band.form.bars[b]
        snares = sorted((n for n in drums.notes if n.pitch_midi == SNARE and a <= n.start_seconds < e),
                        key=lambda n: n.start_seconds)
        accents = {i for i, n in enumerate(snares) if n.velocity == max(s.velocity for s in snares)}
        assert accents == {4, 12}  # the accents on 2 and 4


def test_reggae_one_drop_and_skank(heard) -> None:
    band = _band(heard, "reggae")
    drums = _track(band, "drums")
    guitar = _track(band, "guitar")
    for b in _chorus_bars(band):
        if band.arc[b].phrase_end:
            continue
        assert _close(_positions(band, drums.notes, b, KICK), [2])  # the drop: nothing on one
    for b in _plain_chorus_bars(band):
        if not band.arc[b].turnaround:
            assert _close(_positions(band, guitar.notes, b), [1, 3])  # the skank on two and four


@pytest.mark.parametrize(("tags", "program"), [("pop, electric guitar", 27), ("rock, electric guitar", 29),
                                                ("rock, clean guitar", 27), ("pop, overdriven guitar", 29),
                                                ("indie, distorted guitar", 30), ("metal, electric guitar", 30)])
def test_the_tagged_guitar_plays_in_both_takes(heard, tags: str, program: int) -> None:
    for variation in (0, 1):
        band = _band(heard, tags, variation=variation)
        assert _track(band, "guitar").program == program


def test_a_pad_never_doubles_another_part(heard) -> None:
    for tags in ("pop, piano", "ballad", "rnb", "edm"):
        band = _band(heard, tags)
        sustain = [t for t in band.score.tracks if t.role in ("pad", "strings", "swells")]
        others = [t for t in band.score.tracks if not t.is_drum and t not in sustain]
        assert sustain, tags
        for track in sustain:
            for n in track.notes:
                for other in others:
                    assert not any(o.pitch_midi == n.pitch_midi and o.start_seconds < n.end_seconds
                                   and o.end_seconds > n.start_seconds for o in other.notes), (tags, track.role, n)


@pytest.mark.parametrize("tags", ["jazz", "bossa nova", "folk", "rock", "country", "reggae"])
def test_no_pad_layer_where_the_style_has_none(heard, tags: str) -> None:
    band = _band(heard, tags)
    assert "pad" not in {t.role for t in band.score.tracks}


def test_no_strings_keeps_out_every_bowed_string(heard) -> None:
    bowed = {name for name, entry in vocabulary()["instruments"].items() if entry.get("bowed")}
    assert {"contrabass", "violin", "cello"} <= bowed
    for variation in (0, 1):
        band = _band(heard, "cinematic, violin", negative="strings", variation=variation)
        assert not {t.name for t in band.score.tracks} & bowed
        assert "bass" in {t.role for t in band.score.tracks}  # the bass seat keeps a player


def test_the_midi_carries_the_arc(heard) -> None:
    """The verse is lighter than the chorus in the written MIDI file itself."""
    band = _band(heard, "pop, piano")
    buffer = io.BytesIO()
    midi_file(band.score, origin_seconds=band.start_seconds).save(file=buffer)
    midi = mido.MidiFile(file=io.BytesIO(buffer.getvalue()))
    onsets, seconds = [], 0.0
    for message in midi:
        seconds += message.time
        if message.type == "note_on" and message.velocity > 0:
            onsets.append(seconds + band.start_seconds)
    per_bar = np.array([sum(a - 1e-3 <= t < b - 1e-3 for t in onsets) for a, b in band.form.bars])
    verse = [b for b, role in enumerate(band.arc) if role.section == "verse"]
    chorus = [b for b, role in enumerate(band.arc) if role.section in ("chorus", "last chorus")]
    assert verse and chorus
    assert per_bar[chorus].mean() >= 1.3 * per_bar[verse].mean()
