"""generate(): the five stages, one after another. The CLI, the service, the Python API
and the web page all come through here; the task store decides *when* it runs."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sideman.errors import InvalidField
from sideman.settings import Settings

log = logging.getLogger(__name__)

MODELS = ("V4_5PLUS", "V5")


@dataclass(frozen=True)
class GenerateRequest:
    """What the caller asks for. Same meaning and ranges as the HTTP `input` fields.

    style_weight, weirdness_constraint, audio_weight: 0..1 (at most two decimals).
    seed: None picks one from the clock (the manifest records it).
    variations: 1..4. bpm / key: override what the analysis hears.
    """

    audio_path: Path
    title: str = ""
    tags: str = ""
    negative_tags: str = ""
    model: str = "V4_5PLUS"
    vocal_gender: str | None = None
    style_weight: float = 0.5
    weirdness_constraint: float = 0.3
    audio_weight: float = 0.7
    seed: int | None = None
    variations: int = 2
    bpm: float | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InvalidField(
                f"model must be one of {', '.join(MODELS)}, got {self.model!r}",
                param="input.model",
                value=self.model,
            )
        if self.vocal_gender not in (None, "m", "f"):
            raise InvalidField(
                f"vocal_gender must be 'm' or 'f', got {self.vocal_gender!r}",
                param="input.vocal_gender",
                value=self.vocal_gender,
            )
        for name in ("style_weight", "weirdness_constraint", "audio_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidField(
                    f"{name} must be within [0, 1], got {value}", param=f"input.{name}", value=value
                )
        if not 1 <= self.variations <= 4:
            raise InvalidField(
                f"variations must be within [1, 4], got {self.variations}",
                param="input.variations",
                value=self.variations,
            )
        if self.bpm is not None and not 30.0 <= self.bpm <= 300.0:
            raise InvalidField(
                f"bpm must be within [30, 300], got {self.bpm}", param="input.bpm", value=self.bpm
            )


@dataclass(frozen=True)
class StageEvent:
    """Reported by generate() as it goes.

    stage: "ingest" | "analysis" | "text" | "render" | "first" | "complete".
    `text`, `first` and `complete` are the callback stages of the HTTP contract: at
    `text` the manifest has the analysis and each variation's brief (no files); at
    `first` the first variation's files exist; at `complete` all of them do.
    progress: 0..100.
    manifest: the manifest as far as it is known (the same shape as manifest.json).
    """

    stage: str
    progress: int
    manifest: dict = field(default_factory=dict)


StageCallback = Callable[[StageEvent], None]


def generate(
    request: GenerateRequest,
    *,
    out_dir: Path,
    settings: Settings,
    on_stage: StageCallback | None = None,
) -> dict:
    """Run ingest -> analysis -> arrangement -> render -> deliver and write
    `out_dir/manifest.json` plus one folder per variation (see shared CLI.md).

    Returns the manifest (a JSON-ready dict). Raises InvalidInput subclasses for input
    the caller can fix; anything else is a bug or a Transient condition.

    >>> manifest = generate(GenerateRequest(Path("voice.wav"), tags="pop, piano"),
    ...                     out_dir=Path("out"), settings=Settings())  # doctest: +SKIP
    """
    # the stages are heavy imports; importing this module stays cheap for the service
    from sideman.analysis import analyze
    from sideman.arrangement import Knobs, arrange
    from sideman.deliver import variation_entry, write_manifest, write_variation_files
    from sideman.ingest import load
    from sideman.music import Key
    from sideman.render import find_soundfont, render_variation
    from sideman.style import style_from_tags

    def report(stage: str, progress: int, manifest: dict) -> None:
        if on_stage is not None:
            on_stage(StageEvent(stage, progress, json.loads(json.dumps(manifest))))

    timings: dict[str, float] = {"ingest": 0.0, "analysis": 0.0, "arrangement": 0.0, "render": 0.0, "deliver": 0.0}
    started = time.perf_counter()
    override_key = _parse_key(request.key, Key)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict = {
        "title": request.title,
        "tags": request.tags,
        "negative_tags": request.negative_tags,
        "model": request.model,
        "knobs": {"style_weight": request.style_weight, "weirdness_constraint": request.weirdness_constraint,
                  "audio_weight": request.audio_weight, "vocal_gender": request.vocal_gender},
        "variations": [],
    }
    report("ingest", 2, manifest)

    with _timed(timings, "ingest"):
        audio = load(
            request.audio_path,
            sample_rate_hz=settings.sample_rate_hz,
            min_duration_seconds=settings.min_duration_seconds,
            max_duration_seconds=settings.max_duration_seconds,
            silence_threshold_dbfs=settings.silence_threshold_dbfs,
        )
        digest = hashlib.sha256(audio.samples.tobytes()).hexdigest()[:16]
    manifest["input"] = {"file_name": Path(request.audio_path).name, "duration_seconds": round(audio.duration_seconds, 3),
                         "sha256_16": digest}
    report("analysis", 8, manifest)

    with _timed(timings, "analysis"):
        analysis = analyze(audio, tempo_bpm=request.bpm, key=override_key)
    manifest["analysis"] = analysis.to_json()

    with _timed(timings, "arrangement"):
        style = style_from_tags(request.tags, request.negative_tags, style_weight=request.style_weight)
        base_seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        knobs = Knobs(style_weight=request.style_weight, weirdness_constraint=request.weirdness_constraint,
                      audio_weight=request.audio_weight, model=request.model, vocal_gender=request.vocal_gender)
        arrangements = [arrange(analysis, style, knobs=knobs, seed=base_seed + i, variation=i)
                        for i in range(request.variations)]
    manifest["seed"] = base_seed
    manifest["style"] = {"genre": style.genre, "moods": list(style.moods), "matched_tags": list(style.matched_tags),
                         "unmatched_tags": list(style.unmatched_tags),
                         "unmatched_negative_tags": list(style.unmatched_negative_tags)}
    spans = [_output_span(a, audio.duration_seconds) for a in arrangements]
    manifest["variations"] = [
        variation_entry(arrangement=a, rendered=None, origin_seconds=o, duration_seconds=d, files=None, input_digest=digest)
        for a, (o, d) in zip(arrangements, spans, strict=True)
    ]
    manifest["timings_seconds"] = _rounded(timings, started)
    report("text", 20, manifest)

    soundfont = find_soundfont(settings.soundfont_path)
    manifest["soundfont"] = {"name": soundfont.name, "path": str(soundfont.path), "license": soundfont.license}
    for i, (arrangement, (origin, duration)) in enumerate(zip(arrangements, spans, strict=True)):
        with _timed(timings, "render"):
            rendered = render_variation(
                arrangement.score, voice=audio.samples, voice_sample_rate_hz=audio.sample_rate_hz,
                soundfont=soundfont, sample_rate_hz=settings.sample_rate_hz, origin_seconds=origin,
                duration_seconds=duration, duck_depth_db=1.0 + 4.0 * request.audio_weight,
                target_loudness_lufs=settings.target_loudness_lufs,
                true_peak_ceiling_dbtp=settings.true_peak_ceiling_dbtp,
            )
        with _timed(timings, "deliver"):
            files = write_variation_files(
                out_dir, folder=f"v{i + 1}", arrangement=arrangement, rendered=rendered, origin_seconds=origin,
                title=request.title or Path(request.audio_path).stem, melody=analysis.notes,
                mp3_bitrate_kbps=settings.mp3_bitrate_kbps,
            )
            manifest["variations"][i] = variation_entry(
                arrangement=arrangement, rendered=rendered, origin_seconds=origin, duration_seconds=duration,
                files=files, input_digest=digest,
            )
            manifest["timings_seconds"] = _rounded(timings, started)
            write_manifest(out_dir, manifest)
        done = i + 1 == len(arrangements)
        report("complete" if done else "first" if i == 0 else "render",
               100 if done else 20 + int(80 * (i + 1) / len(arrangements)), manifest)
    log.info("generated %d variation(s) in %.2f s", len(arrangements), time.perf_counter() - started)
    return manifest


#: seconds the last notes ring after the band's final bar
RELEASE_TAIL_SECONDS = 1.5


def _output_span(arrangement, input_duration_seconds: float) -> tuple[float, float]:
    """(origin_seconds, duration_seconds) of the rendered audio: from the band's first
    downbeat (or the input's start, if earlier) to the later of the input's end and the
    band's last note plus a release tail."""
    origin = min(arrangement.start_seconds, 0.0)
    end = max(input_duration_seconds, arrangement.end_seconds + RELEASE_TAIL_SECONDS)
    return origin, end - origin


def _parse_key(label: str | None, key_type):
    if label is None:
        return None
    try:
        return key_type.parse(label)
    except ValueError as error:
        raise InvalidField(str(error), param="input.key", value=label) from None


class _timed:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] += time.perf_counter() - self.started


def _rounded(timings: dict[str, float], started: float) -> dict[str, float]:
    out = {k: round(v, 3) for k, v in timings.items()}
    out["total"] = round(time.perf_counter() - started, 3)
    return out
