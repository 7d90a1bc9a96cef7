"""Mastering: gain to a loudness target (ITU-R BS.1770 via pyloudnorm), then a
true-peak-safe brickwall limiter.

pedalboard's ``Limiter`` (JUCE) adds make-up gain and hard-clips at 0 dBFS, so it is not
used; this pedalboard has ``BrickwallLimiter`` (look-ahead, no make-up gain, 4x
oversampled true-peak sidechain), which is. Its ceiling is set a little under the
target because its oversampled detector does not guarantee the reconstructed peak;
the true peak is then measured (4x oversampling, scipy ``resample_poly``) and any
remaining overshoot is trimmed with a static gain.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pedalboard
import pyloudnorm
from scipy.signal import resample_poly

from sideman.errors import InvalidField

__all__ = ["Mastered", "master", "measure_loudness_lufs", "measure_true_peak_dbtp"]

logger = logging.getLogger(__name__)

#: the limiter's ceiling sits this far under the requested true-peak ceiling
_LIMITER_MARGIN_DB = 0.3
_LIMITER_RELEASE_MS = 80.0
#: a true peak closer than this to the ceiling is trimmed under it (float32 rounding)
_TRIM_MARGIN_DB = 0.05
_LIMITER_LOOKAHEAD_MS = 5.0
#: a second gain + limit pass when the limiter moved loudness more than this
_LOUDNESS_TOLERANCE_LU = 0.3
#: BS.1770 gating block
_BLOCK_SECONDS = 0.4


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
) -> Mastered:
    """Bring a mix to a loudness target under a true-peak ceiling.

    Parameters
    ----------
    audio : np.ndarray [shape=(n, 2) or (n,)], float; a mono input is returned stereo.
    sample_rate_hz : its sample rate.
    target_loudness_lufs : integrated loudness to reach (streaming: -14).
    true_peak_ceiling_dbtp : the true peak may not exceed this.

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
    loudness = measure_loudness_lufs(stereo, sample_rate_hz=sample_rate_hz)
    if not math.isfinite(loudness):
        logger.info("master: nothing to measure (silent or < 0.4 s); returned as is")
        return Mastered(
            stereo, loudness, measure_true_peak_dbtp(stereo, sample_rate_hz=sample_rate_hz)
        )
    out, peak = stereo, -math.inf
    for attempt in range(2):
        out = _gain_db(out, target_loudness_lufs - loudness)
        out, peak = _limit(out, sample_rate_hz=sample_rate_hz, ceiling_dbtp=true_peak_ceiling_dbtp)
        loudness = measure_loudness_lufs(out, sample_rate_hz=sample_rate_hz)
        moved = target_loudness_lufs - loudness
        logger.debug("master pass %d: %.2f LUFS (%.2f LU off target)", attempt, loudness, moved)
        if abs(moved) <= _LOUDNESS_TOLERANCE_LU:
            break
    return Mastered(out, loudness, peak)


def measure_loudness_lufs(audio: np.ndarray, *, sample_rate_hz: int) -> float:
    """Integrated loudness, LUFS (BS.1770-4, pyloudnorm); -inf when silent or shorter
    than one 0.4 s gating block. audio: np.ndarray [shape=(n,) or (n, channels)]."""
    if audio.shape[0] < round(_BLOCK_SECONDS * sample_rate_hz) + 1 or not np.any(audio):
        return -math.inf
    meter = pyloudnorm.Meter(sample_rate_hz)
    value = float(meter.integrated_loudness(np.asarray(audio, dtype=np.float64)))
    return value if math.isfinite(value) else -math.inf


def measure_true_peak_dbtp(audio: np.ndarray, *, sample_rate_hz: int) -> float:
    """True peak, dBTP: the largest magnitude of the 4x-oversampled signal (BS.1770
    Annex 2 style, polyphase FIR from scipy). -inf for silence.
    audio: np.ndarray [shape=(n,) or (n, channels)]; sample_rate_hz is kept for the
    interface (4x is used at any rate)."""
    del sample_rate_hz
    if audio.size == 0 or not np.any(audio):
        return -math.inf
    # channel-major float32 is the fast layout for upfirdn
    channels = np.ascontiguousarray(np.atleast_2d(np.asarray(audio, dtype=np.float32).T))
    peak = 0.0
    # in chunks with overlap, so that long signals do not allocate 4x at once
    chunk, pad = 1 << 20, 64
    n = channels.shape[1]
    for start in range(0, n, chunk):
        lo, hi = max(start - pad, 0), min(start + chunk + pad, n)
        up = resample_poly(channels[:, lo:hi], 4, 1, axis=1)
        core = up[:, 4 * (start - lo) : 4 * (min(start + chunk, n) - lo)]
        peak = max(peak, float(np.max(np.abs(core))))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _limit(
    audio: np.ndarray, *, sample_rate_hz: int, ceiling_dbtp: float
) -> tuple[np.ndarray, float]:
    """Look-ahead brickwall limiting to the ceiling, then a static trim if the measured
    true peak still passes it. Returns (float32 (n, 2) within [-1, 1], true peak dBTP)."""
    limiter = pedalboard.BrickwallLimiter(
        ceiling_db=ceiling_dbtp - _LIMITER_MARGIN_DB,
        release_ms=_LIMITER_RELEASE_MS,
        lookahead_ms=_LIMITER_LOOKAHEAD_MS,
        true_peak=True,
    )
    limited = limiter.process(np.ascontiguousarray(audio.T), float(sample_rate_hz)).T
    limited = np.ascontiguousarray(limited, dtype=np.float32)
    peak = measure_true_peak_dbtp(limited, sample_rate_hz=sample_rate_hz)
    if peak > ceiling_dbtp - _TRIM_MARGIN_DB:
        trim_db = ceiling_dbtp - _TRIM_MARGIN_DB - peak
        logger.debug("limiter overshot by %.2f dB; trimmed", -trim_db)
        limited, peak = _gain_db(limited, trim_db), peak + trim_db
    return np.clip(limited, -1.0, 1.0), peak


def _gain_db(audio: np.ndarray, gain_db: float) -> np.ndarray:
    return (audio * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32, copy=False)


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
    if not np.all(np.isfinite(audio)):
        raise InvalidField("audio holds NaN or inf samples", param="audio")
    return np.ascontiguousarray(audio, dtype=np.float32)
