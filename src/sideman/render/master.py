"""Mastering: gain to a loudness target (ITU-R BS.1770-4), then a brickwall limiter,
then a true-peak check and trim.

Everything here works on float32 in blocks, so that an eight-minute song costs a few
blocks of scratch memory and not several copies of itself:

* loudness: the K-weighting filters of pyloudnorm (same coefficients, so the figures
  agree with it to ~0.01 LU) run as one second-order-section cascade, block by block
  with carried filter state; mean squares are summed per 100 ms hop and the 400 ms
  gating blocks are built from four hops.
* true peak: 4x oversampling with a 49-tap windowed-sinc interpolator (BS.1770 Annex 2
  uses 48 taps; ours is a Nyquist filter, so phase 0 is the signal itself). Between
  two samples the interpolated value is bounded by the phase filter's absolute sum
  times the local sample peak, so only the samples where that bound could beat the
  best peak found so far are interpolated — exactly the same answer as interpolating
  everything, at a small fraction of the cost.
* limiter: pedalboard's ``BrickwallLimiter`` (look-ahead, no make-up gain) on sample
  peaks, streamed in blocks; its ceiling sits under the true-peak ceiling, and any
  inter-sample overshoot left is trimmed with a static gain after measuring. (Its own
  4x true-peak sidechain costs 9x as much as the rest of it and still needs the check.)
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np
import pedalboard
import pyloudnorm
from scipy.signal import firwin, sosfilt

from sideman.errors import InvalidField

__all__ = ["Mastered", "master", "measure_loudness_lufs", "measure_true_peak_dbtp"]

logger = logging.getLogger(__name__)

#: the limiter's sample-peak ceiling sits this far under the requested true-peak ceiling
_LIMITER_MARGIN_DB = 0.5
_LIMITER_RELEASE_MS = 80.0
_LIMITER_LOOKAHEAD_MS = 5.0
#: a true peak closer than this to the ceiling is trimmed under it (float32 rounding)
_TRIM_MARGIN_DB = 0.1
#: another gain + limit pass when the limiter moved loudness more than this, up to
#: _PASSES passes in all
_LOUDNESS_TOLERANCE_LU = 0.3
_PASSES = 3
#: BS.1770 gating: 400 ms blocks stepped by 100 ms, absolute gate, relative gate
_HOP_SECONDS = 0.1
_HOPS_PER_BLOCK = 4
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
#: samples processed at a time (a multiple of nothing in particular: state is carried)
_BLOCK_SAMPLES = 1 << 18
#: true-peak interpolator: 4x, 12 taps per phase
_OVERSAMPLING = 4
_TAPS_PER_PHASE = 12
#: true peak: samples per chunk of the skip-what-cannot-win search, and chunks per batch
_TRUE_PEAK_CHUNK = 4096
_TRUE_PEAK_BATCH = 16


@dataclass(frozen=True)
class Mastered:
    """A mastered signal.

    audio: np.ndarray [shape=(n, 2), dtype=float32], all samples within [-1, 1].
    loudness_lufs: integrated loudness (BS.1770-4), -inf for silence.
    true_peak_dbtp: 4x-oversampled peak, dBTP, -inf for silence.
    """

    audio: np.ndarray
    loudness_lufs: float
    true_peak_dbtp: float


def master(
    audio: np.ndarray,
    *,
    sample_rate_hz: int,
    target_loudness_lufs: float = -14.0,
    true_peak_ceiling_dbtp: float = -1.0,
    loudness_lufs: float | None = None,
    in_place: bool = False,
) -> Mastered:
    """Bring a mix to a loudness target under a true-peak ceiling.

    Parameters
    ----------
    audio : np.ndarray [shape=(n, 2) or (n,)], float; a mono input is returned stereo.
    sample_rate_hz : its sample rate.
    target_loudness_lufs : integrated loudness to reach (streaming: -14).
    true_peak_ceiling_dbtp : the true peak may not exceed this.
    loudness_lufs : the input's integrated loudness when the caller already knows it
        (saves one measurement); None to measure.
    in_place : reuse `audio`'s memory for the result (it must then be a C-contiguous
        float32 (n, 2) array the caller no longer needs).

    Returns
    -------
    Mastered, within ±0.5 LU of the target on ordinary music (a signal with a very
    high crest factor may end below it: the ceiling wins). Silence, or audio too
    short to measure (< 0.4 s), comes back unchanged in level.

    Raises
    ------
    InvalidField
        if the audio is not (n,) or (n, 2), or holds NaN/inf.

    Examples
    --------
    >>> out = master(mix.song_premaster, sample_rate_hz=44100)
    >>> round(out.loudness_lufs)
    -14
    """
    stereo = _as_stereo(audio)
    if not in_place or stereo is not audio:
        stereo = stereo.copy()
    loudness = (
        measure_loudness_lufs(stereo, sample_rate_hz=sample_rate_hz)
        if loudness_lufs is None
        else loudness_lufs
    )
    if not math.isfinite(loudness):
        logger.info("master: nothing to measure (silent or < 0.4 s); returned as is")
        return Mastered(
            stereo, loudness, measure_true_peak_dbtp(stereo, sample_rate_hz=sample_rate_hz)
        )
    peak = -math.inf
    margin_db = _LIMITER_MARGIN_DB
    for attempt in range(_PASSES):
        _scale(stereo, target_loudness_lufs - loudness)
        peak, trimmed_db = _limit(stereo, sample_rate_hz=sample_rate_hz, ceiling_dbtp=true_peak_ceiling_dbtp,
                                  margin_db=margin_db)
        # bright transients overshoot between samples: the next pass limits that much lower
        # instead of trimming the whole master down again (which kept it under its target)
        margin_db += trimmed_db
        loudness = measure_loudness_lufs(stereo, sample_rate_hz=sample_rate_hz)
        moved = target_loudness_lufs - loudness
        logger.debug("master pass %d: %.2f LUFS (%.2f LU off target)", attempt, loudness, moved)
        if abs(moved) <= _LOUDNESS_TOLERANCE_LU:
            break
    return Mastered(stereo, loudness, peak)


def measure_loudness_lufs(audio: np.ndarray, *, sample_rate_hz: int) -> float:
    """Integrated loudness, LUFS (BS.1770-4, pyloudnorm's filters); -inf when silent or
    shorter than one 0.4 s gating block. audio: np.ndarray [shape=(n,) or (n, channels)],
    channel weights 1 (stereo). Works in blocks: memory stays flat for long signals."""
    hop = round(_HOP_SECONDS * sample_rate_hz)
    n = audio.shape[0]
    if n < hop * _HOPS_PER_BLOCK + 1 or not np.any(audio):
        return -math.inf
    hop_power = k_weighted_hop_power(audio, sample_rate_hz=sample_rate_hz)
    return _gated_loudness(hop_power, hop_samples=hop)


def k_weighted_hop_power(audio: np.ndarray, *, sample_rate_hz: int) -> np.ndarray:
    """Sum over channels of the K-weighted squared signal, summed per 100 ms hop:
    np.ndarray [shape=(n // hop,), dtype=float64]. The building block of
    `measure_loudness_lufs`; hop powers of two signals on one clock add up when the
    signals are uncorrelated, and scale by g² with a gain g."""
    audio = np.asarray(audio)
    channels = audio[:, None] if audio.ndim == 1 else audio
    hop = round(_HOP_SECONDS * sample_rate_hz)
    sos = _k_weighting_sos(int(sample_rate_hz))
    n_hops = channels.shape[0] // hop
    out = np.zeros(n_hops, dtype=np.float64)
    zi = np.zeros((sos.shape[0], channels.shape[1], 2), dtype=np.float64)
    block = max(hop, (_BLOCK_SAMPLES // hop) * hop)
    for start in range(0, n_hops * hop, block):
        stop = min(start + block, n_hops * hop)
        # channel-major float64 rows: the layout sosfilt runs fastest on
        chunk = np.empty((channels.shape[1], stop - start), dtype=np.float64)
        for c in range(channels.shape[1]):
            chunk[c] = channels[start:stop, c]
        filtered, zi = sosfilt(sos, chunk, axis=1, zi=zi)
        filtered *= filtered
        out[start // hop : stop // hop] = filtered.sum(axis=0).reshape(-1, hop).sum(axis=1)
    return out


def measure_true_peak_dbtp(audio: np.ndarray, *, sample_rate_hz: int) -> float:
    """True peak, dBTP: the largest magnitude of the 4x-oversampled signal (BS.1770
    Annex 2 style, 12 taps per phase). -inf for silence.
    audio: np.ndarray [shape=(n,) or (n, channels)]; sample_rate_hz is kept for the
    interface (4x is used at any rate)."""
    del sample_rate_hz
    audio = np.asarray(audio)
    if audio.size == 0:
        return -math.inf
    channels = audio[:, None] if audio.ndim == 1 else audio
    phases, bound = _interpolator()
    half = _TAPS_PER_PHASE // 2
    n, size = channels.shape[0], _TRUE_PEAK_CHUNK
    # sample peaks per chunk; the loudest chunks first, so that the rest can be skipped
    n_chunks = -(-n // size)
    per_chunk = np.zeros((n_chunks, channels.shape[1]), dtype=np.float64)  # (chunks, channels)
    block = (_BLOCK_SAMPLES // size) * size
    for start in range(0, n, block):
        for c in range(channels.shape[1]):
            magnitude = np.abs(np.asarray(channels[start : start + block, c], dtype=np.float32))
            whole = (len(magnitude) // size) * size
            first = start // size
            per_chunk[first : first + whole // size, c] = magnitude[:whole].reshape(-1, size).max(axis=1)
            if whole < len(magnitude):
                per_chunk[first + whole // size, c] = magnitude[whole:].max()
    peak = float(per_chunk.max())
    if peak <= 0.0:
        return -math.inf
    # an interpolated value is at most `bound` x the largest sample within 6 of it
    neighbourhood = per_chunk.copy()
    neighbourhood[1:] = np.maximum(neighbourhood[1:], per_chunk[:-1])
    neighbourhood[:-1] = np.maximum(neighbourhood[:-1], per_chunk[1:])
    order = np.argsort(neighbourhood, axis=None)[::-1]
    segment = size + _TAPS_PER_PHASE - 1  # a chunk and the samples its interpolation reads
    for first in range(0, len(order), _TRUE_PEAK_BATCH):
        # a batch of the loudest chunks left at a time (after limiting, nearly every chunk
        # may hold the peak: one chunk per numpy call cost more in calls than in work)
        batch = [divmod(int(flat), channels.shape[1]) for flat in order[first : first + _TRUE_PEAK_BATCH]]
        batch = [(i, c) for i, c in batch if neighbourhood[i, c] * bound > peak]
        if not batch:
            break
        padded = np.zeros((len(batch), segment), dtype=np.float32)
        for row, (i, c) in enumerate(batch):
            lo = i * size - half + 1
            x = channels[max(lo, 0) : min(lo + segment, n), c]
            padded[row, max(-lo, 0) : max(-lo, 0) + len(x)] = x
        peak = max(peak, _interpolated_peak(padded, phases, size))
    return 20.0 * math.log10(peak)


def _interpolated_peak(padded: np.ndarray, phases: np.ndarray, size: int) -> float:
    """The largest |value| at the three in-between points of `size` samples per row of
    `padded` [shape=(rows, size + taps - 1)]: one multiply-add per tap. Not a matrix
    product: OpenBLAS serializes the small products of two threads (measured: the two
    masters of a variation took as long side by side as one after the other)."""
    peak = 0.0
    value = np.empty((padded.shape[0], size), dtype=np.float32)
    term = np.empty_like(value)
    for p in range(phases.shape[1]):
        np.multiply(padded[:, :size], phases[0, p], out=value)
        for k in range(1, _TAPS_PER_PHASE):
            np.multiply(padded[:, k : k + size], phases[k, p], out=term)
            value += term
        peak = max(peak, float(np.abs(value, out=value).max()))
    return peak


def _gated_loudness(hop_power: np.ndarray, *, hop_samples: int) -> float:
    """BS.1770 gating over 400 ms blocks made of four 100 ms hops of summed power."""
    if len(hop_power) < _HOPS_PER_BLOCK:
        return -math.inf
    block_power = np.convolve(hop_power, np.ones(_HOPS_PER_BLOCK), mode="valid")
    block_power /= _HOPS_PER_BLOCK * hop_samples  # channel-summed mean squares
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(block_power)
    above = block_lufs >= _ABSOLUTE_GATE_LUFS
    if not np.any(above):
        return -math.inf
    relative = -0.691 + 10.0 * math.log10(float(block_power[above].mean())) + _RELATIVE_GATE_LU
    gated = block_power[above & (block_lufs > relative)]
    if gated.size == 0:
        return -math.inf
    return -0.691 + 10.0 * math.log10(float(gated.mean()))


@functools.lru_cache(maxsize=8)
def _k_weighting_sos(sample_rate_hz: int) -> np.ndarray:
    """pyloudnorm's two K-weighting stages at this rate, as second-order sections."""
    meter = pyloudnorm.Meter(sample_rate_hz)
    sections = []
    for stage in ("high_shelf", "high_pass"):
        f = meter._filters[stage]
        b = np.asarray(f.b, dtype=np.float64) * f.passband_gain
        a = np.asarray(f.a, dtype=np.float64)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    return np.array(sections)


@functools.lru_cache(maxsize=1)
def _interpolator() -> tuple[np.ndarray, float]:
    """Phases 1..3 of the 4x interpolator as a (12, 3) float32 matrix (row k = weight of
    sample m-5+k, for the points m+1/4, m+2/4, m+3/4) and the largest absolute tap sum."""
    taps = _OVERSAMPLING * _TAPS_PER_PHASE + 1
    h = firwin(taps, 1.0 / _OVERSAMPLING, window=("kaiser", 8.0)) * _OVERSAMPLING
    centre = taps // 2
    half = _TAPS_PER_PHASE // 2
    matrix = np.zeros((_TAPS_PER_PHASE, _OVERSAMPLING - 1), dtype=np.float64)
    for p in range(1, _OVERSAMPLING):
        # u(m + p/4) = sum_k x[m - k] h[centre + 4k + p]; window row r holds x[m - half + 1 + r]
        for r in range(_TAPS_PER_PHASE):
            k = half - 1 - r
            idx = centre + _OVERSAMPLING * k + p
            if 0 <= idx < taps:
                matrix[r, p - 1] = h[idx]
    bound = float(np.abs(matrix).sum(axis=0).max())
    return matrix.astype(np.float32), max(bound, 1.0)


def _limit(audio: np.ndarray, *, sample_rate_hz: int, ceiling_dbtp: float,
           margin_db: float = _LIMITER_MARGIN_DB) -> tuple[float, float]:
    """Look-ahead brickwall limiting to `margin_db` under the ceiling (sample peaks), in
    place and in blocks, then a static trim if the measured true peak still passes the
    ceiling. Clips to [-1, 1]. Returns (the true peak, dBTP; the trim, dB >= 0)."""
    limiter = pedalboard.BrickwallLimiter(
        ceiling_db=ceiling_dbtp - margin_db,
        release_ms=_LIMITER_RELEASE_MS,
        lookahead_ms=_LIMITER_LOOKAHEAD_MS,
        true_peak=False,
    )
    n = audio.shape[0]
    written = 0
    rate = float(sample_rate_hz)
    for start in range(0, n, _BLOCK_SAMPLES):
        part = audio[start : start + _BLOCK_SAMPLES]
        out = limiter.process(np.stack([part[:, 0], part[:, 1]]), rate, reset=False)
        written = _put(audio, out, written)
    while written < n:  # flush the look-ahead with silence
        out = limiter.process(np.zeros((2, 4096), np.float32), rate, reset=False)
        written = _put(audio, out, written)
    peak = measure_true_peak_dbtp(audio, sample_rate_hz=sample_rate_hz)
    trim_db = 0.0
    if peak > ceiling_dbtp - _TRIM_MARGIN_DB:
        trim_db = ceiling_dbtp - _TRIM_MARGIN_DB - peak
        logger.debug("limiter overshot by %.2f dB; trimmed", -trim_db)
        _scale(audio, trim_db)
        peak += trim_db
    np.clip(audio, -1.0, 1.0, out=audio)
    return peak, -trim_db


def _put(audio: np.ndarray, planar: np.ndarray, written: int) -> int:
    """Copy planar (2, k) output into audio (n, 2) from frame `written`; the new count."""
    take = min(planar.shape[1], audio.shape[0] - written)
    audio[written : written + take, 0] = planar[0, :take]
    audio[written : written + take, 1] = planar[1, :take]
    return written + take


def _scale(audio: np.ndarray, gain_db: float) -> None:
    """In place, in blocks (no float64 temporary)."""
    gain = np.float32(10.0 ** (gain_db / 20.0))
    for start in range(0, audio.shape[0], _BLOCK_SAMPLES):
        audio[start : start + _BLOCK_SAMPLES] *= gain


def _as_stereo(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = np.repeat(audio[:, None], 2, axis=1)
    if audio.ndim != 2 or audio.shape[1] != 2:
        raise InvalidField(
            f"audio must have shape (n,) or (n, 2), got {audio.shape}",
            param="audio",
            value=audio.shape,
        )
    if not math.isfinite(float(np.sum(audio, dtype=np.float64))):
        raise InvalidField("audio holds NaN or inf samples", param="audio")
    return np.ascontiguousarray(audio, dtype=np.float32)
