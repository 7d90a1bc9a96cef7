"""Write the mastered audio: PCM WAV (16 or 24 bit) and MP3 (LAME through `lameenc`).
Input is float32 [shape=(n, 2)] within [-1, 1]; the files are stereo at the given rate
(44.1 kHz in the pipeline). Both convert in blocks, so writing an eight-minute song
needs a few MB of scratch, not copies of the whole signal; LAME runs outside the GIL,
so encodes run in parallel threads.

Why `lameenc` and not PyAV's libmp3lame: the same LAME 3.100 at the same settings,
measured on this machine for 64 s of stereo at q 7: PyAV 1.8-1.9 CPU-s, lameenc
0.32-0.46 CPU-s (its LAME is built with the optimised assembly paths; the wheel in
PyAV is not). The four MP3s of two variations were the largest single cost of a
render. lameenc returns bare MPEG frames, so `encode_mp3` writes the LAME "Info"
frame itself (frame count, byte count, seek table and the encoder delay/padding),
which lets FFmpeg, mpg123, browsers and DAWs trim the encoder's 576-sample delay and
the last frame's padding: the decoded file has exactly the input's n samples.

MP3 quality: constant bit rate (192 kbps by default) at LAME quality 7 (``-q 7``, what
LAME's ``-f`` selects). q 7 keeps LAME's psychoacoustic model and bit reservoir and
drops only the noise-shaping search of the quantiser; at 192 kbps CBR the bit pool is
large enough that the search buys little. Pass ``quality=2`` (LAME's recommended slow
setting, ~4x the time) where time does not matter.
"""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import lameenc
import numpy as np

from sideman.errors import InvalidField

__all__ = ["MP3_QUALITY", "WavWriter", "encode_mp3", "write_wav"]

logger = logging.getLogger(__name__)

#: samples per MP3 frame (MPEG-1 Layer III)
_MP3_FRAME_SAMPLES = 1152
#: the bit rates LAME writes as CBR, kbps
_MP3_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
#: the 4-bit bit-rate field of a frame header for each of those
_MP3_BITRATES_INDEX = {kbps: i + 1 for i, kbps in enumerate(_MP3_BITRATES_KBPS)}
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
        ints = scaled.astype("<i4").ravel()
        if self.bits == 16:
            data = ints.astype("<i2").tobytes()
        else:  # little-endian 24 bit: the three low bytes, one byte plane at a time
            # (twice as fast as gathering 3 of every 4 bytes of the int32 array)
            packed = np.empty((ints.size, 3), dtype=np.uint8)
            packed[:, 0] = ints
            packed[:, 1] = ints >> 8
            packed[:, 2] = ints >> 16
            data = packed.tobytes()
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
    """Encode a stereo MP3 (constant bit rate, LAME via lameenc).

    Parameters
    ----------
    path : where to write (overwritten).
    audio : np.ndarray [shape=(n, 2)], float in [-1, 1].
    sample_rate_hz : 32000, 44100 or 48000 (MPEG-1 rates).
    bitrate_kbps : one of the MPEG-1 Layer III rates, 32..320.
    quality : LAME's algorithm quality, 0 (best, slowest) .. 9 (fastest).

    Returns
    -------
    Path of the file written. Its LAME Info frame records the encoder delay and
    padding, so gapless decoders (FFmpeg, mpg123, browsers) give back exactly n samples.

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
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(int(sample_rate_hz))
    encoder.set_channels(2)
    encoder.set_quality(quality)
    frame_bytes = _cbr_frame_bytes(bitrate_kbps, sample_rate_hz)
    with open(path, "wb") as out:
        out.write(bytes(frame_bytes))  # room for the Info frame, written once the counts are known
        audio_bytes = 0
        for start in range(0, len(stereo), _MP3_FRAME_SAMPLES * 64):
            block = np.clip(stereo[start : start + _MP3_FRAME_SAMPLES * 64], -1.0, 1.0)
            block *= _INT16_FULL_SCALE
            audio_bytes += out.write(encoder.encode(np.rint(block).astype("<i2").tobytes()))
        audio_bytes += out.write(encoder.flush())
        out.seek(0)
        out.write(_info_frame(frame_bytes=frame_bytes, audio_bytes=audio_bytes, n_samples=len(stereo),
                              bitrate_kbps=bitrate_kbps, sample_rate_hz=sample_rate_hz))
    logger.debug("wrote %s (%d frames, %d kbps, q %d)", path, len(stereo), bitrate_kbps, quality)
    return path


#: LAME's encoder delay at 32-48 kHz (lame_get_encoder_delay), samples; decoders skip
#: it, plus their own 529-sample decoder delay, when the Info frame says so
_LAME_ENCODER_DELAY = 576
_INT16_FULL_SCALE = np.float32(32767)
_MPEG1_SAMPLE_RATE_INDEX = {44100: 0, 48000: 1, 32000: 2}
#: bytes from a frame's start to the Xing/Info tag: 4 header + 32 side info (MPEG-1 stereo)
_INFO_TAG_OFFSET = 36
#: the LAME tag's CRC covers the frame's first 190 bytes and sits right after them
_LAME_TAG_CRC_OFFSET = 190


def _cbr_frame_bytes(bitrate_kbps: int, sample_rate_hz: int) -> int:
    """Bytes of an unpadded MPEG-1 Layer III frame."""
    return 144 * bitrate_kbps * 1000 // sample_rate_hz


def _info_frame(*, frame_bytes: int, audio_bytes: int, n_samples: int, bitrate_kbps: int,
                sample_rate_hz: int) -> bytes:
    """The LAME "Info" frame (the CBR form of the Xing header) that opens the file: a
    silent MPEG frame whose body holds the frame count, byte count, seek table and the
    LAME extension with the encoder delay and end padding (the layout LAME writes)."""
    # LAME pads a frame by one byte whenever the running length falls a byte behind the
    # exact average, so the byte count rounds to the frame count
    audio_frames = round(audio_bytes * sample_rate_hz / (144 * bitrate_kbps * 1000))
    total_samples = audio_frames * _MP3_FRAME_SAMPLES
    end_padding = min(max(total_samples - _LAME_ENCODER_DELAY - n_samples, 0), 0xFFF)
    header = (0xFFF << 20 | 1 << 19 | 1 << 17 | 1 << 16  # sync, MPEG-1, Layer III, no CRC
              | _MP3_BITRATES_INDEX[bitrate_kbps] << 12 | _MPEG1_SAMPLE_RATE_INDEX[sample_rate_hz] << 10)
    frame = bytearray(frame_bytes)
    frame[0:4] = header.to_bytes(4, "big")
    toc = bytes(min(255, i * 256 // 100) for i in range(100))  # CBR: bytes grow linearly with time
    body = (b"Info" + (0x0F).to_bytes(4, "big")  # frames, bytes, TOC and quality fields present
            + audio_frames.to_bytes(4, "big") + (audio_bytes + frame_bytes).to_bytes(4, "big") + toc
            + (0).to_bytes(4, "big"))
    lame = (b"LAME3.100" + bytes([0x01, 0x00]) + bytes(4) + bytes(4)  # CBR, lowpass, peak, gains
            + bytes([0x00, min(bitrate_kbps, 255)])
            + (_LAME_ENCODER_DELAY << 12 | end_padding).to_bytes(3, "big")
            + bytes(4) + (audio_bytes + frame_bytes).to_bytes(4, "big") + bytes(2))
    frame[_INFO_TAG_OFFSET : _INFO_TAG_OFFSET + len(body) + len(lame)] = body + lame
    frame[_LAME_TAG_CRC_OFFSET : _LAME_TAG_CRC_OFFSET + 2] = _crc16(frame[:_LAME_TAG_CRC_OFFSET]).to_bytes(2, "big")
    return bytes(frame)


def _crc16(data: bytes | bytearray) -> int:
    """CRC-16 (polynomial 0x8005, bit-reversed, initial 0), as LAME computes its tag CRC."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _check_stereo(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[1] != 2:
        raise InvalidField(
            f"audio must have shape (n, 2), got {audio.shape}", param="audio", value=audio.shape
        )
    return audio
