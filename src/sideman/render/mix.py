"""Stems -> the instrumental bus and the song: each stem set to its role's loudness
target (the tagged instrument featured), high-passed, widened and panned; a sidechain
pump where the genre wants one; a shared room (convolution); a light bus compressor;
and the song: the band ducked and its 2-5 kHz dipped under the voice, and the voice
produced (`sideman.render.vocal`: high-pass, de-esser, compressor, level ride, room and
delay sends).

Signal flow (all stereo, float32)::

    stem ─ high-pass, EQ ─ width ─ loudness target ─ pan ─ (sidechain) ─┬──────────────────────┐
                                                     └─ send ─► room ─► "reverb" stem ─┴─► bus compressor ─► balance
    instrumental_premaster = Σ stems (the room's return is a stem)           (× headroom trim)
    song_premaster = produced voice + its sends + Σ stems × duck × dip     (× headroom trim)

Loudness targets (``mix.json``): each role's integrated loudness relative to the
featured instrument (`Score.featured_role`), moved by the genre (`Score.genre`): so the
drums, the bass and the tagged instrument sit within a few LU of each other with the
tagged one on top, whatever the font's presets' own levels. The track's `gain_db` is
used only for a stem too quiet to measure.

One room for the whole band, as on a console: the sends are summed into one bus,
convolved with a synthesized stereo response (`sideman.render.room`), and the return
is delivered as its own stem (``stems/reverb.wav``), the way studios print an effects
return. Linear steps commute with the sum, and the compressor's and the duck's gains
are computed once (from the bus, from the voice) and applied to every stem, so the
processed stems add up to the instrumental exactly. The instrumental is not ducked and
never hears the voice: it is for singing over. Everything runs in float32, in place
where the caller allows it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy.signal import sosfilt

from sideman.errors import InvalidField
from sideman.music.model import Track
from sideman.render.filters import (
    apply_sos_in_place,
    bandpass_sos,
    high_shelf_sos,
    highpass_sos,
    lowpass_sos,
    parallel_band_in_place,
    peaking_sos,
)
from sideman.render.master import _gated_loudness, _k_weighting_sos, k_weighted_hop_power
from sideman.render.measure import vocal_to_band_from_hops
from sideman.render.room import room_in_place
from sideman.render.spool import SpooledAudio
from sideman.render.vocal import add_vocal_sends, ride_gain_db, vocal_chain_in_place

__all__ = ["REVERB_STEM", "Mix", "mix", "mix_presets", "pan_gains", "role_eq_sos", "stem_target_lu"]

logger = logging.getLogger(__name__)

#: envelope frame hop for the compressor and the duck detector, seconds
_HOP_SECONDS = 0.005
#: bus compressor (glue): threshold under the bus's loud level, ratio, times, most
#: reduction. Slow enough not to duck the drums under their own hits (a 10 ms attack
#: took 1.5 LU more off the drums than off the strings, and broke the stem balance)
_COMP_THRESHOLD_UNDER_LOUD_DB = 2.0
_COMP_RATIO = 2.0
_COMP_ATTACK_MS = 30.0
_COMP_RELEASE_MS = 300.0
_COMP_MAX_REDUCTION_DB = 4.0
#: duck: full depth within this many dB of the voice's loud level, none this far below
_DUCK_FULL_WITHIN_DB = 6.0
_DUCK_NONE_BELOW_DB = 24.0
_DUCK_ATTACK_MS = 30.0
_DUCK_RELEASE_MS = 300.0
#: the role name of the shared reverb's return among the stems
REVERB_STEM = "reverb"
#: samples processed at a time by the block-wise steps
_BLOCK_SAMPLES = 1 << 18
#: accompaniment loudness when there is no voice to balance against
_ALONE_LOUDNESS_LUFS = -20.0
#: the featured stem's loudness before the balance (any level: the balance moves all)
_STEM_REFERENCE_LUFS = -20.0
#: the loudness meter's hop (BS.1770: 100 ms)
_LOUDNESS_HOP_SECONDS = 0.1


@lru_cache(maxsize=1)
def mix_presets() -> dict:
    """The mix's data (``render/mix.json``): loudness targets, filters, widths, sends."""
    return json.loads(resources.files("sideman.render").joinpath("mix.json").read_text())


def stem_target_lu(role: str, *, featured_role: str | None, genre: str) -> float:
    """A role's loudness relative to the featured instrument, LU (0 for the featured)."""
    data = mix_presets()
    if role == featured_role:
        base = data["loudness_lu"]["featured"]
    else:
        base = data["loudness_lu"].get(role, data["loudness_lu"]["other"])
    return float(base + data["genre_lu"].get(genre, {}).get(role, 0.0))


@dataclass(frozen=True)
class Mix:
    """The mixed signals, before mastering. Arrays are [shape=(n, 2), dtype=float32]
    unless said otherwise.

    stems: role -> processed stem; they sum to `instrumental_premaster`. Long inputs
        (stems spooled by `render_stems`) give `SpooledAudio` for the stems and the
        instrumental pre-master: ``np.asarray`` reads one back.
    instrumental_premaster: the accompaniment alone, not ducked.
    song_premaster: the produced voice and its sends, plus the ducked accompaniment.
    duck_gain_db: np.ndarray [shape=(ceil(n / duck_hop_samples),)], <= 0, the gain on the
        accompaniment in the song per 5 ms frame (linear in between frame centres).
    duck_hop_samples: the frame hop of `duck_gain_db`.
    instrumental_trim_db, song_trim_db: the headroom trims applied last (<= 0).
    instrumental_loudness_lufs: integrated loudness of `instrumental_premaster` (known
        from the balance measurement; -inf for silence), so mastering need not measure it.
    stem_gain_db: role -> the gain that set the stem to its loudness target.
    vocal_to_band_db: the produced voice over the band as heard in the song, in sung
        windows (`sideman.render.measure.vocal_to_band_db`); None without a voice.
    """

    stems: dict[str, np.ndarray | SpooledAudio]
    instrumental_premaster: np.ndarray | SpooledAudio
    song_premaster: np.ndarray
    duck_gain_db: np.ndarray
    duck_hop_samples: int
    instrumental_trim_db: float
    song_trim_db: float
    instrumental_loudness_lufs: float
    stem_gain_db: dict[str, float] | None = None
    vocal_to_band_db: float | None = None


def mix(
    stems: Mapping[str, np.ndarray],
    *,
    tracks: Sequence[Track],
    voice: np.ndarray | None,
    sample_rate_hz: int,
    voice_offset_samples: int,
    duck_depth_db: float = 3.0,
    reverb_send_db: float = -17.0,
    reverb_room_size: float = 0.45,
    accompaniment_to_voice_lu: float = -1.0,
    headroom_dbfs: float = -6.0,
    consume_stems: bool = False,
    featured_role: str | None = None,
    genre: str = "",
    stereo_width: float = 1.0,
    tempo_bpm: float = 120.0,
) -> Mix:
    """Mix the rendered stems, and the produced voice over them.

    Parameters
    ----------
    stems : role -> np.ndarray [shape=(n, 2)], from `render_stems`; all the same n.
    tracks : the score's tracks; each role takes the pan of its first track (and its
        gain_db where the stem is too quiet to measure).
    voice : np.ndarray [shape=(m,)], mono float at `sample_rate_hz`, or None.
    sample_rate_hz : sample rate of stems and voice.
    voice_offset_samples : output sample where voice sample 0 lands (negative: the
        voice's head is cut).
    duck_depth_db : accompaniment reduction in the song at full voice level (0 = none).
    reverb_send_db : send level into the shared room (bass dry, drums less).
    reverb_room_size : the room's size, 0..1 (longer reverberation above 0.5).
    accompaniment_to_voice_lu : the accompaniment's integrated loudness relative to the
        voice's, before ducking.
    headroom_dbfs : sample-peak ceiling of both premasters (a trim down, never up).
    consume_stems : the stems are the caller's to give away: they are processed in
        place and removed from the (mutable) mapping as they are used, so that memory
        holds one copy of the band. Otherwise the inputs are left untouched.
    featured_role : the tagged instrument's role, set on top of the balance.
    genre : the style's genre (loudness offsets, EQ, sidechain).
    stereo_width : 0..1: each role's side/mid target (``mix.json``) at 1 (V4_5PLUS), that
        much narrower toward 0.
    tempo_bpm : the song's tempo (the voice's delay is a dotted eighth).

    Returns
    -------
    Mix

    Raises
    ------
    InvalidField
        if the stems are empty or disagree in shape, or duck_depth_db < 0.
    """
    if not stems:
        raise InvalidField("there are no stems to mix", param="stems", value=0)
    shapes = {s.shape for s in stems.values()}
    if len(shapes) != 1 or next(iter(shapes))[1:] != (2,):
        raise InvalidField(
            f"stems must all have one shape (n, 2), got {sorted(shapes)}", param="stems"
        )
    if duck_depth_db < 0:
        raise InvalidField(
            f"duck_depth_db {duck_depth_db} must be >= 0",
            param="duck_depth_db",
            value=duck_depth_db,
        )
    n = next(iter(shapes))[0]
    data = mix_presets()
    by_role = {}
    for track in tracks:
        by_role.setdefault(track.role, track)
    hop = max(1, round(_HOP_SECONDS * sample_rate_hz))
    pump = None
    if genre in data["sidechain"]["genres"] and "drums" in stems:
        pump = _sidechain_gain_db(np.asarray(stems["drums"]), sample_rate_hz=sample_rate_hz, hop=hop)

    processed: dict[str, np.ndarray] = {}
    stem_gain_db: dict[str, float] = {}
    bus = np.zeros((n, 2), dtype=np.float32)
    sends = None
    spool = False
    for role in list(stems):
        stem = stems.pop(role) if consume_stems else stems[role]  # type: ignore[attr-defined]
        track = by_role.get(role)
        pan = track.pan if track else 0.0
        left, right = pan_gains(pan)
        if isinstance(stem, SpooledAudio):  # read back a fresh copy of our own
            spool = True
            dry = np.asarray(stem)
        elif consume_stems and stem.dtype == np.float32 and stem.flags.c_contiguous:
            dry = stem
        else:
            dry = np.array(stem, dtype=np.float32, order="C")
        del stem
        apply_sos_in_place(dry, role_eq_sos(role, sample_rate_hz=sample_rate_hz, genre=genre))
        if role in data["side_to_mid_db"]:  # before the loudness is read: narrowing lowers it
            want_db = data["side_to_mid_db"][role] - (1.0 - stereo_width) * data["narrow_db_at_zero_width"]
            _set_width_in_place(dry, side_to_mid_db=want_db, delay_samples=round(
                data["width_delay_ms"].get(role, 12.0) / 1000 * sample_rate_hz))
        gain_db = _target_gain_db(dry, role=role, track=track, featured_role=featured_role, genre=genre,
                                  sample_rate_hz=sample_rate_hz)
        stem_gain_db[role] = gain_db
        gain = 10.0 ** (gain_db / 20.0)
        # per channel: numpy is slow at broadcasting over a trailing axis of 2
        dry[:, 0] *= np.float32(left * gain)
        dry[:, 1] *= np.float32(right * gain)
        if pump is not None and role in data["sidechain"]["roles"]:
            _apply_frame_gain_db(dry, pump, hop=hop)
        bus += dry
        send_db = reverb_send_db + data["room_send_db"].get(role, 0.0)
        if send_db > -60.0:
            if sends is None:
                sends = np.zeros((n, 2), dtype=np.float32)
            _accumulate(sends, dry, gain=10.0 ** (send_db / 20.0))
        processed[role] = SpooledAudio.write(dry) if spool else dry
        del dry
    # the voice's side (placing and producing it, its loudness, the ducking curve) needs
    # no band: it is worked out on another thread while the room runs (both release the
    # GIL); not for long (spooled) inputs, where the two at once would raise the peak of memory
    voice_side = (_in_thread if not spool else _now)(
        _voice_side, voice, n=n, offset_samples=voice_offset_samples, hop=hop, depth_db=duck_depth_db,
        sample_rate_hz=sample_rate_hz)
    if sends is not None and np.any(sends):
        room_in_place(sends, sample_rate_hz=sample_rate_hz, room_size=reverb_room_size)
        apply_sos_in_place(sends, highpass_sos(data["room_return_high_pass_hz"], sample_rate_hz=sample_rate_hz))
        bus += sends
        processed[REVERB_STEM] = SpooledAudio.write(sends) if spool else sends
    del sends

    comp = _compressor_gain(bus, sample_rate_hz=sample_rate_hz)
    _apply_gain(bus, comp)

    placed, voice_hops, duck_db = voice_side.result()
    bus_hops = k_weighted_hop_power(bus, sample_rate_hz=sample_rate_hz)
    loudness_hop = round(_LOUDNESS_HOP_SECONDS * sample_rate_hz)
    accompaniment_lufs = _gated_loudness(bus_hops, hop_samples=loudness_hop)
    voice_lufs = -math.inf if voice_hops is None else _gated_loudness(voice_hops, hop_samples=loudness_hop)
    balance_db = _balance_db(accompaniment_lufs, voice_lufs, accompaniment_to_voice_lu=accompaniment_to_voice_lu)
    balance = np.float32(10.0 ** (balance_db / 20.0))
    bus *= balance

    song = bus.copy()
    _apply_frame_gain_db(song, duck_db, hop=hop)
    if duck_depth_db > 0 and np.any(duck_db):
        dip = data["vocal_dip"]
        dip_db = duck_db * (dip["depth_db"] / duck_depth_db)  # as deep as the duck is far in
        parallel_band_in_place(song, bandpass_sos(dip["centre_hz"], q=dip["q"], sample_rate_hz=sample_rate_hz),
                               gain=lambda a, b: _frame_gain(dip_db, hop=hop, start=a, stop=b))
    vocal_to_band = None
    if placed is not None:
        # the ride: the voice against the band as heard in the song (balanced, ducked)
        duck_per_hop = _per_loudness_hop(duck_db, hop=hop, loudness_hop=loudness_hop, count=len(bus_hops))
        heard_band = bus_hops * float(balance) ** 2 * 10 ** (duck_per_hop / 10)
        ride_db = ride_gain_db(2.0 * voice_hops, heard_band)
        for start in range(0, n, _BLOCK_SAMPLES):
            stop = min(n, start + _BLOCK_SAMPLES)
            placed[start:stop] *= _frame_gain(ride_db, hop=loudness_hop, start=start, stop=stop)
        # the figure from the meters already read (no pass over the audio): the ridden
        # voice in both channels against the band as heard
        vocal_to_band = vocal_to_band_from_hops(2.0 * voice_hops * 10 ** (ride_db / 10), heard_band)
        song[:, 0] += placed
        song[:, 1] += placed
        add_vocal_sends(song, placed, sample_rate_hz=sample_rate_hz, room_size=reverb_room_size, tempo_bpm=tempo_bpm)
    del placed
    song_trim_db = _trim_db(song, headroom_dbfs)
    song *= np.float32(10.0 ** (song_trim_db / 20.0))

    instrumental_trim_db = _trim_db(bus, headroom_dbfs)
    trim = np.float32(10.0 ** (instrumental_trim_db / 20.0))
    bus *= trim
    # every stem takes the same chain of gains as the bus: compressor, balance, trim
    comp *= balance * trim
    for role, stem in processed.items():
        if isinstance(stem, SpooledAudio):  # applied as the stem is read back
            processed[role] = stem.with_gain(comp)
        else:
            _apply_gain(stem, comp)
    premaster: np.ndarray | SpooledAudio = bus
    if spool:  # the pre-master is not needed again until the instrumental is mastered
        premaster = SpooledAudio.write(bus)
        del bus
    logger.debug(
        "mix: balance %.1f dB, trims %.1f / %.1f dB, stems %s", balance_db, instrumental_trim_db, song_trim_db,
        {r: round(g, 1) for r, g in stem_gain_db.items()},
    )
    return Mix(
        stems=processed,
        instrumental_premaster=premaster,
        song_premaster=song,
        duck_gain_db=duck_db.astype(np.float32),
        duck_hop_samples=hop,
        instrumental_trim_db=instrumental_trim_db,
        song_trim_db=song_trim_db,
        instrumental_loudness_lufs=accompaniment_lufs + balance_db + instrumental_trim_db,
        stem_gain_db=stem_gain_db,
        vocal_to_band_db=vocal_to_band,
    )


def role_eq_sos(role: str, *, sample_rate_hz: int, genre: str = "") -> np.ndarray:
    """A role's filter chain as one cascade: its high-pass (``mix.json`` high_pass_hz;
    the bass only loses its subsonic rumble), its peaking sections (``eq``, then the
    genre's own for the role, ``genre_eq``) and the band's air (a high shelf, ``air``)."""
    data = mix_presets()
    cutoff = data["high_pass_hz"].get(role, data["high_pass_hz"]["other"]) or data["bass_high_pass_hz"]
    sections = [highpass_sos(cutoff, sample_rate_hz=sample_rate_hz)]
    peaks = [*data["eq"].get(role, []), *data["genre_eq"].get(genre, {}).get(role, [])]
    sections += [peaking_sos(f, gain_db=g, q=q, sample_rate_hz=sample_rate_hz) for f, g, q in peaks]
    air = data["air"]
    if role not in air["except"]:
        sections.append(high_shelf_sos(air["corner_hz"], gain_db=air["gain_db"], sample_rate_hz=sample_rate_hz))
    return np.vstack(sections)


def _target_gain_db(dry: np.ndarray, *, role: str, track: Track | None, featured_role: str | None, genre: str,
                    sample_rate_hz: int) -> float:
    """The gain that brings a stem to its role's loudness target (the track's own
    gain_db where the stem is too quiet or short to measure)."""
    measured = _quick_loudness_lufs(dry, sample_rate_hz=sample_rate_hz)
    if not math.isfinite(measured) or measured < -70.0:
        return track.gain_db if track else 0.0
    target = _STEM_REFERENCE_LUFS + stem_target_lu(role, featured_role=featured_role, genre=genre)
    return float(np.clip(target - measured, -40.0, 40.0))


def _quick_loudness_lufs(stereo: np.ndarray, *, sample_rate_hz: int) -> float:
    """Integrated loudness (BS.1770 gating) with the K-weighting run in float32 (half
    the time of the mastering meter's float64; within 0.05 LU of it on music, plenty for
    a target that is met within 1 LU)."""
    sos = _k_weighting_sos(int(sample_rate_hz)).astype(np.float32)
    hop = round(_LOUDNESS_HOP_SECONDS * sample_rate_hz)
    n_hops = len(stereo) // hop
    if n_hops == 0:
        return -math.inf
    power = np.zeros(n_hops, dtype=np.float64)
    zi = np.zeros((sos.shape[0], 2, stereo.shape[1]), dtype=np.float32)
    block = max(hop, (_BLOCK_SAMPLES // hop) * hop)
    for start in range(0, n_hops * hop, block):
        stop = min(start + block, n_hops * hop)
        weighted, zi = sosfilt(sos, stereo[start:stop], axis=0, zi=zi)
        weighted *= weighted
        power[start // hop : stop // hop] = weighted.sum(axis=1).reshape(-1, hop).sum(axis=1, dtype=np.float64)
    return _gated_loudness(power, hop_samples=hop)


def _set_width_in_place(stereo: np.ndarray, *, side_to_mid_db: float, delay_samples: int) -> None:
    """Bring a stem's side/mid to `side_to_mid_db`: a stem wider than that (a piano or
    string patch sampled with spaced microphones reads about 0 dB, wider than any
    record) has its side turned down; a narrower one gets a delayed side copy of its
    mid (`_widen_in_place`) for the missing side power. The mid is never changed."""
    mid_power = side_power = 0.0
    for start in range(0, len(stereo), _BLOCK_SAMPLES):
        part = stereo[start : start + _BLOCK_SAMPLES]
        mid_power += float(np.sum(np.square(part[:, 0] + part[:, 1], dtype=np.float32), dtype=np.float64))
        side_power += float(np.sum(np.square(part[:, 0] - part[:, 1], dtype=np.float32), dtype=np.float64))
    if mid_power <= 0:
        return
    want = 10 ** (side_to_mid_db / 10)
    have = side_power / mid_power
    if have > want:
        g = math.sqrt(want / have)  # side gain: L' = M + gS, R' = M - gS
        a, b = np.float32((1 + g) / 2), np.float32((1 - g) / 2)
        for start in range(0, len(stereo), _BLOCK_SAMPLES):
            part = stereo[start : start + _BLOCK_SAMPLES]
            left = part[:, 0].copy()
            part[:, 0] *= a
            part[:, 0] += b * part[:, 1]
            part[:, 1] *= a
            part[:, 1] += b * left
    else:
        # the delayed copy adds amount² of the mid's power as side
        _widen_in_place(stereo, amount=math.sqrt(want - have), delay_samples=delay_samples)


def _widen_in_place(stereo: np.ndarray, *, amount: float, delay_samples: int) -> None:
    """Add side signal: a delayed copy of the mid, in opposite polarity per channel
    (L += a·mid(t-d), R -= a·mid(t-d)). The mid is untouched, so the stem sums to mono
    exactly as before; the side gains a decorrelated image. In place, in blocks (the mid
    never changes, so the delayed reads need no copy of the stem)."""
    a = np.float32(0.5 * amount)
    d = max(1, delay_samples)
    n = len(stereo)
    for start in range(0, n, _BLOCK_SAMPLES):
        stop = min(n, start + _BLOCK_SAMPLES)
        src_start, src_stop = start - d, stop - d
        if src_stop <= 0:
            continue
        lo = max(src_start, 0)
        mid = (stereo[lo:src_stop, 0] + stereo[lo:src_stop, 1]) * a
        dest = start + (lo - src_start)
        stereo[dest:stop, 0] += mid
        stereo[dest:stop, 1] -= mid


def _sidechain_gain_db(drums: np.ndarray, *, sample_rate_hz: int, hop: int) -> np.ndarray:
    """The pump: gain per frame (dB, <= 0) that dips on each kick (the drums' low band)
    and recovers over the release."""
    spec = mix_presets()["sidechain"]
    mono = np.ascontiguousarray((drums[:, 0] + drums[:, 1]) * np.float32(0.5))
    apply_sos_in_place(mono, lowpass_sos(spec["key_low_pass_hz"], sample_rate_hz=sample_rate_hz, order=4))
    level = _frame_level_db(mono, hop=hop)
    if not np.any(level > -100):
        return np.zeros(len(level))
    loud = float(np.percentile(level[level > level.max() - 50.0], 95))
    amount = np.clip((level - (loud - 12.0)) / 12.0, 0.0, 1.0)
    hop_s = hop / sample_rate_hz
    smoothed = _smooth(amount, attack=1.0, release=_coef(spec["release_ms"], hop_s))
    return -spec["depth_db"] * smoothed


def _per_loudness_hop(frame_db: np.ndarray, *, hop: int, loudness_hop: int, count: int) -> np.ndarray:
    """Mean power gain (dB) per loudness hop of a per-frame dB curve."""
    per = max(1, loudness_hop // hop)
    usable = min(len(frame_db) // per, count)
    out = np.zeros(count)
    if usable:
        power = 10 ** (frame_db[: usable * per].reshape(usable, per) / 10)
        out[:usable] = 10 * np.log10(power.mean(axis=1))
        out[usable:] = out[usable - 1]
    return out


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law, normalised to unity at the centre: (left, right) gains
    with left² + right² = 2. pan in [-1 (left), +1 (right)], clamped."""
    angle = (min(max(pan, -1.0), 1.0) + 1.0) * math.pi / 4.0
    return math.sqrt(2.0) * math.cos(angle), math.sqrt(2.0) * math.sin(angle)


def _apply_gain(stereo: np.ndarray, gain: np.ndarray) -> None:
    """stereo (n, 2) *= gain (n,), in place, channel by channel."""
    stereo[:, 0] *= gain
    stereo[:, 1] *= gain


def _accumulate(total: np.ndarray, signal: np.ndarray, *, gain: float) -> None:
    """total += gain * signal, in blocks (no full-length temporary)."""
    g = np.float32(gain)
    for start in range(0, len(total), _BLOCK_SAMPLES):
        total[start : start + _BLOCK_SAMPLES] += signal[start : start + _BLOCK_SAMPLES] * g


def _db_to_gain(gain_db: np.ndarray) -> np.ndarray:
    return np.power(np.float32(10.0), np.asarray(gain_db, dtype=np.float32) / np.float32(20.0))


def _frame_level_db(signal: np.ndarray, *, hop: int) -> np.ndarray:
    """Mean-square level per hop, dB; signal (n,) or (n, c) -> (ceil(n / hop),).
    float32, in blocks."""
    n = len(signal)
    frames = -(-n // hop)
    power = np.zeros(frames, dtype=np.float64)
    block = max(hop, (_BLOCK_SAMPLES // hop) * hop)
    for start in range(0, n, block):
        chunk = np.asarray(signal[start : start + block], dtype=np.float32)
        if chunk.ndim == 2:
            squared = chunk[:, 0] * chunk[:, 0]
            for c in range(1, chunk.shape[1]):
                squared += chunk[:, c] * chunk[:, c]
            squared /= np.float32(chunk.shape[1])
        else:
            squared = chunk * chunk
        whole = (len(squared) // hop) * hop
        first = start // hop
        power[first : first + whole // hop] = squared[:whole].reshape(-1, hop).mean(axis=1)
        if whole < len(squared):  # the last, partial frame (zero-padded mean)
            power[first + whole // hop] = squared[whole:].sum() / hop
    return 10.0 * np.log10(power + 1e-12)


def _smooth(values: np.ndarray, *, attack: float, release: float) -> np.ndarray:
    """One-pole attack/release follower on a frame series (rising uses attack)."""
    out = np.empty_like(values)
    state = float(values[0]) if len(values) else 0.0
    for i, v in enumerate(values.tolist()):
        coef = attack if v > state else release
        state += coef * (v - state)
        out[i] = state
    return out


def _coef(time_ms: float, hop_seconds: float) -> float:
    return 1.0 - math.exp(-hop_seconds / (time_ms / 1000.0))


def _frame_gain(frame_db: np.ndarray, *, hop: int, start: int, stop: int) -> np.ndarray:
    """Linear gain for samples start..stop from per-frame dB values (linear in dB between
    frame centres), float32."""
    centres = (np.arange(len(frame_db), dtype=np.float64) + 0.5) * hop
    positions = np.arange(start, stop, dtype=np.float64)
    return _db_to_gain(np.interp(positions, centres, frame_db))


def _gain_from_frames(frame_db: np.ndarray, *, hop: int, n: int) -> np.ndarray:
    """Per-sample linear gain (n,) float32 from per-frame dB values, built in blocks."""
    out = np.empty(n, dtype=np.float32)
    for start in range(0, n, _BLOCK_SAMPLES):
        stop = min(start + _BLOCK_SAMPLES, n)
        out[start:stop] = _frame_gain(frame_db, hop=hop, start=start, stop=stop)
    return out


def _apply_frame_gain_db(stereo: np.ndarray, frame_db: np.ndarray, *, hop: int) -> None:
    """stereo (n, 2) *= the per-frame dB curve, in place and in blocks."""
    if not np.any(frame_db):
        return
    for start in range(0, len(stereo), _BLOCK_SAMPLES):
        stop = min(start + _BLOCK_SAMPLES, len(stereo))
        _apply_gain(stereo[start:stop], _frame_gain(frame_db, hop=hop, start=start, stop=stop))


def _compressor_gain(bus: np.ndarray, *, sample_rate_hz: int) -> np.ndarray:
    """A light RMS bus compressor's linear gain per sample, (n,) float32, computed from
    the bus: threshold a few dB under its loud level, 2:1, 10 ms / 150 ms."""
    hop = max(1, round(_HOP_SECONDS * sample_rate_hz))
    level = _frame_level_db(bus, hop=hop)
    active = level[level > level.max() - 50.0]
    if not np.any(bus) or len(active) == 0:
        return np.ones(len(bus), dtype=np.float32)
    threshold = float(np.percentile(active, 90)) - _COMP_THRESHOLD_UNDER_LOUD_DB
    hop_s = hop / sample_rate_hz
    smoothed = _smooth(
        level, attack=_coef(_COMP_ATTACK_MS, hop_s), release=_coef(_COMP_RELEASE_MS, hop_s)
    )
    reduction = np.clip(
        (smoothed - threshold) * (1.0 - 1.0 / _COMP_RATIO), 0.0, _COMP_MAX_REDUCTION_DB
    )
    return _gain_from_frames(-reduction, hop=hop, n=len(bus))


def _duck_gain_db(
    placed: np.ndarray | None, *, n: int, hop: int, depth_db: float, sample_rate_hz: int
) -> np.ndarray:
    """The accompaniment's gain under the voice, dB per frame of `hop` samples
    (ceil(n / hop),): -depth_db where the voice is near its loud level, 0 where it is
    silent, smoothed (30 ms / 300 ms)."""
    if placed is None or depth_db == 0 or not np.any(placed):
        return np.zeros(-(-n // hop), dtype=np.float32)
    level = _frame_level_db(placed, hop=hop)
    hop_s = hop / sample_rate_hz
    smoothed = _smooth(
        level, attack=_coef(_DUCK_ATTACK_MS, hop_s), release=_coef(_DUCK_RELEASE_MS, hop_s)
    )
    active = level[level > level.max() - 50.0]
    loud = float(np.percentile(active, 90))
    amount = np.clip(
        (smoothed - (loud - _DUCK_NONE_BELOW_DB)) / (_DUCK_NONE_BELOW_DB - _DUCK_FULL_WITHIN_DB),
        0.0,
        1.0,
    )
    return -depth_db * amount


def _place_voice(voice: np.ndarray | None, *, n: int, offset_samples: int) -> np.ndarray | None:
    """The mono voice on the output timeline, (n,) float32, or None without a voice."""
    if voice is None:
        return None
    voice = np.asarray(voice, dtype=np.float32)
    if voice.ndim != 1:
        raise InvalidField(
            f"voice must be mono (m,), got {voice.shape}", param="voice", value=voice.shape
        )
    placed = np.zeros(n, dtype=np.float32)
    dest, src = max(offset_samples, 0), max(-offset_samples, 0)
    length = min(len(voice) - src, n - dest)
    if length > 0:
        placed[dest : dest + length] = voice[src : src + length]
    return placed


def _voice_side(voice: np.ndarray | None, *, n: int, offset_samples: int, hop: int, depth_db: float,
                sample_rate_hz: int) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """(the voice placed on the output's clock and produced (`vocal_chain_in_place`),
    its K-weighted power per 100 ms hop (mono; None without one), the ducking curve per
    hop, from the voice as sung)."""
    placed = _place_voice(voice, n=n, offset_samples=offset_samples)
    duck_db = _duck_gain_db(placed, n=n, hop=hop, depth_db=depth_db, sample_rate_hz=sample_rate_hz)
    if placed is None:
        return None, None, duck_db
    vocal_chain_in_place(placed, sample_rate_hz=sample_rate_hz)
    hops = k_weighted_hop_power(placed, sample_rate_hz=sample_rate_hz)
    return placed, hops, duck_db


def _now(fn, *args, **kwargs) -> Future:
    """fn's result (or error) in a Future, computed here and now."""
    future: Future = Future()
    try:
        future.set_result(fn(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - re-raised by future.result()
        future.set_exception(error)
    return future


def _in_thread(fn, *args, **kwargs) -> Future:
    """Run fn on a new thread; its result (or error) in the Future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - re-raised by future.result()
            future.set_exception(error)

    threading.Thread(target=run, name="sideman-mix-voice", daemon=True).start()
    return future


def _balance_db(accompaniment_lufs: float, voice_lufs: float, *, accompaniment_to_voice_lu: float) -> float:
    """The gain that sets the accompaniment's loudness relative to the voice (its mono
    loudness, -inf for none), or to a fixed level without one."""
    if not math.isfinite(accompaniment_lufs):
        return 0.0
    target = _ALONE_LOUDNESS_LUFS
    if math.isfinite(voice_lufs):
        # the voice as it is heard: the same signal in both channels, twice the power
        target = voice_lufs + 10.0 * math.log10(2.0) + accompaniment_to_voice_lu
    return target - accompaniment_lufs


def _trim_db(audio: np.ndarray, headroom_dbfs: float) -> float:
    peak = 0.0
    for start in range(0, len(audio), _BLOCK_SAMPLES):
        peak = max(peak, float(np.abs(audio[start : start + _BLOCK_SAMPLES]).max()))
    if peak <= 0.0:
        return 0.0
    return min(0.0, headroom_dbfs - 20.0 * math.log10(peak))
