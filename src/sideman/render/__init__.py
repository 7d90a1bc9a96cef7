"""Render: a Score -> stems (SoundFont synthesis) -> mix (loudness targets, filters,
width, pan, a room, bus compression, ducking and a produced voice) -> masters (loudness target, true-peak ceiling)
-> files (WAV, MP3).

`render_variation` runs the whole stage for one arrangement; the steps are public for
callers that need one of them.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

from sideman.errors import InvalidField
from sideman.music.model import Score
from sideman.render.encode import encode_mp3, write_wav
from sideman.render.master import (
    Mastered,
    master,
    measure_loudness_lufs,
    measure_true_peak_dbtp,
)
from sideman.render.mix import REVERB_STEM, Mix, mix, pan_gains
from sideman.render.soundfonts import SoundFont, SoundFontNotFound, find_soundfont
from sideman.render.spool import SpooledAudio
from sideman.render.synth import render_stems, render_track

__all__ = [
    "Mastered",
    "Mix",
    "REVERB_STEM",
    "RenderedVariation",
    "assemble",
    "SoundFont",
    "SoundFontNotFound",
    "SpooledAudio",
    "encode_mp3",
    "find_soundfont",
    "master",
    "master_instrumental",
    "master_song",
    "measure_loudness_lufs",
    "measure_true_peak_dbtp",
    "mix",
    "mix_variation",
    "pan_gains",
    "render_stems",
    "render_track",
    "render_variation",
    "write_wav",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedVariation:
    """One arrangement rendered. Arrays are [shape=(n, 2), dtype=float32], sample 0 =
    score time `origin_seconds` of the call.

    stems: role -> pre-master stem (mixed: gain, pan, bus compression), plus the shared
        reverb's return as the stem "reverb"; they sum to `instrumental_premaster`.
        For long inputs both are `SpooledAudio` (on disk; ``np.asarray`` reads one).
    instrumental: the mastered accompaniment; song: the mastered voice + accompaniment.
    *_loudness_lufs: integrated loudness (BS.1770) of the masters; *_true_peak_dbtp:
        their 4x-oversampled true peaks.
    vocal_to_band_db: the produced voice over the band in sung windows (None without a
        voice, or for a long input, where it is not measured).
    """

    sample_rate_hz: int
    stems: dict[str, np.ndarray | SpooledAudio]
    instrumental_premaster: np.ndarray | SpooledAudio
    instrumental: np.ndarray
    song: np.ndarray
    instrumental_loudness_lufs: float
    instrumental_true_peak_dbtp: float
    song_loudness_lufs: float
    song_true_peak_dbtp: float
    soundfont: SoundFont
    vocal_to_band_db: float | None = None


def render_variation(
    score: Score,
    *,
    voice: np.ndarray | None,
    voice_sample_rate_hz: int,
    soundfont: SoundFont,
    sample_rate_hz: int = 44100,
    origin_seconds: float,
    duration_seconds: float,
    duck_depth_db: float = 3.0,
    target_loudness_lufs: float = -14.0,
    true_peak_ceiling_dbtp: float = -1.0,
) -> RenderedVariation:
    """Synthesize, mix and master one arrangement, with and without the voice.

    Parameters
    ----------
    score : the arrangement.
    voice : np.ndarray [shape=(m,)], mono float32; sample 0 is score time 0. None for
        an instrumental only (the song is then the instrumental, mastered).
    voice_sample_rate_hz : the voice's rate; resampled (polyphase) if it differs.
    soundfont : from `find_soundfont`.
    sample_rate_hz : output rate.
    origin_seconds : score time of output sample 0 (<= 0 when an intro precedes the voice).
    duration_seconds : output length.
    duck_depth_db : accompaniment reduction under the voice in the song.
    target_loudness_lufs, true_peak_ceiling_dbtp : the mastering targets for both masters.

    Returns
    -------
    RenderedVariation

    Raises
    ------
    InvalidField
        on a bad rate, duration, or voice shape.

    Examples
    --------
    >>> out = render_variation(score, voice=voice, voice_sample_rate_hz=16000,
    ...                        soundfont=find_soundfont(), origin_seconds=-2.0,
    ...                        duration_seconds=score.end_seconds + 4.0)
    >>> out.song.shape[1]
    2
    """
    t0 = time.perf_counter()
    stems = render_stems(
        score,
        soundfont=soundfont,
        sample_rate_hz=sample_rate_hz,
        origin_seconds=origin_seconds,
        duration_seconds=duration_seconds,
    )
    t1 = time.perf_counter()
    mixed = mix_variation(
        stems,
        score=score,
        voice=voice,
        voice_sample_rate_hz=voice_sample_rate_hz,
        sample_rate_hz=sample_rate_hz,
        origin_seconds=origin_seconds,
        duck_depth_db=duck_depth_db,
    )
    del stems
    t2 = time.perf_counter()
    targets = {
        "target_loudness_lufs": target_loudness_lufs,
        "true_peak_ceiling_dbtp": true_peak_ceiling_dbtp,
    }
    instrumental = master_instrumental(mixed, sample_rate_hz=sample_rate_hz, **targets)
    song = (
        master_song(mixed, sample_rate_hz=sample_rate_hz, **targets)
        if voice is not None
        else instrumental
    )
    t3 = time.perf_counter()
    logger.info(
        "rendered %.1f s: synth %.2f s, mix %.2f s, master %.2f s",
        duration_seconds,
        t1 - t0,
        t2 - t1,
        t3 - t2,
    )
    return assemble(mixed, instrumental=instrumental, song=song, soundfont=soundfont,
                    sample_rate_hz=sample_rate_hz)


def mix_variation(
    stems: dict[str, np.ndarray],
    *,
    score: Score,
    voice: np.ndarray | None,
    voice_sample_rate_hz: int,
    sample_rate_hz: int,
    origin_seconds: float,
    duck_depth_db: float,
) -> Mix:
    """The mix step of `render_variation` (same parameters): consumes `stems` (the dict
    is emptied and its arrays are reused), resamples the voice if needed."""
    resampled = (
        None
        if voice is None
        else _resample(voice, from_hz=voice_sample_rate_hz, to_hz=sample_rate_hz)
    )
    return mix(
        stems,
        consume_stems=True,
        tracks=score.tracks,
        voice=resampled,
        sample_rate_hz=sample_rate_hz,
        voice_offset_samples=round(-origin_seconds * sample_rate_hz),
        duck_depth_db=duck_depth_db,
        reverb_room_size=score.reverb_room_size,
        featured_role=score.featured_role,
        genre=score.genre,
        stereo_width=score.stereo_width,
        tempo_bpm=score.grid.tempo_bpm,
    )


def master_instrumental(mixed: Mix, *, sample_rate_hz: int, **targets: float) -> Mastered:
    """The instrumental master (a new array; the pre-master stays for the stems' check).
    targets: target_loudness_lufs, true_peak_ceiling_dbtp as for `master`."""
    premaster = mixed.instrumental_premaster
    spooled = isinstance(premaster, SpooledAudio)
    return master(
        np.asarray(premaster),  # a spooled one is read back into a copy of our own
        sample_rate_hz=sample_rate_hz,
        loudness_lufs=mixed.instrumental_loudness_lufs,
        in_place=spooled,
        **targets,
    )


def master_song(mixed: Mix, *, sample_rate_hz: int, **targets: float) -> Mastered:
    """The song master, made in the song pre-master's memory (it is not kept)."""
    return master(mixed.song_premaster, sample_rate_hz=sample_rate_hz, in_place=True, **targets)


def assemble(
    mixed: Mix, *, instrumental: Mastered, song: Mastered, soundfont: SoundFont, sample_rate_hz: int
) -> RenderedVariation:
    """The RenderedVariation of a mix and its two masters."""
    logger.info(
        "masters: instrumental %.1f LUFS %.1f dBTP, song %.1f LUFS %.1f dBTP",
        instrumental.loudness_lufs,
        instrumental.true_peak_dbtp,
        song.loudness_lufs,
        song.true_peak_dbtp,
    )
    return RenderedVariation(
        sample_rate_hz=sample_rate_hz,
        stems=mixed.stems,
        instrumental_premaster=mixed.instrumental_premaster,
        instrumental=instrumental.audio,
        song=song.audio,
        instrumental_loudness_lufs=instrumental.loudness_lufs,
        instrumental_true_peak_dbtp=instrumental.true_peak_dbtp,
        song_loudness_lufs=song.loudness_lufs,
        song_true_peak_dbtp=song.true_peak_dbtp,
        soundfont=soundfont,
        vocal_to_band_db=mixed.vocal_to_band_db,
    )


def _resample(voice: np.ndarray, *, from_hz: int, to_hz: int) -> np.ndarray:
    """Mono voice from one rate to another (polyphase FIR), float32 (m',)."""
    voice = np.asarray(voice, dtype=np.float32)
    if voice.ndim != 1:
        raise InvalidField(
            f"voice must be mono (m,), got {voice.shape}", param="voice", value=voice.shape
        )
    if from_hz <= 0:
        raise InvalidField(
            f"voice_sample_rate_hz {from_hz} must be > 0",
            param="voice_sample_rate_hz",
            value=from_hz,
        )
    if from_hz == to_hz:
        return voice
    g = math.gcd(int(from_hz), int(to_hz))
    return resample_poly(voice, int(to_hz) // g, int(from_hz) // g).astype(np.float32)
