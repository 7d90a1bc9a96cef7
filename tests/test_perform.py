"""The performance step: correlated drift, push/lay-back, accents and ghosts, strums,
legato, pedal, swells; V5 looser than V4_5PLUS; deterministic per seed."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.deliver.midi import midi_file
from sideman.errors import InvalidField
from sideman.music import BeatGrid, Chord, ChordSpan, Key, Note, Score, Track
from sideman.music.model import EXPRESSION, SUSTAIN_PEDAL
from sideman.perform import _drift_curve, feel, perform

BEAT = 0.5  # 120 bpm


def _grid(bars: int) -> BeatGrid:
    return BeatGrid(tuple(i * BEAT for i in range(bars * 4 + 1)), 4, 4, 0)


def _score(bars: int = 16) -> Score:
    drums, bass, keys, guitar, strings = [], [], [], [], []
    for bar in range(bars):
        t0 = bar * 4 * BEAT
        for eighth in range(8):
            t = t0 + eighth * BEAT / 2
            drums.append(Note(t, t + 0.05, 42, 80))  # hats on every eighth
        drums += [Note(t0, t0 + 0.1, 36, 100), Note(t0 + BEAT, t0 + BEAT + 0.1, 38, 100),
                  Note(t0 + 3 * BEAT, t0 + 3 * BEAT + 0.1, 38, 100),
                  Note(t0 + 1.75 * BEAT, t0 + 1.75 * BEAT + 0.05, 38, 50)]  # a soft snare between beats
        for beat in range(4):
            bass.append(Note(t0 + beat * BEAT, t0 + beat * BEAT + BEAT * 0.9, 40, 90))
        keys += [Note(t0, t0 + 2 * BEAT, p, 80) for p in (60, 64, 67)]
        keys += [Note(t0 + 2 * BEAT, t0 + 4 * BEAT, p, 80) for p in (60, 65, 69)]
        guitar += [Note(t0 + BEAT * k / 2, t0 + BEAT * k / 2 + 0.2, p, 90) for k in (0, 1) for p in (52, 55, 59, 64)]
        strings += [Note(t0, t0 + 4 * BEAT - 0.05, p, 70) for p in (55, 60, 64)]
    chords = tuple(ChordSpan(b * 4 * BEAT, (b + 1) * 4 * BEAT, Chord(0)) for b in range(bars))
    tracks = (Track("drums", "kit", 0, True, tuple(drums)), Track("bass", "bass", 33, notes=tuple(bass)),
              Track("keys", "piano", 0, notes=tuple(keys)), Track("guitar", "guitar", 25, notes=tuple(guitar)),
              Track("strings", "strings", 48, notes=tuple(strings)))
    return Score(tracks, _grid(bars + 1), Key(0), chords)


def _performed(model: str = "V5", seed: int = 1, genre: str = "pop") -> Score:
    return perform(_score(), model=model, genre=genre, rng=np.random.default_rng(seed))


def _offsets_ms(before: Score, after: Score, role: str) -> np.ndarray:
    """Onset shifts of a role's notes, matched in (written) time order."""
    a = next(t for t in before.tracks if t.role == role).notes
    b = next(t for t in after.tracks if t.role == role).notes
    a = sorted(a, key=lambda n: (n.start_seconds, n.pitch_midi))
    b = sorted(b, key=lambda n: (n.start_seconds, n.pitch_midi))
    return np.array([(y.start_seconds - x.start_seconds) * 1000 for x, y in zip(a, b, strict=True)])


def test_same_seed_same_performance_and_other_seed_another() -> None:
    assert _performed(seed=4) == _performed(seed=4)
    assert _performed(seed=4) != _performed(seed=5)


def test_the_input_is_not_changed_and_notes_are_kept() -> None:
    score = _score()
    before = score.tracks[0].notes
    performed = perform(score, model="V5", genre="pop", rng=np.random.default_rng(1))
    assert score.tracks[0].notes is before
    for a, b in zip(score.tracks, performed.tracks, strict=True):
        assert len(a.notes) == len(b.notes) and a.role == b.role


@pytest.mark.parametrize("model", ["V4_5PLUS", "V5"])
def test_timing_is_human_in_both_models(model: str) -> None:
    offsets = _offsets_ms(_score(), _performed(model), "bass")
    assert 1.5 < float(np.std(offsets)) < 25.0  # a human spread, not 0 and not sloppy
    assert np.max(np.abs(offsets)) < 60.0


def test_v5_is_looser_than_v4_5plus() -> None:
    spreads = {}
    for model in ("V4_5PLUS", "V5"):
        spreads[model] = np.mean([np.std(_offsets_ms(_score(), _performed(model, seed), "keys"))
                                  for seed in range(6)])
    assert spreads["V5"] > 1.3 * spreads["V4_5PLUS"]


def test_drift_is_correlated_not_white() -> None:
    # consecutive steps of the drift curve move together: lag-1 autocorrelation near 1
    curve = _drift_curve(np.random.default_rng(0), 0.0, 120.0, std_ms=5.0, tau_seconds=2.5)
    v = curve.values
    lag1 = np.corrcoef(v[:-1], v[1:])[0, 1]
    assert lag1 > 0.95
    assert 3.0 < np.std(v) < 7.0
    # and the players share it: bass and keys offsets on common beats correlate
    rs = []
    for seed in range(5):
        performed = _performed("V5", seed)
        bass = _offsets_ms(_score(), performed, "bass")[::4]  # the downbeats
        keys_all = _offsets_ms(_score(), performed, "keys")
        keys = keys_all[::6][: len(bass)]  # the lowest note of each downbeat chord (before the roll)
        rs.append(np.corrcoef(bass[: len(keys)], keys)[0, 1])
    assert np.mean(rs) > 0.3


def test_bass_lays_back_and_keys_push() -> None:
    lay = np.mean([np.mean(_offsets_ms(_score(), _performed("V5", s), "bass")) for s in range(8)])
    push = np.mean([np.mean(_offsets_ms(_score(), _performed("V5", s), "keys")) for s in range(8)])
    assert lay > push + 3.0
    laid_back = np.mean([np.mean(_offsets_ms(_score(), _performed("V5", s, "lofi"), "bass")) for s in range(8)])
    assert laid_back > lay + 2.0  # a laid-back genre leans further


def test_accents_ghosts_and_light_offbeat_hats_cross_velocity_layers() -> None:
    performed = _performed("V5")
    drums = next(t for t in performed.tracks if t.role == "drums").notes
    hats = [n for n in drums if n.pitch_midi == 42]
    on = [n.velocity for n in hats if abs((n.start_seconds / BEAT) - round(n.start_seconds / BEAT)) < 0.1]
    off = [n.velocity for n in hats if abs((n.start_seconds / BEAT) - round(n.start_seconds / BEAT)) > 0.3]
    assert np.mean(on) > np.mean(off) + 10  # written all at 80
    snares = [n for n in drums if n.pitch_midi == 38]
    ghosts = [n.velocity for n in snares if n.velocity < 45]
    backbeats = [n.velocity for n in snares if n.velocity >= 90]
    assert len(ghosts) >= 12 and len(backbeats) >= 24  # soft ones fell to ghosts, backbeats rose
    velocities = [n.velocity for n in drums]
    assert max(velocities) - min(velocities) >= 60  # from ghost to accent


def test_guitar_strums_down_on_the_beat_and_up_between() -> None:
    performed = _performed("V5")
    guitar = sorted(next(t for t in performed.tracks if t.role == "guitar").notes, key=lambda n: n.start_seconds)
    downbeat = [n for n in guitar if n.start_seconds < 0.1]
    upbeat = [n for n in guitar if 0.2 < n.start_seconds < 0.35]
    down_order = [n.pitch_midi for n in sorted(downbeat, key=lambda n: n.start_seconds)]
    up_order = [n.pitch_midi for n in sorted(upbeat, key=lambda n: n.start_seconds)]
    assert down_order == sorted(down_order) and up_order == sorted(up_order, reverse=True)
    spread = max(n.start_seconds for n in downbeat) - min(n.start_seconds for n in downbeat)
    assert 0.010 < spread < 0.040


def test_bass_is_tied_and_strings_are_legato() -> None:
    performed = _performed("V5")
    bass = sorted(next(t for t in performed.tracks if t.role == "bass").notes, key=lambda n: n.start_seconds)
    gaps = [b.start_seconds - a.end_seconds for a, b in zip(bass, bass[1:], strict=False)]
    assert max(gaps) < 0.02 and min(gaps) > 0  # connected, never overlapping
    strings = sorted(next(t for t in performed.tracks if t.role == "strings").notes, key=lambda n: n.start_seconds)
    first_end = max(n.end_seconds for n in strings[:3])
    second_start = min(n.start_seconds for n in strings[3:6])
    assert first_end > second_start  # the chords overlap


def test_piano_pedals_under_each_chord_and_strings_swell() -> None:
    performed = _performed("V5")
    keys = next(t for t in performed.tracks if t.role == "keys")
    pedal = [c for c in keys.controls if c.controller == SUSTAIN_PEDAL]
    downs = [c for c in pedal if c.value >= 64]
    assert len(downs) == 16  # one per bar's chord
    assert pedal[-1].value == 0  # released at the end
    strings = next(t for t in performed.tracks if t.role == "strings")
    expression = [c.value for c in strings.controls if c.controller == EXPRESSION]
    assert len(expression) > 50 and max(expression) - min(expression) >= 15
    rock = perform(_score(), model="V5", genre="rock", rng=np.random.default_rng(1))
    assert not [c for c in next(t for t in rock.tracks if t.role == "keys").controls
                if c.controller == SUSTAIN_PEDAL]


def test_the_midi_file_carries_the_performance() -> None:
    performed = _performed("V5")
    midi = midi_file(performed, origin_seconds=0.0)
    controls = [m for track in midi.tracks for m in track if m.type == "control_change"]
    assert {m.control for m in controls} >= {SUSTAIN_PEDAL, EXPRESSION}
    velocities = {m.velocity for track in midi.tracks for m in track if m.type == "note_on"}
    assert len(velocities) > 40


def test_unknown_model_is_refused() -> None:
    with pytest.raises(InvalidField):
        feel("V9")
