"""Decode any audio container with PyAV into mono float32 at a requested sample rate."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

from sideman.errors import TooLong, UnreadableAudio

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


def decode(
    path: Path | str, *, sample_rate_hz: int, max_duration_seconds: float | None = None
) -> Audio:
    """Decode the first audio stream of `path` to mono float32 at `sample_rate_hz`.

    Raises UnreadableAudio when no decoder opens it or it has no audio stream, and
    TooLong as soon as more than `max_duration_seconds` has been decoded (a two-hour
    upload is refused after reading the header, not after decoding it all).

    >>> audio = decode("voice.mp3", sample_rate_hz=44100)  # doctest: +SKIP
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise UnreadableAudio(f"the file is not audio any decoder can read ({_reason(error)})") from None
    with container:
        streams = container.streams.audio
        if not streams:
            raise UnreadableAudio("the file has no audio stream")
        stream = streams[0]
        if max_duration_seconds is not None and container.duration:
            declared_seconds = container.duration / av.time_base
            if declared_seconds > max_duration_seconds + 1.0:
                raise TooLong(duration_seconds=declared_seconds, maximum_seconds=max_duration_seconds)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
        chunks: list[np.ndarray] = []
        decoded = 0
        limit = None if max_duration_seconds is None else int((max_duration_seconds + 1.0) * sample_rate_hz)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    decoded += len(chunk)
                if limit is not None and decoded > limit:
                    raise TooLong(
                        duration_seconds=decoded / sample_rate_hz, maximum_seconds=max_duration_seconds or 0
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as error:
            if not chunks:
                raise UnreadableAudio(f"the audio could not be decoded ({_reason(error)})") from None
            log.warning("decoding stopped early at %.2f s: %s", decoded / sample_rate_hz, error)
    if not chunks:
        raise UnreadableAudio("the file holds no audio samples")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    np.clip(samples, -1.0, 1.0, out=samples)
    return Audio(samples, sample_rate_hz)


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
