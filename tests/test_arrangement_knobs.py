"""Each knob has a documented meaning (arrangement/knobs.py and the Knobs docstring);
these tests hold it to that meaning."""

from __future__ import annotations

import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.arrangement import HELD_NOTE_SECONDS, Knobs, arrange
from sideman.arrangement.knobs import chord_fit, clash_seconds, stock_chords
from sideman.ingest import Audio
from sideman.music import Chord
from sideman.style import style_from_tags


@pytest.fixture(scope="module")
def heard(melody):
    return analyze(Audio(melody.samples, 44100))


def _sung(band):
    """The chords the band plays in the bars the voice sings in (no intro, no outro)."""
    first = band.form.bars[band.form.intro_bars][0]
    last = band.form.bars[len(band.form.bars) - band.form.outro_bars - 1][1]
    return [c for c in band.form.chords if c.start_seconds >= first - 1e-6 and c.end_seconds <= last + 1e-6]


def _labels_over_time(spans, times):
    return [next((c.label for c in spans if c.start_seconds <= t < c.end_seconds), "N") for t in times]


def _probe_times(heard):
    return np.linspace(heard.first_note_seconds + 0.01, heard.last_note_end_seconds - 0.01, 200)


def _allowed_by_clash_repair(band, heard, times, expected):
    """Where the band differs from `expected`, the expected chord would have rubbed."""
    for t, label in zip(times, expected, strict=True):
        span = next(c for c in band.form.chords if c.start_seconds <= t < c.end_seconds)
        if span.label != label:
            assert clash_seconds(Chord.parse(label), heard.notes, span.start_seconds, span.end_seconds,
                                 long_seconds=HELD_NOTE_SECONDS) > 0, (t, span.label, label)


def test_audio_weight_one_follows_the_melody(heard) -> None:
    band = arrange(heard, style_from_tags("pop"), knobs=Knobs(audio_weight=1.0, weirdness_constraint=0.0), seed=1)
    times = _probe_times(heard)
    _allowed_by_clash_repair(band, heard, times, _labels_over_time(heard.chords, times))


def test_audio_weight_zero_plays_the_stock_progression(heard) -> None:
    band = arrange(heard, style_from_tags("pop"), knobs=Knobs(audio_weight=0.0, weirdness_constraint=0.0), seed=1)
    bars = [b for b in band.form.bars[band.form.intro_bars : len(band.form.bars) - band.form.outro_bars]]
    stock = stock_chords(bars, heard.key, "pop")
    times = _probe_times(heard)
    _allowed_by_clash_repair(band, heard, times, _labels_over_time(stock, times))


def test_audio_weight_moves_fit_monotonically(heard) -> None:
    fits = []
    for weight in (0.0, 0.5, 1.0):
        band = arrange(heard, style_from_tags("pop"), knobs=Knobs(audio_weight=weight, weirdness_constraint=0.0), seed=1)
        fits.append(np.mean([chord_fit(c.chord, heard.notes, c.start_seconds, c.end_seconds)
                             for c in _sung(band)]))
    # 1 plays the analysed chart (smoothed over time), which may fit a hair less than 0.5's
    assert fits[0] <= fits[1] + 1e-3 and fits[1] <= fits[2] + 0.01
    assert fits[0] < fits[2]


def test_audio_weight_blends_the_charts_and_the_default_follows_the_singer(heard) -> None:
    """0, 0.5 and 1 play different charts; the default 0.7 is nearer 1 than 0."""
    times = _probe_times(heard)
    charts = {}
    for weight in (0.0, 0.5, 0.7, 1.0):
        band = arrange(heard, style_from_tags("pop"), knobs=Knobs(audio_weight=weight, weirdness_constraint=0.0), seed=1)
        charts[weight] = _labels_over_time(band.form.chords, times)
    apart = lambda x, y: np.mean([a != b for a, b in zip(charts[x], charts[y], strict=True)])  # noqa: E731
    assert apart(0.0, 0.5) > 0.05 and apart(0.0, 1.0) > 0.05
    assert apart(0.7, 1.0) < apart(0.7, 0.0)


def test_weirdness_zero_is_textbook_and_one_colours_but_agrees(heard) -> None:
    plain = arrange(heard, style_from_tags("pop"), knobs=Knobs(weirdness_constraint=0.0), seed=2)
    assert all(c.chord.quality in ("maj", "min", "sus4") for c in plain.form.chords)
    weird = arrange(heard, style_from_tags("pop"), knobs=Knobs(weirdness_constraint=1.0), seed=2)
    assert sum(c.chord.quality not in ("maj", "min") for c in weird.form.chords) >= 3
    fit = lambda band: np.mean([chord_fit(c.chord, heard.notes, c.start_seconds, c.end_seconds)  # noqa: E731
                                for c in _sung(band)])
    assert fit(weird) >= fit(plain) - 0.1


def test_style_weight_pulls_density_toward_the_tags(heard) -> None:
    busy_tags = style_from_tags("metal, energetic")
    low = arrange(heard, busy_tags, knobs=Knobs(style_weight=0.0), seed=3)
    high = arrange(heard, busy_tags, knobs=Knobs(style_weight=1.0), seed=3)
    assert abs(high.style.density - busy_tags.density) < abs(low.style.density - busy_tags.density) + 1e-9
    assert high.style.density > low.style.density


def test_both_models_are_written_on_the_grid_and_v45_is_fuller(heard) -> None:
    """The arrangement adds no timing noise in either model: V5's looser feel is the
    performance step's alone (tests/test_perform.py: V5 looser than V4_5PLUS)."""
    style = style_from_tags("pop, piano")
    v5 = arrange(heard, style, knobs=Knobs(model="V5"), seed=4)
    v45 = arrange(heard, style, knobs=Knobs(model="V4_5PLUS"), seed=4)
    beats = np.asarray(v45.form.grid.beats_seconds)
    steps = np.concatenate([beats[:-1] + f * np.diff(beats) for f in (0.0, 0.25, 0.5, 0.75)])
    kicks = lambda band: [n.start_seconds for t in band.score.tracks if t.is_drum for n in t.notes if n.pitch_midi == 36]  # noqa: E731
    on_grid = lambda times: np.mean([np.min(np.abs(steps - t)) < 1e-6 for t in times])  # noqa: E731
    assert kicks(v5) and on_grid(kicks(v5)) == 1.0 and on_grid(kicks(v45)) == 1.0
    keys45 = next(t for t in v45.score.tracks if t.role == "keys")
    keys5 = next(t for t in v5.score.tracks if t.role == "keys")
    assert len(keys45.notes) > len(keys5.notes)  # sevenths added to the voicings
    assert len(v45.score.tracks) >= len(v5.score.tracks)
    assert v45.score.reverb_room_size > v5.score.reverb_room_size


def test_vocal_gender_sets_the_backing_vocal_register(heard) -> None:
    style = style_from_tags("gospel")
    high = arrange(heard, style, knobs=Knobs(vocal_gender="f"), seed=5)
    low = arrange(heard, style, knobs=Knobs(vocal_gender="m"), seed=5)
    mean = lambda band: np.mean([n.pitch_midi for t in band.score.tracks if t.role == "vocals" for n in t.notes])  # noqa: E731
    assert mean(high) - mean(low) >= 7


def test_lead_answers_in_the_rests_not_over_the_voice(heard) -> None:
    band = arrange(heard, style_from_tags("pop, saxophone"), knobs=Knobs(), seed=6)
    lead = next(t for t in band.score.tracks if t.role == "lead")
    assert lead.notes
    for note in lead.notes:
        overlap = sum(max(0.0, min(note.end_seconds, s.end_seconds) - max(note.start_seconds, s.start_seconds))
                      for s in heard.notes)
        assert overlap <= 0.5 * note.duration_seconds


def test_dynamics_follow_the_voice(melody) -> None:
    """A voice that starts softly and then sings out: the band follows with audio_weight 1
    and stays level with audio_weight 0."""
    samples = melody.samples.copy()
    half = int(melody.downbeats_seconds[4] * 44100)
    samples[:half] *= 0.12  # about -18 dB
    heard = analyze(Audio(samples, 44100))
    split = melody.downbeats_seconds[4]

    def keys_velocity(band, early: bool) -> float:
        keys = next(t for t in band.score.tracks if t.role == "keys")
        sel = [n.velocity for n in keys.notes
               if (heard.first_note_seconds <= n.start_seconds < split) == early and 0 <= n.start_seconds < heard.last_note_end_seconds]
        return float(np.mean(sel))

    follow = arrange(heard, style_from_tags("pop"), knobs=Knobs(audio_weight=1.0), seed=7)
    level = arrange(heard, style_from_tags("pop"), knobs=Knobs(audio_weight=0.0), seed=7)
    assert keys_velocity(follow, early=False) - keys_velocity(follow, early=True) >= 8
    assert abs(keys_velocity(level, early=False) - keys_velocity(level, early=True)) < \
        keys_velocity(follow, early=False) - keys_velocity(follow, early=True)


@pytest.mark.parametrize("transpose", [0, -14])  # a high voice (G4 area) and a low one
def test_harmony_keeps_out_of_the_singers_register(transpose: int) -> None:
    from signals import sung_melody

    heard = analyze(Audio(sung_melody(transpose=transpose).samples, 44100))
    low, high = heard.vocal_range_midi
    band = arrange(heard, style_from_tags("pop, piano"), knobs=Knobs(), seed=8)
    keys = next(t for t in band.score.tracks if t.role == "keys")
    inside = np.mean([low + 2 < n.pitch_midi < high - 2 for n in keys.notes])
    assert inside < 0.25, (low, high, inside)
