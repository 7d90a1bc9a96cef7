"""Write the mastered audio: PCM WAV (16 or 24 bit) and MP3 (LAME through PyAV's
bundled FFmpeg). Input is float32 [shape=(n, 2)] within [-1, 1]; the files are stereo
at the given rate (44.1 kHz in the pipeline). Both convert in blocks, so writing an
eight-minute song needs a few MB of scratch, not copies of the whole signal; PyAV
releases the GIL while LAME works, so encodes run in parallel threads.

MP3 quality: constant bit rate (192 kbps by default) at LAME quality 7 (``-q 7``, what
LAME's ``-f`` selects; FFmpeg's ``compression_level``). Measured on this machine for
64 s of stereo: FFmpeg's default (LAME's q 3) 4.1 s, q 5 2.8-3.3 s, q 7 2.0-2.4 s.
q 7 keeps LAME's psychoacoustic model and bit reservoir and drops only the noise-shaping
search of the quantiser; at 192 kbps CBR the bit pool is large enough that the search
buys little, while the encodes are half of the whole render budget (`make bench`).
Pass ``quality=2`` (LAME's recommended slow setting) where time does not matter.
"""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import av
import numpy as np

from sideman.errors import InvalidField

__all__ = ["MP3_QUALITY", "WavWriter", "encode_mp3", "write_wav"]

logger = logging.getLogger(__name__)

#: samples per MP3 frame (MPEG-1 Layer III)
_MP3_FRAME_SAMPLES = 1152
#: the bit rates LAME writes as CBR, kbps
_MP3_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
#: LAME's quality (0 best .. 9 fastest); see the module docstring for why 7
MP3_QUALITY = 7
#: frames converted at a time
_BLOCK_FRAMES = 1 << 16


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
    path = Path(path)
    with WavWriter(path, sample_rate_hz=sample_rate_hz, bits=bits) as out:
        for start in range(0, len(stereo), _BLOCK_FRAMES):
            out.write(stereo[start : start + _BLOCK_FRAMES])
    logger.debug("wrote %s (%d frames, %d bit)", path, len(stereo), bits)
    return path


class WavWriter:
    """A stereo PCM WAV file written block by block (a context manager).

    >>> with WavWriter("stem.wav", sample_rate_hz=44100, bits=24) as out:
    ...     out.write(block)  # np.ndarray [shape=(k, 2)], float in [-1, 1]
    """

    def __init__(self, path: Path | str, *, sample_rate_hz: int, bits: int = 16) -> None:
        if bits not in (16, 24):
            raise InvalidField(f"bits must be 16 or 24, got {bits}", param="bits", value=bits)
        self.bits = bits
        self._full_scale = np.float32(2 ** (bits - 1) - 1)
        self._file = wave.open(str(path), "wb")
        self._file.setnchannels(2)
        self._file.setsampwidth(bits // 8)
        self._file.setframerate(int(sample_rate_hz))

    def write(self, block: np.ndarray) -> None:
        """Append frames: np.ndarray [shape=(k, 2)], clipped to [-1, 1], rounded."""
        scaled = np.clip(_check_stereo(block), -1.0, 1.0)  # a new array: scaled in place
        scaled *= self._full_scale
        np.rint(scaled, out=scaled)
        ints = scaled.astype("<i4")
        if self.bits == 16:
            data = ints.astype("<i2").tobytes()
        else:  # the low three bytes of each little-endian int32, gathered in one copy
            data = np.ascontiguousarray(ints.reshape(-1, 1).view(np.uint8)[:, :3]).tobytes()
        self._file.writeframesraw(data)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode_mp3(
    path: Path | str,
    audio: np.ndarray,
    *,
    sample_rate_hz: int,
    bitrate_kbps: int = 192,
    quality: int = MP3_QUALITY,
) -> Path:
    """Encode a stereo MP3 (constant bit rate, LAME via PyAV).

    Parameters
    ----------
    path : where to write (overwritten).
    audio : np.ndarray [shape=(n, 2)], float in [-1, 1].
    sample_rate_hz : 32000, 44100 or 48000 (MPEG-1 rates).
    bitrate_kbps : one of the MPEG-1 Layer III rates, 32..320.
    quality : LAME's algorithm quality, 0 (best, slowest) .. 9 (fastest).

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
    if not 0 <= quality <= 9:
        raise InvalidField(f"quality {quality} is out of range [0, 9]", param="quality", value=quality)
    stereo = _check_stereo(audio)
    path = Path(path)
    with av.open(str(path), mode="w", format="mp3") as container:
        stream = container.add_stream(
            "libmp3lame", rate=int(sample_rate_hz), options={"compression_level": str(quality)}
        )
        stream.bit_rate = bitrate_kbps * 1000
        stream.layout = "stereo"
        stream.format = "fltp"
        for start in range(0, len(stereo), _MP3_FRAME_SAMPLES * 64):
            part = stereo[start : start + _MP3_FRAME_SAMPLES * 64]
            block = np.clip(np.stack([part[:, 0], part[:, 1]]), -1.0, 1.0)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate = int(sample_rate_hz)
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    logger.debug("wrote %s (%d frames, %d kbps, q %d)", path, len(stereo), bitrate_kbps, quality)
    return path


def _check_stereo(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[1] != 2:
        raise InvalidField(
            f"audio must have shape (n, 2), got {audio.shape}", param="audio", value=audio.shape
        )
    return audio
