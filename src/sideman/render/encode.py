"""Write the mastered audio: PCM WAV (16 or 24 bit) and MP3 (LAME through PyAV's
bundled FFmpeg). Input is float32 [shape=(n, 2)] within [-1, 1]; the files are stereo
at the given rate (44.1 kHz in the pipeline)."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import av
import numpy as np

from sideman.errors import InvalidField

__all__ = ["encode_mp3", "write_wav"]

logger = logging.getLogger(__name__)

#: samples per MP3 frame (MPEG-1 Layer III)
_MP3_FRAME_SAMPLES = 1152
#: the bit rates LAME writes as CBR, kbps
_MP3_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


def write_wav(path: Path | str, audio: np.ndarray, *, sample_rate_hz: int, bits: int = 16) -> Path:
    """Write a stereo PCM WAV file.

    Parameters
    ----------
    path : where to write (overwritten).
    audio : np.ndarray [shape=(n, 2)], float in [-1, 1]; values beyond are clipped.
    sample_rate_hz : the file's sample rate.
    bits : 16 or 24 (signed little-endian PCM); rounded, not dithered.

    Returns
    -------
    Path of the file written; it holds exactly n frames.

    Raises
    ------
    InvalidField
        if bits is not 16 or 24, or audio is not (n, 2).

    Examples
    --------
    >>> write_wav("song.wav", mastered.audio, sample_rate_hz=44100, bits=24)
    PosixPath('song.wav')
    """
    if bits not in (16, 24):
        raise InvalidField(f"bits must be 16 or 24, got {bits}", param="bits", value=bits)
    stereo = _check_stereo(audio)
    full_scale = float(2 ** (bits - 1) - 1)
    ints = np.round(np.clip(stereo, -1.0, 1.0) * full_scale).astype("<i4")
    if bits == 16:
        data = ints.astype("<i2").tobytes()
    else:  # the low three bytes of each little-endian int32
        data = ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()
    path = Path(path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(bits // 8)
        out.setframerate(int(sample_rate_hz))
        out.writeframes(data)
    logger.debug("wrote %s (%d frames, %d bit)", path, len(stereo), bits)
    return path


def encode_mp3(
    path: Path | str, audio: np.ndarray, *, sample_rate_hz: int, bitrate_kbps: int = 192
) -> Path:
    """Encode a stereo MP3 (constant bit rate, LAME via PyAV).

    Parameters
    ----------
    path : where to write (overwritten).
    audio : np.ndarray [shape=(n, 2)], float in [-1, 1].
    sample_rate_hz : 32000, 44100 or 48000 (MPEG-1 rates).
    bitrate_kbps : one of the MPEG-1 Layer III rates, 32..320.

    Returns
    -------
    Path of the file written. LAME's Info header records the encoder delay and
    padding, so FFmpeg-based decoders give back n samples (± a frame's rounding).

    Raises
    ------
    InvalidField
        if the rate or bit rate is not one MPEG-1 Layer III allows, or audio is not (n, 2).

    Examples
    --------
    >>> encode_mp3("song.mp3", mastered.audio, sample_rate_hz=44100)
    PosixPath('song.mp3')
    """
    if bitrate_kbps not in _MP3_BITRATES_KBPS:
        raise InvalidField(
            f"bitrate_kbps {bitrate_kbps} is not an MP3 bit rate {_MP3_BITRATES_KBPS}",
            param="bitrate_kbps",
            value=bitrate_kbps,
        )
    if sample_rate_hz not in (32000, 44100, 48000):
        raise InvalidField(
            f"sample_rate_hz {sample_rate_hz} is not an MP3 rate (32000, 44100, 48000)",
            param="sample_rate_hz",
            value=sample_rate_hz,
        )
    planar = np.ascontiguousarray(np.clip(_check_stereo(audio), -1.0, 1.0).T)
    path = Path(path)
    with av.open(str(path), mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=int(sample_rate_hz))
        stream.bit_rate = bitrate_kbps * 1000
        stream.layout = "stereo"
        stream.format = "fltp"
        for start in range(0, planar.shape[1], _MP3_FRAME_SAMPLES * 64):
            block = np.ascontiguousarray(planar[:, start : start + _MP3_FRAME_SAMPLES * 64])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate = int(sample_rate_hz)
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    logger.debug("wrote %s (%d frames, %d kbps)", path, planar.shape[1], bitrate_kbps)
    return path


def _check_stereo(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[1] != 2:
        raise InvalidField(
            f"audio must have shape (n, 2), got {audio.shape}", param="audio", value=audio.shape
        )
    return audio
