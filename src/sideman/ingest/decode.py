"""Decode any audio container with PyAV into mono float32 at a requested sample rate,
refusing, in words that say what was found, what cannot be a recording."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

from sideman.errors import InvalidInput, TooLong, UnreadableAudio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Audio:
    """Mono audio. samples: np.ndarray [shape=(n,), float32, -1..1]."""

    samples: np.ndarray
    sample_rate_hz: int

    @property
    def duration_seconds(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    def resampled(self, sample_rate_hz: int) -> Audio:
        """A copy at another rate (polyphase, anti-aliased)."""
        if sample_rate_hz == self.sample_rate_hz:
            return self
        g = np.gcd(sample_rate_hz, self.sample_rate_hz)
        out = resample_poly(self.samples, sample_rate_hz // g, self.sample_rate_hz // g)
        return Audio(out.astype(np.float32), sample_rate_hz)


#: below this a file cannot carry a voice (telephone speech is 8 kHz)
MIN_SAMPLE_RATE_HZ = 8000
#: more channels than this is not a recording we know how to mix down
MAX_CHANNELS = 64
#: a mono sum this far under its loudest channel means the channels cancel each other
CANCELLATION_DB = 40.0

_FLOAT_FORMATS = {"flt", "fltp", "dbl", "dblp"}
_INT_SCALE = {"s16": 32768.0, "s16p": 32768.0, "s32": 2.0**31, "s32p": 2.0**31,
              "s64": 2.0**63, "s64p": 2.0**63}


def decode(
    path: Path | str, *, sample_rate_hz: int, max_duration_seconds: float | None = None
) -> Audio:
    """Decode the first audio stream of `path` to mono float32 at `sample_rate_hz`.

    Up to 8 channels are mixed down by FFmpeg's resampler; 9 to 64 channels (a
    multitrack WAV) are averaged here.

    Raises UnreadableAudio, with what was found, when no decoder opens the file (cut
    short before its audio, damaged, a codec this build lacks), when it declares 0 or
    more than 64 channels or a sample rate under 8000 Hz, when it holds samples that are
    not numbers (NaN, infinity), or when it is cut short mid-stream well before the
    length its header announces; InvalidInput when its channels cancel each other in the
    mono mix; TooLong as soon as more than `max_duration_seconds` has been decoded (a
    two-hour upload is refused after reading the header, not after decoding it all).

    >>> audio = decode("voice.mp3", sample_rate_hz=44100)  # doctest: +SKIP
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise UnreadableAudio(_open_failure(path, error)) from None
    with container:
        streams = container.streams.audio
        if not streams:
            raise UnreadableAudio("the file has no audio stream")
        stream = streams[0]
        codec = stream.codec_context
        if codec is None:
            raise UnreadableAudio(f"the file's audio codec{_wav_codec_tag(path)} is not one this "
                                  "server can decode; send WAV, MP3, FLAC, Ogg, AAC/M4A, WebM or AIFF")
        channels = codec.channels or _wav_channels(path) or 0
        if channels == 0 or channels > MAX_CHANNELS:
            declared = _wav_channels(path) or channels
            raise UnreadableAudio(f"the file declares {declared} audio channels; 1 to "
                                  f"{MAX_CHANNELS} are accepted")
        if codec.sample_rate and codec.sample_rate < MIN_SAMPLE_RATE_HZ:
            raise UnreadableAudio(f"the file's sample rate is {codec.sample_rate} Hz; at least "
                                  f"{MIN_SAMPLE_RATE_HZ} Hz is needed to carry a voice")
        declared_seconds = container.duration / av.time_base if container.duration else None
        if max_duration_seconds is not None and declared_seconds is not None:
            if declared_seconds > max_duration_seconds + 1.0:
                raise TooLong(duration_seconds=declared_seconds, maximum_seconds=max_duration_seconds)
        by_hand = channels > 8  # FFmpeg's resampler has no layout to mix these down from
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
        chunks: list[np.ndarray] = []
        raw_rate = codec.sample_rate or sample_rate_hz
        channel_energy = np.zeros(channels)
        raw_count = 0
        bad_samples = 0
        decoded = 0
        limit = None if max_duration_seconds is None else int((max_duration_seconds + 1.0) * sample_rate_hz)
        stopped: str | None = None
        try:
            for frame in container.decode(stream):
                if by_hand or channels > 1 or frame.format.name in _FLOAT_FORMATS:
                    planes = _as_float(frame)
                    if frame.format.name in _FLOAT_FORMATS and not np.isfinite(planes).all():
                        finite = np.isfinite(planes)
                        bad_samples += int(planes.size - finite.sum())
                        planes = np.where(finite, planes, np.float32(0.0))
                    if channels > 1 and planes.shape[0] == channels:
                        channel_energy += np.einsum("ij,ij->i", planes, planes)
                        raw_count += planes.shape[1]
                    if by_hand:
                        raw_rate = frame.sample_rate or raw_rate
                        chunk = planes.mean(axis=0).astype(np.float32)
                        chunks.append(chunk)
                        decoded += int(len(chunk) * sample_rate_hz / raw_rate)
                        if limit is not None and decoded > limit:
                            raise TooLong(duration_seconds=decoded / sample_rate_hz,
                                          maximum_seconds=max_duration_seconds or 0)
                        continue
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    decoded += len(chunk)
                if limit is not None and decoded > limit:
                    raise TooLong(
                        duration_seconds=decoded / sample_rate_hz, maximum_seconds=max_duration_seconds or 0
                    )
            if not by_hand:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as error:
            if not chunks:
                raise UnreadableAudio(_decode_failure(path, error)) from None
            stopped = _reason(error)
            log.warning("decoding stopped early at %.2f s: %s", decoded / sample_rate_hz, error)
    if bad_samples:
        raise UnreadableAudio(f"the audio holds {bad_samples} samples that are not numbers (NaN "
                              "or infinity): the file is damaged; export it again")
    if not chunks:
        raise UnreadableAudio("the file holds no audio samples")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    if by_hand:
        samples = _resample(samples, from_hz=raw_rate, to_hz=sample_rate_hz)
    got_seconds = len(samples) / sample_rate_hz
    if stopped is not None and declared_seconds is not None and got_seconds < declared_seconds - 1.0:
        raise UnreadableAudio(f"the file is cut short or damaged: its audio stops at "
                              f"{got_seconds:.2f} s of the {declared_seconds:.2f} s its header "
                              f"announces ({stopped})")
    np.clip(samples, -1.0, 1.0, out=samples)
    if raw_count:
        _refuse_cancelling_channels(samples, channel_energy / raw_count)
    return Audio(samples, sample_rate_hz)


def _as_float(frame: av.AudioFrame) -> np.ndarray:
    """A frame's samples as float32 [shape=(channels, n)], full scale 1.0."""
    array = frame.to_ndarray()
    channels = len(frame.layout.channels) or 1
    if not frame.format.is_planar:
        array = array.reshape(-1, channels).T
    name = frame.format.name
    if name in _FLOAT_FORMATS:
        return array.astype(np.float32, copy=False)
    if name in ("u8", "u8p"):
        return (array.astype(np.float32) - np.float32(128.0)) / np.float32(128.0)
    return array.astype(np.float32) * np.float32(1.0 / _INT_SCALE.get(name, 32768.0))


def _resample(samples: np.ndarray, *, from_hz: int, to_hz: int) -> np.ndarray:
    if from_hz == to_hz:
        return samples
    g = np.gcd(from_hz, to_hz)
    return resample_poly(samples, to_hz // g, from_hz // g).astype(np.float32)


def _refuse_cancelling_channels(mono: np.ndarray, channel_power: np.ndarray) -> None:
    """InvalidInput when the channels are loud and their mono sum is not: one is the
    other with its polarity inverted (a stereo file that only works in stereo)."""
    loudest = float(np.sqrt(channel_power.max()))
    mixed = float(np.sqrt(max(0.0, float(np.dot(mono, mono))) / len(mono))) if len(mono) else 0.0
    loudest_db = 20.0 * np.log10(max(loudest, 1e-10))
    mixed_db = 20.0 * np.log10(max(mixed, 1e-10))
    if loudest_db > -60.0 and mixed_db < loudest_db - CANCELLATION_DB:
        raise InvalidInput(
            f"the channels cancel each other when mixed to mono: the loudest is at "
            f"{loudest_db:.1f} dBFS, their sum at {mixed_db:.1f} dBFS (one channel is the "
            "other with its polarity inverted); invert one channel, or send one channel alone"
        )


def _open_failure(path: Path | str, error: BaseException) -> str:
    """Why a file does not open, in words: cut short, damaged, or not audio at all."""
    from sideman.ingest.fetch import sniff_audio

    if isinstance(error, FileNotFoundError):
        return f"there is no file {Path(path).name!r}"
    size, head = _size_and_head(path)
    if size == 0:
        return "the file is empty (0 bytes)"
    kind = sniff_audio(head)
    name = kind.split("/")[-1].upper() if kind else None
    what = f"{'an' if name and name[0] in 'AEIOU' else 'a'} {name} file" if name else None
    if isinstance(error, EOFError) or "End of file" in str(error):
        if what:
            return (f"the file is cut short: it looks like {what} but ends after {size} bytes, "
                    "before any audio (was the upload interrupted?)")
        return f"the file ends after {size} bytes, before any audio (was the upload interrupted?)"
    if what:
        return (f"the file looks like {what} but its data is damaged or cut short "
                f"({size} bytes; {_reason(error)})")
    return f"the file is not audio any decoder can read ({_reason(error)})"


def _decode_failure(path: Path | str, error: BaseException) -> str:
    if isinstance(error, av.error.DecoderNotFoundError):
        return (f"the file's audio codec{_wav_codec_tag(path)} is not one this server can decode")
    if isinstance(error, EOFError) or "End of file" in str(error):
        return "the file is cut short: it ends before its first audio frame"
    return f"the audio could not be decoded: the data is damaged or cut short ({_reason(error)})"


def _size_and_head(path: Path | str) -> tuple[int, bytes]:
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            handle.seek(0, 2)
            return handle.tell(), head
    except OSError:
        return 0, b""


def _wav_fmt(path: Path | str) -> tuple[int, int] | None:
    """(format tag, channel count) from a RIFF/WAVE file's fmt chunk, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    at = 12
    while at + 8 <= len(head):
        chunk, size = head[at:at + 4], int.from_bytes(head[at + 4:at + 8], "little")
        if chunk == b"fmt " and at + 12 <= len(head):
            return (int.from_bytes(head[at + 8:at + 10], "little"),
                    int.from_bytes(head[at + 10:at + 12], "little"))
        at += 8 + size + (size & 1)
    return None


def _wav_channels(path: Path | str) -> int | None:
    fmt = _wav_fmt(path)
    return fmt[1] if fmt else None


def _wav_codec_tag(path: Path | str) -> str:
    fmt = _wav_fmt(path)
    return f" (WAV format tag 0x{fmt[0]:04x})" if fmt else ""


def load(path: Path | str, *, sample_rate_hz: int, min_duration_seconds: float, max_duration_seconds: float,
         silence_threshold_dbfs: float) -> Audio:
    """decode() then validate(): what every door into the pipeline calls."""
    from sideman.ingest.validate import validate

    audio = decode(path, sample_rate_hz=sample_rate_hz, max_duration_seconds=max_duration_seconds)
    validate(
        audio,
        min_duration_seconds=min_duration_seconds,
        max_duration_seconds=max_duration_seconds,
        silence_threshold_dbfs=silence_threshold_dbfs,
    )
    return audio


def _reason(error: BaseException) -> str:
    """FFmpeg's words without its errno or the file path (the server's layout stays private)."""
    text = getattr(error, "strerror", None) or str(error).strip() or type(error).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", str(text)).split(": '")[0]
