from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sideman.errors import SilentAudio, TooLong, TooShort, UnreadableAudio
from sideman.ingest import decode, level_dbfs, load
from signals import write_audio

LIMITS = {"min_duration_seconds": 2.0, "max_duration_seconds": 480.0, "silence_threshold_dbfs": -60.0}


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".flac", ".ogg", ".m4a"])
def test_decodes_every_format_to_the_requested_rate(tmp_path: Path, melody, suffix: str) -> None:
    path = write_audio(tmp_path / f"voice{suffix}", melody.samples)
    audio = decode(path, sample_rate_hz=22050)
    assert audio.sample_rate_hz == 22050
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    # codec padding allowed: within 60 ms of the true length
    assert abs(audio.duration_seconds - len(melody.samples) / 44100) < 0.06
    assert abs(level_dbfs(audio.samples, sample_rate_hz=22050) - level_dbfs(melody.samples, sample_rate_hz=44100)) < 1.5


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(UnreadableAudio, match="not audio"):
        decode(path, sample_rate_hz=16000)


def test_silence_is_refused_with_its_level(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "quiet.wav", np.full(44100 * 3, 1e-5, dtype=np.float32))
    with pytest.raises(SilentAudio) as caught:
        load(path, sample_rate_hz=16000, **LIMITS)
    assert caught.value.level_dbfs < -60
    assert "dBFS" in str(caught.value)


def test_short_input_is_refused_with_its_duration(tmp_path: Path, melody) -> None:
    path = write_audio(tmp_path / "short.wav", melody.samples[: 44100])
    with pytest.raises(TooShort) as caught:
        load(path, sample_rate_hz=16000, **LIMITS)
    assert caught.value.duration_seconds == pytest.approx(1.0, abs=0.01)


def test_long_input_is_refused_before_decoding_it_all(tmp_path: Path, melody) -> None:
    path = write_audio(tmp_path / "long.wav", np.tile(melody.samples, 3))
    with pytest.raises(TooLong) as caught:
        load(path, sample_rate_hz=16000, **{**LIMITS, "max_duration_seconds": 10.0})
    assert caught.value.duration_seconds > 10.0
    assert "at most 10 s" in str(caught.value)
