"""Stems -> the instrumental bus and the song: gain, pan, a shared reverb, a light bus
compressor, the balance against the voice, and gentle ducking under the voice.

Signal flow (all stereo, float32)::

    stem ─ gain_db, pan ─┬────────────────────────────────────┐
                         └─ send ─► reverb bus ─► "reverb" stem ┴─► bus compressor ─► balance
    instrumental_premaster = Σ stems (the reverb return is a stem)      (× headroom trim)
    song_premaster = voice (mono, both channels) + Σ stems × duck gain   (× headroom trim)

One reverb for the whole band, as on a console: the sends are summed into one bus and
its return is delivered as its own stem (``stems/reverb.wav``), the way studios print
an effects return, instead of running one reverb per stem (4-6x the work). Linear
steps commute with the sum, and the compressor's and the duck's gains are computed
once (from the bus, from the voice) and applied to every stem, so the processed stems
add up to the instrumental exactly. The instrumental is not ducked: it is for singing
over. Everything runs in float32, in place where the caller allows it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import pedalboard

from sideman.errors import InvalidField
from sideman.music.model import Track
from sideman.render.master import measure_loudness_lufs
from sideman.render.spool import SpooledAudio

__all__ = ["REVERB_STEM", "Mix", "mix", "pan_gains"]

logger = logging.getLogger(__name__)

#: reverb send level per role relative to `reverb_send_db` (low end stays dry)
_SEND_OFFSET_DB: Mapping[str, float] = {"bass": -60.0, "drums": -6.0}
#: the shared reverb: a medium room (the score may ask for another size), gently damped
_REVERB = {"room_size": 0.45, "damping": 0.5, "width": 1.0}
#: envelope frame hop for the compressor and the duck detector, seconds
_HOP_SECONDS = 0.005
#: bus compressor: threshold under the bus's loud level, ratio, times, most reduction
_COMP_THRESHOLD_UNDER_LOUD_DB = 4.0
_COMP_RATIO = 2.0
_COMP_ATTACK_MS = 10.0
_COMP_RELEASE_MS = 150.0
_COMP_MAX_REDUCTION_DB = 6.0
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


@dataclass(frozen=True)
class Mix:
    """The mixed signals, before mastering. Arrays are [shape=(n, 2), dtype=float32]
    unless said otherwise.

    stems: role -> processed stem; they sum to `instrumental_premaster`. Long inputs
        (stems spooled by `render_stems`) give `SpooledAudio` for the stems and the
        instrumental pre-master: ``np.asarray`` reads one back.
    instrumental_premaster: the accompaniment alone, not ducked.
    song_premaster: the voice, untouched, plus the ducked accompaniment.
    duck_gain_db: np.ndarray [shape=(ceil(n / duck_hop_samples),)], <= 0, the gain on the
        accompaniment in the song per 5 ms frame (linear in between frame centres).
    duck_hop_samples: the frame hop of `duck_gain_db`.
    instrumental_trim_db, song_trim_db: the headroom trims applied last (<= 0), so that
        song_premaster = 10**(song_trim_db/20) * (voice + Σ stems_before_trim × duck).
    instrumental_loudness_lufs: integrated loudness of `instrumental_premaster` (known
        from the balance measurement; -inf for silence), so mastering need not measure it.
    """

    stems: dict[str, np.ndarray | SpooledAudio]
    instrumental_premaster: np.ndarray | SpooledAudio
    song_premaster: np.ndarray
    duck_gain_db: np.ndarray
    duck_hop_samples: int
    instrumental_trim_db: float
    song_trim_db: float
    instrumental_loudness_lufs: float


def mix(
    stems: Mapping[str, np.ndarray],
    *,
    tracks: Sequence[Track],
    voice: np.ndarray | None,
    sample_rate_hz: int,
    voice_offset_samples: int,
    duck_depth_db: float = 3.0,
    reverb_send_db: float = -12.0,
    reverb_room_size: float = 0.45,
    accompaniment_to_voice_lu: float = -1.0,
    headroom_dbfs: float = -6.0,
    consume_stems: bool = False,
) -> Mix:
    """Mix the rendered stems, and the voice over them.

    Parameters
    ----------
    stems : role -> np.ndarray [shape=(n, 2)], from `render_stems`; all the same n.
    tracks : the score's tracks; each role takes the gain_db and pan of its first track.
    voice : np.ndarray [shape=(m,)], mono float at `sample_rate_hz`, or None.
    sample_rate_hz : sample rate of stems and voice.
    voice_offset_samples : output sample where voice sample 0 lands (negative: the
        voice's head is cut).
    duck_depth_db : accompaniment reduction in the song at full voice level (0 = none).
    reverb_send_db : send level into the shared reverb (bass dry, drums 6 dB less).
    reverb_room_size : the shared reverb's size, 0..1 (longer tails above 0.5).
    accompaniment_to_voice_lu : the accompaniment's integrated loudness relative to the
        voice's, before ducking.
    headroom_dbfs : sample-peak ceiling of both premasters (a trim down, never up).
    consume_stems : the stems are the caller's to give away: they are processed in
        place and removed from the (mutable) mapping as they are used, so that memory
        holds one copy of the band. Otherwise the inputs are left untouched.

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
    by_role = {}
    for track in tracks:
        by_role.setdefault(track.role, track)

    processed: dict[str, np.ndarray] = {}
    bus = np.zeros((n, 2), dtype=np.float32)
    sends = None
    spool = False
    for role in list(stems):
        stem = stems.pop(role) if consume_stems else stems[role]  # type: ignore[attr-defined]
        track = by_role.get(role)
        gain_db, pan = (track.gain_db, track.pan) if track else (0.0, 0.0)
        left, right = pan_gains(pan)
        gain = 10.0 ** (gain_db / 20.0)
        if isinstance(stem, SpooledAudio):  # read back a fresh copy of our own
            spool = True
            dry = np.asarray(stem)
        elif consume_stems and stem.dtype == np.float32 and stem.flags.c_contiguous:
            dry = stem
        else:
            dry = np.array(stem, dtype=np.float32, order="C")
        del stem
        # per channel: numpy is slow at broadcasting over a trailing axis of 2
        dry[:, 0] *= np.float32(left * gain)
        dry[:, 1] *= np.float32(right * gain)
        bus += dry
        send_db = reverb_send_db + _SEND_OFFSET_DB.get(role, 0.0)
        if send_db > -60.0:
            if sends is None:
                sends = np.zeros((n, 2), dtype=np.float32)
            _accumulate(sends, dry, gain=10.0 ** (send_db / 20.0))
        processed[role] = SpooledAudio.write(dry) if spool else dry
        del dry
    # the voice's side (placing it, its loudness, the ducking curve) needs no band: it is
    # worked out on another thread while the reverb runs (both release the GIL); not for
    # long (spooled) inputs, where the two at once would raise the peak of memory
    hop = max(1, round(_HOP_SECONDS * sample_rate_hz))
    voice_side = (_in_thread if not spool else _now)(
        _voice_side, voice, n=n, offset_samples=voice_offset_samples, hop=hop, depth_db=duck_depth_db,
        sample_rate_hz=sample_rate_hz)
    if sends is not None and np.any(sends):
        _reverb_in_place(sends, sample_rate_hz=sample_rate_hz, room_size=reverb_room_size)
        bus += sends
        processed[REVERB_STEM] = SpooledAudio.write(sends) if spool else sends
    del sends

    comp = _compressor_gain(bus, sample_rate_hz=sample_rate_hz)
    _apply_gain(bus, comp)

    placed, voice_lufs, duck_db = voice_side.result()
    balance_db, accompaniment_lufs = _balance_db(
        bus,
        voice_lufs,
        sample_rate_hz=sample_rate_hz,
        accompaniment_to_voice_lu=accompaniment_to_voice_lu,
    )
    balance = np.float32(10.0 ** (balance_db / 20.0))
    bus *= balance

    song = bus.copy()
    _apply_frame_gain_db(song, duck_db, hop=hop)
    if placed is not None:
        song[:, 0] += placed
        song[:, 1] += placed
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
        "mix: balance %.1f dB, trims %.1f / %.1f dB", balance_db, instrumental_trim_db, song_trim_db
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
    )


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law, normalised to unity at the centre: (left, right) gains
    with left² + right² = 2. pan in [-1 (left), +1 (right)], clamped."""
    angle = (min(max(pan, -1.0), 1.0) + 1.0) * math.pi / 4.0
    return math.sqrt(2.0) * math.cos(angle), math.sqrt(2.0) * math.sin(angle)


def _reverb_in_place(sends: np.ndarray, *, sample_rate_hz: int, room_size: float) -> None:
    """The shared reverb (Freeverb, wet only) over the send bus, (n, 2) float32, in place
    and in blocks (the reverb keeps its state across blocks; it has no latency)."""
    reverb = pedalboard.Reverb(wet_level=1.0, dry_level=0.0, **{**_REVERB, "room_size": room_size})
    rate = float(sample_rate_hz)
    for start in range(0, len(sends), _BLOCK_SAMPLES):
        part = sends[start : start + _BLOCK_SAMPLES]
        wet = reverb.process(np.stack([part[:, 0], part[:, 1]]), rate, reset=False)
        part[:, 0] = wet[0]
        part[:, 1] = wet[1]


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
                sample_rate_hz: int) -> tuple[np.ndarray | None, float, np.ndarray]:
    """(the voice placed on the output's clock, its loudness (LUFS, mono; -inf without
    one), the ducking curve per hop)."""
    placed = _place_voice(voice, n=n, offset_samples=offset_samples)
    loudness = -math.inf if placed is None else measure_loudness_lufs(placed, sample_rate_hz=sample_rate_hz)
    duck_db = _duck_gain_db(placed, n=n, hop=hop, depth_db=depth_db, sample_rate_hz=sample_rate_hz)
    return placed, loudness, duck_db


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


def _balance_db(
    bus: np.ndarray,
    voice_lufs: float,
    *,
    sample_rate_hz: int,
    accompaniment_to_voice_lu: float,
) -> tuple[float, float]:
    """(gain that sets the accompaniment's loudness relative to the voice (its mono
    loudness, -inf for none), or to a fixed level without one; the accompaniment's
    loudness before that gain)."""
    accompaniment = measure_loudness_lufs(bus, sample_rate_hz=sample_rate_hz)
    if not math.isfinite(accompaniment):
        return 0.0, accompaniment
    target = _ALONE_LOUDNESS_LUFS
    if math.isfinite(voice_lufs):
        # the voice as it is heard: the same signal in both channels, twice the power
        target = voice_lufs + 10.0 * math.log10(2.0) + accompaniment_to_voice_lu
    return target - accompaniment, accompaniment


def _trim_db(audio: np.ndarray, headroom_dbfs: float) -> float:
    peak = 0.0
    for start in range(0, len(audio), _BLOCK_SAMPLES):
        peak = max(peak, float(np.abs(audio[start : start + _BLOCK_SAMPLES]).max()))
    if peak <= 0.0:
        return 0.0
    return min(0.0, headroom_dbfs - 20.0 * math.log10(peak))
