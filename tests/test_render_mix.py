"""The record-like mix: loudness targets with the featured instrument on top, high-pass,
width, sidechain, the synthesized room, the produced vocal, sampled drum kits and the
pedal as the synthesizer plays it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt, sosfreqz

from sideman.music import BeatGrid, Key, Note, Score, Track
from sideman.music.model import EXPRESSION, SUSTAIN_PEDAL, ControlChange
from sideman.render import find_soundfont, render_stems, render_track
from sideman.render.master import measure_loudness_lufs
from sideman.render.measure import side_to_mid_db
from sideman.render.mix import (
    _set_width_in_place,
    _widen_in_place,
    mix,
    role_eq_sos,
    stem_target_lu,
)
from sideman.render.room import room_impulse_response, rt60_for_room_size
from sideman.render.soundfonts import DRUM_KITS, installed_drum_kits
from sideman.render.vocal import RIDE_TARGET_DB, _deess_in_place, ride_gain_db, vocal_chain_in_place

SR = 44100


def _noise(seconds: float, *, seed: int, level: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, level, (int(seconds * SR), 2))).astype(np.float32)


def _grid(seconds: int) -> BeatGrid:
    return BeatGrid(tuple(i * 0.5 for i in range(2 * seconds + 1)))


def test_stems_meet_their_loudness_targets_with_the_featured_on_top() -> None:
    # stems at very different levels; the mix sets each to its role's target
    stems = {"drums": _noise(6, seed=1, level=0.5), "bass": _noise(6, seed=2, level=0.02),
             "keys": _noise(6, seed=3, level=0.003), "pad": _noise(6, seed=4, level=0.3)}
    tracks = [Track(r, r, 0, is_drum=r == "drums") for r in stems]
    out = mix({k: v.copy() for k, v in stems.items()}, tracks=tracks, voice=None, sample_rate_hz=SR,
              voice_offset_samples=0, featured_role="keys", genre="pop", stereo_width=0.0)
    loud = {r: measure_loudness_lufs(np.asarray(s), sample_rate_hz=SR) for r, s in out.stems.items() if r != "reverb"}
    for role in stems:
        want = stem_target_lu(role, featured_role="keys", genre="pop") - stem_target_lu("keys", featured_role="keys",
                                                                                         genre="pop")
        assert loud[role] - loud["keys"] == pytest.approx(want, abs=1.0), role
    assert max(loud, key=loud.get) == "keys"
    # and they still sum to the instrumental
    total = sum(np.asarray(s, dtype=np.float64) for s in out.stems.values())
    assert np.max(np.abs(total - out.instrumental_premaster)) < 1e-4


def test_genre_moves_the_targets() -> None:
    assert stem_target_lu("drums", featured_role="keys", genre="ballad") < stem_target_lu(
        "drums", featured_role="keys", genre="pop") < stem_target_lu("drums", featured_role="keys", genre="edm")
    assert stem_target_lu("keys", featured_role="keys", genre="jazz") == 0.0


def test_genre_eq_clears_the_low_end_in_jazz_and_edm() -> None:
    """The genre's own EQ (``genre_eq``) comes after the role's: jazz scoops the piano's
    left hand, edm the lead's low register; a genre without one leaves the role's chain."""
    def gain_db(role: str, genre: str, hz: float) -> float:
        _, h = sosfreqz(role_eq_sos(role, sample_rate_hz=SR, genre=genre), worN=[hz], fs=SR)
        return float(20 * np.log10(np.abs(h[0])))

    assert gain_db("keys", "jazz", 170.0) < gain_db("keys", "pop", 170.0) - 4.0
    assert gain_db("keys", "edm", 190.0) < gain_db("keys", "pop", 190.0) - 6.0
    assert gain_db("drums", "rnb", 4500.0) > gain_db("drums", "pop", 4500.0) + 3.0
    np.testing.assert_allclose(role_eq_sos("keys", sample_rate_hz=SR, genre="folk"),
                               role_eq_sos("keys", sample_rate_hz=SR))


def test_high_pass_on_all_but_the_bass() -> None:
    low = np.sin(2 * np.pi * 60 * np.arange(4 * SR) / SR).astype(np.float32) * 0.2
    stems = {"bass": np.stack([low, low], 1), "keys": np.stack([low, low], 1).copy()}
    tracks = [Track("bass", "b", 33), Track("keys", "k", 0)]
    out = mix(stems, tracks=tracks, voice=None, sample_rate_hz=SR, voice_offset_samples=0, stereo_width=0.0,
              reverb_send_db=-80.0)
    # both were set to their loudness targets: the keys' 60 Hz needed ~10 dB more to get
    # there than the bass's (2 LU lower target), because the high-pass took it away
    assert out.stem_gain_db["keys"] > out.stem_gain_db["bass"] + 6.0


def test_width_adds_side_and_keeps_the_mid() -> None:
    mono = _noise(2, seed=5)[:, :1].repeat(2, axis=1)
    widened = mono.copy()
    _widen_in_place(widened, amount=0.5, delay_samples=600)
    assert np.allclose(widened.sum(axis=1), mono.sum(axis=1), atol=1e-5)
    side = widened[:, 0] - widened[:, 1]
    assert np.mean(side**2) > 0.05 * np.mean(mono[:, 0] ** 2)


@pytest.mark.parametrize("have_db", [3.0, -60.0])  # a too-wide sampled patch; a mono one
def test_width_is_set_to_the_role_target(have_db: float) -> None:
    mid = _noise(3, seed=8)[:, 0]
    side = _noise(3, seed=9)[:, 0] * np.float32(10 ** (have_db / 20))
    stereo = np.stack([mid + side, mid - side], axis=1)
    _set_width_in_place(stereo, side_to_mid_db=-6.0, delay_samples=500)
    assert side_to_mid_db(stereo) == pytest.approx(-6.0, abs=0.5)
    assert np.allclose(stereo.sum(axis=1), 2 * mid, atol=1e-4)  # the mid is untouched


def test_sidechain_pumps_the_pad_on_each_kick_in_edm() -> None:
    n = 4 * SR
    drums = np.zeros((n, 2), np.float32)
    t = np.arange(int(0.15 * SR)) / SR
    kick = (np.sin(2 * np.pi * 55 * t) * np.exp(-t * 20)).astype(np.float32)
    for beat in range(8):
        at = int(beat * 0.5 * SR)
        drums[at : at + len(kick), 0] += kick
        drums[at : at + len(kick), 1] += kick
    pad = _noise(4, seed=6, level=0.05)
    tracks = [Track("drums", "d", 24, True), Track("pad", "p", 89)]

    def pad_dip(genre: str) -> float:
        out = mix({"drums": drums.copy(), "pad": pad.copy()}, tracks=tracks, voice=None, sample_rate_hz=SR,
                  voice_offset_samples=0, genre=genre, stereo_width=0.0, reverb_send_db=-80.0)
        mixed = np.asarray(out.stems["pad"])
        p = (mixed[:, 0] + mixed[:, 1]) / (pad[:, 0] + pad[:, 1])  # the mid: width never moves it
        on_kick = np.median(np.abs(p[int(1.02 * SR) : int(1.06 * SR)]))
        between = np.median(np.abs(p[int(1.35 * SR) : int(1.45 * SR)]))
        return 20 * np.log10(between / on_kick)

    assert pad_dip("edm") > 3.0
    assert pad_dip("pop") < 1.0


def test_the_room_is_wide_decays_and_is_the_same_every_time() -> None:
    ir = room_impulse_response(sample_rate_hz=SR, rt60_seconds=1.5)
    assert ir.shape == (2, int(1.5 * SR))
    assert np.sum(ir[0] ** 2) == pytest.approx(1.0, rel=1e-3)
    assert abs(np.corrcoef(ir[0], ir[1])[0, 1]) < 0.1
    energy = ir[0] ** 2
    early, late = energy[: SR // 4].sum(), energy[SR : int(1.25 * SR)].sum()
    assert 10 * np.log10(late / early) < -25  # about 40 dB down by 1 s for a 1.5 s room
    room_impulse_response.cache_clear()
    assert np.array_equal(ir, room_impulse_response(sample_rate_hz=SR, rt60_seconds=1.5))
    assert rt60_for_room_size(0.62) > rt60_for_room_size(0.45)


def _sung(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * 220 * t + 0.3 * np.sin(2 * np.pi * 5 * t)
    return (0.2 * sum(np.sin(k * phase) / k for k in range(1, 8))).astype(np.float32)


def test_the_vocal_chain_removes_rumble_and_tames_esses() -> None:
    voice = _sung(3.0)
    rumble = (0.2 * np.sin(2 * np.pi * 30 * np.arange(len(voice)) / SR)).astype(np.float32)
    with_rumble = voice + rumble
    vocal_chain_in_place(with_rumble, sample_rate_hz=SR)
    low = butter(4, 45, btype="lowpass", fs=SR, output="sos")
    assert np.std(sosfiltfilt(low, with_rumble)) < 0.1 * np.std(rumble)
    # an "s": loud 7 kHz noise over the tone for 150 ms
    esses = voice.copy()
    hiss = butter(4, [5500, 9000], btype="bandpass", fs=SR, output="sos")
    burst = sosfiltfilt(hiss, np.random.default_rng(0).normal(0, 0.6, int(0.15 * SR))).astype(np.float32)
    esses[SR : SR + len(burst)] += burst
    before = esses.copy()
    _deess_in_place(esses, sample_rate_hz=SR)
    band = slice(SR, SR + len(burst))
    reduction = 20 * np.log10(np.std(sosfiltfilt(hiss, esses[band])) / np.std(sosfiltfilt(hiss, before[band])))
    assert -9.0 < reduction < -2.0
    calm = slice(int(2.0 * SR), int(2.5 * SR))  # no ess: untouched
    assert np.allclose(esses[calm], before[calm], atol=1e-3)


def test_the_ride_pulls_the_voice_toward_its_place() -> None:
    hops = 100
    band = np.full(hops, 1e-3)
    voice = np.full(hops, 1e-3) * 10 ** (-6 / 10)  # buried 6 dB under the band
    ride = ride_gain_db(voice, band)
    assert ride[50] == pytest.approx(min(RIDE_TARGET_DB + 6.0, 4.0), abs=0.1)  # up, within its range
    on_top = ride_gain_db(np.full(hops, 1e-3) * 10 ** (3 / 10) * 10 ** (RIDE_TARGET_DB / 10), band)
    assert on_top[50] == pytest.approx(-3.0, abs=0.1)


def test_the_song_voice_is_produced_and_the_instrumental_never_hears_it() -> None:
    pad = _noise(6, seed=7, level=0.05)
    voice = _sung(6.0)
    tracks = [Track("pad", "p", 89)]
    alone = mix({"pad": pad.copy()}, tracks=tracks, voice=None, sample_rate_hz=SR, voice_offset_samples=0)
    sung = mix({"pad": pad.copy()}, tracks=tracks, voice=voice, sample_rate_hz=SR, voice_offset_samples=0)
    a = np.asarray(alone.instrumental_premaster) / 10 ** (alone.instrumental_trim_db / 20)
    b = np.asarray(sung.instrumental_premaster) / 10 ** (sung.instrumental_trim_db / 20)
    ratio = np.std(b) / np.std(a)  # the same band, only the balance gain differs
    assert np.allclose(b, a * ratio, atol=1e-4)
    assert sung.vocal_to_band_db == pytest.approx(RIDE_TARGET_DB, abs=2.0)


@pytest.mark.skipif(not installed_drum_kits(), reason="avldrums.lv2-soundfont is not installed")
def test_sampled_kit_has_distinct_velocity_layers() -> None:
    font = find_soundfont()
    assert font.drum_kit_for(0) is not None and font.drum_kit_for(24) is None
    assert {k.license for k in DRUM_KITS} == {"CC-BY-SA-3.0"}

    def hit(velocity: int) -> np.ndarray:
        track = Track("drums", "kit", 0, True, (Note(0.0, 0.1, 42, velocity),))
        return render_track(track, soundfont=font, sample_rate_hz=SR, origin_seconds=0.0, n_samples=SR // 2)[:, 0]

    soft, hard = hit(35), hit(120)
    correlation = np.corrcoef(soft / np.linalg.norm(soft), hard / np.linalg.norm(hard))[0, 1]
    assert correlation < 0.9  # another sample, not the same one louder
    assert np.std(hard) > 2 * np.std(soft)


def test_the_pedal_holds_released_notes_until_it_lifts() -> None:
    font = find_soundfont()
    note = Note(0.0, 0.3, 60, 100)
    plain = Track("keys", "piano", 0, notes=(note,))
    pedalled = Track("keys", "piano", 0, notes=(note,),
                     controls=(ControlChange(0.05, SUSTAIN_PEDAL, 127), ControlChange(1.5, SUSTAIN_PEDAL, 0)))
    kwargs = {"soundfont": font, "sample_rate_hz": SR, "origin_seconds": 0.0, "n_samples": 2 * SR}
    dry, held = render_track(plain, **kwargs), render_track(pedalled, **kwargs)
    window = slice(int(0.9 * SR), int(1.3 * SR))
    assert np.std(held[window]) > 3 * np.std(dry[window])


def test_expression_swells_change_the_level_and_slices_still_join() -> None:
    font = find_soundfont()
    notes = (Note(0.0, 4.0, 60, 100),)
    controls = tuple(ControlChange(t, EXPRESSION, v) for t, v in ((0.0, 60), (2.0, 127)))
    track = Track("strings", "strings", 48, notes=notes, controls=controls)
    out = render_track(track, soundfont=font, sample_rate_hz=SR, origin_seconds=0.0, n_samples=4 * SR)
    soft = np.std(out[int(1.0 * SR) : int(1.8 * SR)])
    loud = np.std(out[int(2.2 * SR) : int(3.0 * SR)])
    assert 20 * np.log10(loud / soft) > 6.0
    # a slice that starts after the swell's first move still starts at the right level
    late = render_track(track, soundfont=font, sample_rate_hz=SR, origin_seconds=1.0, n_samples=SR // 2)
    assert np.std(late) == pytest.approx(np.std(out[SR : SR + SR // 2]), rel=0.05)
    score = Score((track,), _grid(4), Key(0))
    stems = render_stems(score, soundfont=font, sample_rate_hz=SR, origin_seconds=0.0, duration_seconds=4.0)
    assert np.allclose(stems["strings"], out, atol=1e-5)
