"""Mix figures: how a band's stems balance, how its spectrum and stereo image sit, and
how loud the voice sits over it. The same figures on our renders and on real
multitrack stems, so that the two can be set side by side (`sideman eval --mix`).

* stem loudness: BS.1770 integrated loudness of each stem (LUFS);
* stem spread: loudest minus quietest of drums, bass and the featured instrument (LU);
* featured gap: the loudest stem minus the featured instrument (LU; <= 0 when it leads);
* spectrum shares: the band's power in 60-250 Hz and in 2-6 kHz over its whole power
  (dB; 0 dB would be all of it there);
* side/mid: the band's side power (L-R) over its mid power (L+R), dB (-inf for mono);
* vocal-to-band: the median over sung 400 ms windows of the voice's K-weighted level
  minus the band's (dB, channel powers summed as BS.1770 does): where the voice sits. A window is sung when the voice is within
  `SUNG_WITHIN_DB` of its loud level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sideman.errors import InvalidField
from sideman.render.master import k_weighted_hop_power, measure_loudness_lufs

__all__ = [
    "LOW_BAND_HZ",
    "MixFigures",
    "PRESENCE_BAND_HZ",
    "band_share_db",
    "measure_mix",
    "side_to_mid_db",
    "vocal_to_band_db",
    "vocal_to_band_from_hops",
]

#: the two spectrum bands the issue reads: low end (bass and kick body), presence
LOW_BAND_HZ = (60.0, 250.0)
PRESENCE_BAND_HZ = (2000.0, 6000.0)
#: sung windows: the voice within this many dB of its loud (90th percentile) level
SUNG_WITHIN_DB = 15.0
#: sung windows are four of the loudness meter's 100 ms hops
_HOPS_PER_WINDOW = 4
#: the roles whose loudness spread is read, besides the featured one
_CORE_ROLES = ("drums", "bass")
#: frames of the spectrum estimate (Welch-like, averaged power)
_FFT_SIZE = 8192


@dataclass(frozen=True)
class MixFigures:
    """One mix measured. Loudness in LUFS, differences in LU or dB (see module doc).

    stem_loudness_lufs: role -> integrated loudness (silent stems are left out).
    featured_role: the role read as the featured instrument (None: none sounded).
    stem_spread_lu: max - min loudness over drums, bass and the featured role present.
    featured_gap_lu: the loudest stem's loudness minus the featured role's.
    low_share_db, presence_share_db: band power shares, dB.
    side_to_mid_db: the band's side over mid power, dB.
    vocal_to_band_db: voice minus band level in sung windows (None without a voice).
    """

    stem_loudness_lufs: dict[str, float]
    featured_role: str | None
    stem_spread_lu: float
    featured_gap_lu: float
    low_share_db: float
    presence_share_db: float
    side_to_mid_db: float
    vocal_to_band_db: float | None

    def to_json(self) -> dict[str, object]:
        def r(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else round(float(v), 2)

        return {
            "stem_loudness_lufs": {k: r(v) for k, v in self.stem_loudness_lufs.items()},
            "featured_role": self.featured_role,
            "stem_spread_lu": r(self.stem_spread_lu),
            "featured_gap_lu": r(self.featured_gap_lu),
            "low_share_db": r(self.low_share_db),
            "presence_share_db": r(self.presence_share_db),
            "side_to_mid_db": r(self.side_to_mid_db),
            "vocal_to_band_db": r(self.vocal_to_band_db),
        }


def measure_mix(
    stems: Mapping[str, np.ndarray],
    *,
    sample_rate_hz: int,
    featured_role: str | None,
    band: np.ndarray | None = None,
    voice: np.ndarray | None = None,
) -> MixFigures:
    """The figures of one mix.

    Parameters
    ----------
    stems : role -> np.ndarray [shape=(n,) or (n, 2)], the band's stems (a reverb
        return, if any, is not a player and is left out of the loudness figures).
    sample_rate_hz : their rate.
    featured_role : the tagged instrument's role; None reads the loudest non-core stem.
    band : np.ndarray [shape=(n, 2)], the band's sum (default: the stems summed).
    voice : np.ndarray [shape=(n,) or (n, 2)], the voice as it sounds in the song (on
        the band's clock), or None.

    Returns
    -------
    MixFigures

    Raises
    ------
    InvalidField
        if there are no stems.
    """
    if not stems:
        raise InvalidField("there are no stems to measure", param="stems", value=0)
    loudness = {}
    for role, stem in stems.items():
        if role == "reverb":
            continue
        value = measure_loudness_lufs(np.asarray(stem, dtype=np.float32), sample_rate_hz=sample_rate_hz)
        if math.isfinite(value) and value > -70.0:
            loudness[role] = value
    if featured_role not in loudness:
        others = {r: v for r, v in loudness.items() if r not in _CORE_ROLES}
        featured_role = max(others, key=others.__getitem__) if others else None
    core = [loudness[r] for r in (*_CORE_ROLES, featured_role) if r in loudness]
    spread = max(core) - min(core) if core else math.nan
    gap = max(loudness.values()) - loudness[featured_role] if featured_role else math.nan
    if band is None:
        band = sum(_stereo(s) for s in stems.values())
    band = _stereo(band)
    return MixFigures(
        stem_loudness_lufs=loudness,
        featured_role=featured_role,
        stem_spread_lu=spread,
        featured_gap_lu=gap,
        low_share_db=band_share_db(band, sample_rate_hz=sample_rate_hz, band_hz=LOW_BAND_HZ),
        presence_share_db=band_share_db(band, sample_rate_hz=sample_rate_hz, band_hz=PRESENCE_BAND_HZ),
        side_to_mid_db=side_to_mid_db(band),
        vocal_to_band_db=None if voice is None else vocal_to_band_db(voice, band, sample_rate_hz=sample_rate_hz),
    )


def band_share_db(audio: np.ndarray, *, sample_rate_hz: int, band_hz: tuple[float, float]) -> float:
    """The share of the signal's power within band_hz (low <= f < high), dB.
    audio: (n,) or (n, 2); stereo is read as its mid (L+R)/2. -inf for silence."""
    mono = _mono(audio)
    if len(mono) < _FFT_SIZE:
        mono = np.pad(mono, (0, _FFT_SIZE - len(mono)))
    frames = len(mono) // _FFT_SIZE
    window = np.hanning(_FFT_SIZE).astype(np.float32)
    power = np.zeros(_FFT_SIZE // 2 + 1)
    for i in range(frames):
        chunk = mono[i * _FFT_SIZE : (i + 1) * _FFT_SIZE] * window
        power += np.abs(np.fft.rfft(chunk)) ** 2
    freqs = np.fft.rfftfreq(_FFT_SIZE, 1.0 / sample_rate_hz)
    total = power[freqs >= 20.0].sum()
    if total <= 0:
        return -math.inf
    inside = power[(freqs >= band_hz[0]) & (freqs < band_hz[1])].sum()
    return 10.0 * math.log10(max(inside, 1e-30) / total)


def side_to_mid_db(audio: np.ndarray) -> float:
    """Side (L-R) power over mid (L+R) power, dB; -inf for a mono signal."""
    audio = _stereo(audio)
    left, right = audio[:, 0].astype(np.float64), audio[:, 1].astype(np.float64)
    mid = float(np.sum((left + right) ** 2))
    side = float(np.sum((left - right) ** 2))
    if mid <= 0:
        return -math.inf if side <= 0 else math.inf
    if side <= 0:
        return -math.inf
    return 10.0 * math.log10(side / mid)


def vocal_to_band_db(voice: np.ndarray, band: np.ndarray, *, sample_rate_hz: int) -> float:
    """Median over sung 400 ms windows of the voice's K-weighted level minus the band's,
    dB: a loudness difference as BS.1770 sums it (channel powers added; a mono voice
    sounds in both channels), not a power one that the bass would rule. nan when the
    voice never sings."""
    v, b = _stereo(voice), _stereo(band)
    n = min(len(v), len(b))
    return vocal_to_band_from_hops(k_weighted_hop_power(v[:n], sample_rate_hz=sample_rate_hz),
                                   k_weighted_hop_power(b[:n], sample_rate_hz=sample_rate_hz))


def vocal_to_band_from_hops(v_power: np.ndarray, b_power: np.ndarray) -> float:
    """`vocal_to_band_db` from the two signals' K-weighted powers per 100 ms hop
    (`sideman.render.master.k_weighted_hop_power`, channels summed)."""
    n = min(len(v_power), len(b_power))
    v_power, b_power = np.asarray(v_power[:n]), np.asarray(b_power[:n])
    frames = len(v_power) // _HOPS_PER_WINDOW
    if frames == 0:
        return math.nan
    cut = frames * _HOPS_PER_WINDOW
    v_db = 10 * np.log10(v_power[:cut].reshape(frames, -1).sum(axis=1) + 1e-12)
    b_db = 10 * np.log10(b_power[:cut].reshape(frames, -1).sum(axis=1) + 1e-12)
    loud = float(np.percentile(v_db, 90))
    sung = (v_db > loud - SUNG_WITHIN_DB) & (b_db > loud - 60.0)
    if not np.any(sung):
        return math.nan
    return float(np.median(v_db[sung] - b_db[sung]))


def _stereo(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return np.stack([audio, audio], axis=1)
    return audio


def _mono(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        return (audio[:, 0] + audio[:, 1]) * np.float32(0.5)
    return audio
