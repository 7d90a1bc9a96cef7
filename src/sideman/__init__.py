"""sideman: add a band to a voice.

>>> from pathlib import Path
>>> from sideman import add_instrumental
>>> manifest = add_instrumental("voice.wav", tags="pop, piano", out_dir=Path("out"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from sideman.errors import (
    FetchError,
    InvalidField,
    InvalidInput,
    SidemanError,
    SilentAudio,
    TooLong,
    TooShort,
    Transient,
    UnreadableAudio,
    Unsupported,
)
from sideman.pipeline import GenerateRequest, StageEvent, generate
from sideman.settings import Settings

__all__ = [
    "FetchError",
    "GenerateRequest",
    "InvalidField",
    "InvalidInput",
    "Settings",
    "SidemanError",
    "SilentAudio",
    "StageEvent",
    "TooLong",
    "TooShort",
    "Transient",
    "UnreadableAudio",
    "Unsupported",
    "add_instrumental",
    "analyze_file",
    "generate",
]

__version__ = "0.1.0"


def add_instrumental(
    audio_path: str | Path,
    *,
    out_dir: Path,
    tags: str,
    negative_tags: str = "",
    settings: Settings | None = None,
    **options: object,
) -> dict:
    """Backing tracks for a recording; returns the manifest (shared CLI.md).

    options: any GenerateRequest field (title, model, vocal_gender, style_weight,
    weirdness_constraint, audio_weight, seed, variations, bpm, key)."""
    request = GenerateRequest(audio_path=Path(audio_path), tags=tags, negative_tags=negative_tags, **options)  # type: ignore[arg-type]
    return generate(request, out_dir=Path(out_dir), settings=settings or Settings())


def analyze_file(audio_path: str | Path, *, settings: Settings | None = None) -> dict:
    """What sideman hears in a recording: the object `sideman analyze --json` prints."""
    from sideman.analysis import analyze
    from sideman.ingest import load

    settings = settings or Settings()
    audio = load(audio_path, sample_rate_hz=16000, min_duration_seconds=settings.min_duration_seconds,
                 max_duration_seconds=settings.max_duration_seconds,
                 silence_threshold_dbfs=settings.silence_threshold_dbfs)
    return analyze(audio).to_json()
