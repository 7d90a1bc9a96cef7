"""The produced vocal of the song mix: what an engineer does to a lead voice before it
sits in a band. Only the song takes it; the instrumental and the stems never hear it.

    voice ─ high-pass ─ de-esser ─ compressor ─ level ride ─┬──────────────► song
                                                            ├─ room send ──► song
                                                            └─ delay send ─► song

* high-pass (`HIGH_PASS_HZ`): rumble, handling noise and plosive thumps out;
* de-esser: the 5-10 kHz band is turned down where it stands out of the voice by more
  than a threshold (3:1 above it, at most 8 dB), so esses do not spit;
* compressor: gentle (3:1, 5 ms / 120 ms) from a threshold under the voice's loud level;
* level ride: per 100 ms, the voice's K-weighted level against the band's as it is
  heard in the song (ducked), pulled toward `RIDE_TARGET_DB` within ±`RIDE_RANGE_DB`,
  smoothed over a few hundred ms: never buried in a loud bar, never pasted on top of
  a quiet one;
* sends: the band's own room (the same synthesized response, `sideman.render.room`)
  and a quiet tempo-synced delay (a dotted eighth), both high-passed.

Everything runs in place and in blocks (an eight-minute voice is 85 MB of float32).
"""

from __future__ import annotations

import math

import numpy as np
import pedalboard
from scipy.signal import butter, sosfilt

from sideman.render.filters import apply_sos_in_place, highpass_sos
from sideman.render.room import Room

__all__ = ["HIGH_PASS_HZ", "RIDE_RANGE_DB", "RIDE_TARGET_DB", "add_vocal_sends", "ride_gain_db",
           "vocal_chain_in_place"]

HIGH_PASS_HZ = 90.0
#: the voice's K-weighted level over the band's in sung windows that the ride aims at,
#: and how far it may move the voice
RIDE_TARGET_DB = 1.0
RIDE_RANGE_DB = 4.0
#: a 100 ms hop counts as sung when the voice is within this of its loud level
_SUNG_WITHIN_DB = 15.0
_RIDE_SMOOTH_HOPS = 4
#: de-esser: band, threshold (band level over the whole voice's), ratio, most reduction
_SIBILANCE_HZ = (5000.0, 10000.0)
_DEESS_THRESHOLD_DB = -8.0
_DEESS_RATIO = 3.0
_DEESS_MAX_DB = 8.0
_DEESS_HOP_SECONDS = 0.005
#: compressor: threshold under the voice's loud (90th percentile) level
_COMP_UNDER_LOUD_DB = 8.0
_COMP_RATIO = 3.0
_COMP_ATTACK_MS = 5.0
_COMP_RELEASE_MS = 120.0
#: sends: levels into the song, the delay's note (in beats) and feedback, send filters
ROOM_SEND_DB = -15.0
DELAY_SEND_DB = -21.0
_DELAY_BEATS = 0.75
_DELAY_FEEDBACK = 0.25
_SEND_HIGH_PASS_HZ = 250.0
_DELAY_LOW_PASS_HZ = 5000.0
_BLOCK_SAMPLES = 1 << 17


def vocal_chain_in_place(voice: np.ndarray, *, sample_rate_hz: int) -> None:
    """High-pass, de-ess and compress a mono voice [shape=(n,), float32] in place."""
    if not np.any(voice):
        return
    apply_sos_in_place(voice, highpass_sos(HIGH_PASS_HZ, sample_rate_hz=sample_rate_hz))
    _deess_in_place(voice, sample_rate_hz=sample_rate_hz)
    _compress_in_place(voice, sample_rate_hz=sample_rate_hz)


def ride_gain_db(voice_hop_power: np.ndarray, band_hop_power: np.ndarray) -> np.ndarray:
    """The ride's gain per 100 ms hop (dB), from the K-weighted hop powers of the voice
    as heard (both channels) and of the band as heard: toward RIDE_TARGET_DB in sung
    hops, held between them, within ±RIDE_RANGE_DB, smoothed."""
    n = min(len(voice_hop_power), len(band_hop_power))
    if n == 0:
        return np.zeros(len(voice_hop_power))
    v_db = 10 * np.log10(voice_hop_power[:n] + 1e-12)
    b_db = 10 * np.log10(band_hop_power[:n] + 1e-12)
    # a 400 ms view of both, as the ear integrates them
    kernel = np.ones(_RIDE_SMOOTH_HOPS) / _RIDE_SMOOTH_HOPS
    v_db = 10 * np.log10(np.convolve(10 ** (v_db / 10), kernel, mode="same") + 1e-12)
    b_db = 10 * np.log10(np.convolve(10 ** (b_db / 10), kernel, mode="same") + 1e-12)
    loud = float(np.percentile(v_db, 90))
    sung = v_db > loud - _SUNG_WITHIN_DB
    if not np.any(sung):
        return np.zeros(len(voice_hop_power))
    wanted = np.clip(RIDE_TARGET_DB - (v_db - b_db), -RIDE_RANGE_DB, RIDE_RANGE_DB)
    hops = np.arange(n)
    held = np.interp(hops, hops[sung], wanted[sung])  # between phrases: the nearest sung value
    smoothed = np.convolve(np.pad(held, _RIDE_SMOOTH_HOPS, mode="edge"),
                           np.ones(2 * _RIDE_SMOOTH_HOPS + 1) / (2 * _RIDE_SMOOTH_HOPS + 1), mode="same")
    out = np.zeros(len(voice_hop_power))
    out[:n] = smoothed[_RIDE_SMOOTH_HOPS : _RIDE_SMOOTH_HOPS + n]
    out[n:] = out[n - 1]
    return out


def add_vocal_sends(song: np.ndarray, voice: np.ndarray, *, sample_rate_hz: int, room_size: float,
                    tempo_bpm: float) -> None:
    """song [shape=(n, 2)] += the voice's room and delay returns (the voice (n,) mono,
    already produced and ridden). Uses one block-sized scratch buffer at a time."""
    if not np.any(voice):
        return
    n = min(len(song), len(voice))
    room_gain = np.float32(10 ** (ROOM_SEND_DB / 20))
    delay_gain = np.float32(10 ** (DELAY_SEND_DB / 20))
    delay_seconds = float(np.clip(_DELAY_BEATS * 60.0 / max(tempo_bpm, 30.0), 0.12, 1.2))
    delay = pedalboard.Pedalboard([
        pedalboard.HighpassFilter(cutoff_frequency_hz=_SEND_HIGH_PASS_HZ),
        pedalboard.Delay(delay_seconds=delay_seconds, feedback=_DELAY_FEEDBACK, mix=1.0),
        pedalboard.LowpassFilter(cutoff_frequency_hz=_DELAY_LOW_PASS_HZ),
    ])
    send_hp = highpass_sos(_SEND_HIGH_PASS_HZ, sample_rate_hz=sample_rate_hz)
    zi = np.zeros((send_hp.shape[0], 2))
    rate = float(sample_rate_hz)
    room = Room(sample_rate_hz=sample_rate_hz, room_size=room_size)
    for start in range(0, n, _BLOCK_SAMPLES):
        stop = min(n, start + _BLOCK_SAMPLES)
        dry = voice[start:stop]
        sent, zi = sosfilt(send_hp, dry.astype(np.float64), zi=zi)
        wet = room.process(sent.astype(np.float32))
        song[start:stop] += wet * room_gain
        echo = delay.process(dry[None, :], rate, reset=False)[0]
        song[start:stop, 0] += echo * delay_gain
        song[start:stop, 1] += echo * delay_gain


def _deess_in_place(voice: np.ndarray, *, sample_rate_hz: int) -> None:
    """Turn the sibilance band down where it stands out of the voice (two passes over
    the band-passed signal, in blocks: measure, then subtract)."""
    high = min(_SIBILANCE_HZ[1], 0.45 * sample_rate_hz)
    if _SIBILANCE_HZ[0] >= high:
        return
    sos = butter(2, [_SIBILANCE_HZ[0], high], btype="bandpass", fs=sample_rate_hz, output="sos")
    hop = max(1, round(_DEESS_HOP_SECONDS * sample_rate_hz))
    frames = -(-len(voice) // hop)
    band_power = np.zeros(frames)
    full_power = np.zeros(frames)
    zi = np.zeros((sos.shape[0], 2))
    block = (_BLOCK_SAMPLES // hop) * hop
    for start in range(0, len(voice), block):
        part = voice[start : start + block].astype(np.float64)
        band, zi = sosfilt(sos, part, zi=zi)
        pad = (-len(part)) % hop
        first = start // hop
        count = (len(part) + pad) // hop
        band_power[first : first + count] = np.pad(band * band, (0, pad)).reshape(-1, hop).mean(axis=1)
        full_power[first : first + count] = np.pad(part * part, (0, pad)).reshape(-1, hop).mean(axis=1)
    over = 10 * np.log10(band_power + 1e-12) - 10 * np.log10(full_power + 1e-12) - _DEESS_THRESHOLD_DB
    reduction_db = np.clip(over * (1 - 1 / _DEESS_RATIO), 0.0, _DEESS_MAX_DB)
    reduction_db[10 * np.log10(full_power + 1e-12) < -70] = 0.0
    if not np.any(reduction_db):
        return
    # smooth: an ess lasts tens of ms; no zipper from frame to frame
    reduction_db = np.convolve(reduction_db, np.ones(5) / 5, mode="same")
    gain_minus_one = 10 ** (-reduction_db / 20) - 1.0
    centres = (np.arange(frames) + 0.5) * hop
    zi = np.zeros((sos.shape[0], 2))
    for start in range(0, len(voice), block):
        part = voice[start : start + block]
        band, zi = sosfilt(sos, part.astype(np.float64), zi=zi)
        g = np.interp(np.arange(start, start + len(part)), centres, gain_minus_one)
        part += (band * g).astype(np.float32)


def _compress_in_place(voice: np.ndarray, *, sample_rate_hz: int) -> None:
    """A gentle compressor from a threshold under the voice's loud level."""
    hop = max(1, round(0.05 * sample_rate_hz))
    frames = len(voice) // hop
    if frames < 2:
        return
    level = 10 * np.log10(np.mean(voice[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-12)
    active = level[level > level.max() - 40.0]
    threshold_db = float(np.percentile(active, 90)) - _COMP_UNDER_LOUD_DB
    if not math.isfinite(threshold_db):
        return
    compressor = pedalboard.Compressor(threshold_db=threshold_db, ratio=_COMP_RATIO,
                                       attack_ms=_COMP_ATTACK_MS, release_ms=_COMP_RELEASE_MS)
    rate = float(sample_rate_hz)
    for start in range(0, len(voice), _BLOCK_SAMPLES):
        part = voice[start : start + _BLOCK_SAMPLES]
        part[:] = compressor.process(part[None, :], rate, reset=False)[0]

