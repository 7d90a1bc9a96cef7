"""generate(): the five stages. The CLI, the service, the Python API and the web page
all come through here; the task store decides *when* it runs.

Ingest, analysis and arrangement run one after another. Then each variation's stems
are synthesized by the worker processes of `sideman.render.synth_pool` (tinysoundfont
holds the GIL, so threads could not share that work), and mixed, mastered and written
by two threads (the machine's two cores) as chains of tasks ordered by (variation,
step), so variation 1 is finished first (the `first` callback) while variation 2
synthesizes and encodes alongside it. Inputs whose output passes
`_OVERLAP_MAX_SECONDS` render one variation at a time, to keep memory flat."""

from __future__ import annotations

import ctypes
import hashlib
import heapq
import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
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
    meter, tap_times_seconds, tuning_cents, first_downbeat_seconds, chords: the other
        overrides of the singer (sideman.overrides; chords: a lead sheet's text, a
        chords.json object, or a parsed ChordChart).
    from_manifest: re-render a run (its manifest.json): its stored analysis and voice
        are used, nothing is decoded or listened to again; the overrides given here are
        laid over the ones that run had. audio_path is then only a name.
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
    meter: str | None = None
    tap_times_seconds: tuple[float, ...] | None = None
    tuning_cents: float | None = None
    first_downbeat_seconds: float | None = None
    chords: object = None
    from_manifest: Path | None = None

    @property
    def overrides(self):  # noqa: ANN201 - sideman.overrides.Overrides
        """The singer's overrides, validated (InvalidField names the `input.` field)."""
        from sideman.overrides import parse_overrides

        return parse_overrides(tempo_bpm=self.bpm, tap_times_seconds=self.tap_times_seconds, meter=self.meter,
                               key=self.key, tuning_cents=self.tuning_cents,
                               first_downbeat_seconds=self.first_downbeat_seconds, chords=self.chords)

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
        self.overrides  # noqa: B018 - validates every override where the request enters


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
    from sideman.deliver import variation_entry, write_manifest
    from sideman.deliver.stored import link_stored, read_stored, write_stored
    from sideman.ingest import load
    from sideman.ingest.decode import Audio
    from sideman.overrides import apply_overrides, merge_overrides, parse_overrides
    from sideman.perform import perform_arrangement
    from sideman.render import find_soundfont
    from sideman.render.synth_pool import prestart
    from sideman.style import style_from_tags

    def report(stage: str, progress: int, manifest: dict) -> None:
        if on_stage is not None:
            on_stage(StageEvent(stage, progress, json.loads(json.dumps(manifest))))

    timings: dict[str, float] = {"ingest": 0.0, "analysis": 0.0, "arrangement": 0.0, "render": 0.0, "deliver": 0.0}
    started = time.perf_counter()
    overrides = request.overrides
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
    soundfont = find_soundfont(settings.soundfont_path)

    if request.from_manifest is not None:
        # a re-render: the stored analysis and voice; no decoding, no listening
        with _timed(timings, "ingest"):
            stored = read_stored(request.from_manifest, param="from")
            audio = Audio(stored.samples, stored.sample_rate_hz)
            # the earlier run's folder name (a task's id): no server path in a served manifest
            manifest["input"] = dict(stored.manifest.get("input") or {}, rerendered_from=stored.folder.name)
            digest = str(manifest["input"].get("sha256_16", ""))
            manifest["stored"] = link_stored(stored.folder, out_dir, sample_rate_hz=audio.sample_rate_hz)
        report("analysis", 8, manifest)
        prestart(soundfont, sample_rate_hz=settings.sample_rate_hz, workers=settings.synth_processes)
        with _timed(timings, "analysis"):
            earlier = parse_overrides(**_override_fields(stored.manifest.get("overrides") or {}))
            overrides = merge_overrides(earlier, overrides)
            heard_tempo = stored.analysed_with.get("tempo_bpm")
            analysis = apply_overrides(stored.analysis, overrides,
                                       tempo_heard=heard_tempo is not None and heard_tempo == overrides.tempo_bpm)
            # the takes of a re-render are new takes: their audio_ids follow the overrides too
            digest = hashlib.sha256(f"{digest}:{json.dumps(overrides.to_json(), sort_keys=True)}".encode()
                                    ).hexdigest()[:16]
    else:
        with _timed(timings, "ingest"):
            audio = load(
                request.audio_path,
                sample_rate_hz=settings.sample_rate_hz,
                min_duration_seconds=settings.min_duration_seconds,
                max_duration_seconds=settings.max_duration_seconds,
                silence_threshold_dbfs=settings.silence_threshold_dbfs,
            )
            digest = hashlib.sha256(audio.samples.tobytes()).hexdigest()[:16]
        manifest["input"] = {"file_name": Path(request.audio_path).name,
                             "duration_seconds": round(audio.duration_seconds, 3), "sha256_16": digest}
        report("analysis", 8, manifest)
        # the synthesis processes load the font while the analysis runs (~0.6 s, once a process)
        prestart(soundfont, sample_rate_hz=settings.sample_rate_hz, workers=settings.synth_processes)

        with _timed(timings, "analysis"):
            # a tap list is the grid itself: the tracker is not told a tempo then
            told_tempo = overrides.tempo_bpm if overrides.tap_times_seconds is None else None
            heard = analyze(audio, tempo_bpm=told_tempo, key=overrides.key, tuning_cents=overrides.tuning_cents)
            analysis = apply_overrides(heard, overrides, tempo_heard=told_tempo is not None)
        # kept for `sideman render --from`: the analysis as heard and the decoded voice
        manifest["stored"] = write_stored(out_dir, analysis=heard, samples=audio.samples,
                                          sample_rate_hz=audio.sample_rate_hz,
                                          analysed_with={"tempo_bpm": told_tempo})
    manifest["overrides"] = overrides.to_json()
    manifest["analysis"] = analysis.to_json()

    with _timed(timings, "arrangement"):
        style = style_from_tags(request.tags, request.negative_tags, style_weight=request.style_weight)
        base_seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        knobs = Knobs(style_weight=request.style_weight, weirdness_constraint=request.weirdness_constraint,
                      audio_weight=request.audio_weight, model=request.model, vocal_gender=request.vocal_gender,
                      chords_as_written=overrides.chart is not None)
        # each take as the band plays it (sideman.perform): timing, dynamics, pedal, strums
        arrangements = [perform_arrangement(arrange(analysis, style, knobs=knobs, seed=base_seed, variation=0),
                                            model=request.model)]
        # variation 1's synthesis starts now, while the others are arranged and the text
        # callback goes out (its stems are what the `first` callback waits for longest)
        first_stems = _start_first_stems(arrangements[0], audio.duration_seconds, soundfont=soundfont,
                                         settings=settings)
        arrangements += [perform_arrangement(arrange(analysis, style, knobs=knobs, seed=base_seed + i, variation=i),
                                             model=request.model)
                         for i in range(1, request.variations)]
    manifest["seed"] = base_seed
    manifest["style"] = {"genre": style.genre, "moods": list(style.moods), "matched_tags": list(style.matched_tags),
                         "unmatched_tags": list(style.unmatched_tags),
                         "unmatched_negative_tags": list(style.unmatched_negative_tags)}
    spans = [_output_span(a, audio.duration_seconds) for a in arrangements]
    manifest["variations"] = [
        variation_entry(arrangement=a, rendered=None, origin_seconds=o, duration_seconds=d, files=None, input_digest=digest,
                        heard_tempo_bpm=analysis.grid.tempo_bpm)
        for a, (o, d) in zip(arrangements, spans, strict=True)
    ]
    manifest["timings_seconds"] = _rounded(timings, started)
    report("text", 20, manifest)

    manifest["soundfont"] = soundfont.credits()
    title = request.title or Path(str(manifest["input"].get("file_name") or request.audio_path)).stem
    render_started = time.perf_counter()
    longest = max(d for _, d in spans)
    # two variations' audio at once only where it fits in memory (see _OVERLAP_MAX_SECONDS)
    overlap = longest <= _OVERLAP_MAX_SECONDS
    with _PriorityPool(_WORKERS) as pool:
        jobs = [
            _VariationJob(
                pool, i, arrangement=a, origin_seconds=o, duration_seconds=d, audio=audio, soundfont=soundfont,
                settings=settings, out_dir=out_dir, title=title, melody=analysis.notes,
                duck_depth_db=1.0 + 4.0 * request.audio_weight,
            )
            for i, (a, (o, d)) in enumerate(zip(arrangements, spans, strict=True))
        ]
        for job in jobs:
            job.start_score_files()
        if overlap:
            for job, nxt in zip(jobs, jobs[1:], strict=False):
                nxt.mix_after = job.mastered
        else:
            for job in jobs:
                job.urgent = True
        jobs[0].start(first_stems)
        if overlap:
            for job, nxt in zip(jobs, jobs[1:], strict=False):
                if job is jobs[0] and job.in_processes:
                    nxt.start()  # on the background workers: it takes only the cores the first leaves
                else:  # as soon as the synthesizer is free
                    job.synthesized.add_done_callback(lambda _f, nxt=nxt: nxt.start())
        for i, job in enumerate(jobs):
            job.delivered.result()  # raises the first error of this variation
            manifest["variations"][i] = variation_entry(
                arrangement=job.arrangement, rendered=job.rendered, origin_seconds=job.origin_seconds,
                duration_seconds=job.duration_seconds, files=job.files, input_digest=digest,
                heard_tempo_bpm=analysis.grid.tempo_bpm,
            )
            job.rendered = None  # let this variation's audio go
            if not overlap and i + 1 < len(jobs):
                _trim_heap()
                jobs[i + 1].start()
            # render: until the audio of the variations so far was mastered; deliver: the
            # writing after that (with variations overlapping, neither is a sum of parts)
            audio_ready = max(j.mastered_at for j in jobs[: i + 1])
            timings["render"] = audio_ready - render_started
            timings["deliver"] = time.perf_counter() - audio_ready
            manifest["timings_seconds"] = _rounded(timings, started)
            write_manifest(out_dir, manifest)
            done = i + 1 == len(arrangements)
            report("complete" if done else "first" if i == 0 else "render",
                   100 if done else 20 + int(80 * (i + 1) / len(arrangements)), manifest)
    log.info("generated %d variation(s) in %.2f s", len(arrangements), time.perf_counter() - started)
    return manifest


def _trim_heap() -> None:
    """Give the heaps' free pages back to the system (glibc ``malloc_trim``), between
    two long variations; nothing elsewhere."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


#: threads that mix, master and write: the machine's two cores (LAME, pedalboard and
#: numpy work outside the GIL; synthesis runs in the synth_pool processes)
_WORKERS = 2
#: variations overlap (the next one synthesizes while this one is mixed and encoded)
#: only up to this output length; longer ones go one at a time, so that memory holds one
#: variation's audio (8 minutes of stereo float32 is 170 MB an array)
_OVERLAP_MAX_SECONDS = 150.0


class _VariationJob:
    """One variation as a chain of tasks on the pool, each at priority (variation, step):
    synthesis -> mix -> the two masters and the stems' WAVs (in parallel) -> each
    master's MP3 (and the instrumental's WAV) as soon as that master is done; MIDI,
    chart and cover need no audio and run whenever a worker is idle. Earlier
    variations win every tie for a worker, so variation 1 is finished first."""

    def __init__(self, pool: _PriorityPool, index: int, *, arrangement, origin_seconds: float,
                 duration_seconds: float, audio, soundfont, settings: Settings, out_dir: Path, title: str,
                 melody, duck_depth_db: float) -> None:
        self.pool, self.index, self.arrangement = pool, index, arrangement
        self.origin_seconds, self.duration_seconds = origin_seconds, duration_seconds
        self.audio, self.soundfont, self.settings = audio, soundfont, settings
        self.out_dir, self.title, self.melody, self.duck_depth_db = out_dir, title, melody, duck_depth_db
        self.folder = f"v{index + 1}"
        self.synthesized: Future = Future()
        #: both masters made (or this variation failed): the next variation may mix
        self.mastered: Future = Future()
        #: set by generate(): this variation's mix waits for it (the previous one's masters)
        self.mix_after: Future | None = None
        self.delivered: Future = Future()
        self.rendered = None
        self.files: dict | None = None
        self.mastered_at = 0.0  # time.perf_counter() when both masters were done
        self.in_processes = False  # synthesized by the worker processes (see start)
        #: synthesize at full priority: the first variation, or any when they go one at a time
        self.urgent = index == 0
        self._pending = 0
        self._lock = threading.Lock()
        self._mixed = None
        self._masters: dict[str, object] = {}

    # the chain ------------------------------------------------------------------------
    def start_score_files(self) -> None:
        from sideman.deliver import variation_file_jobs

        for _, job in variation_file_jobs(self.out_dir, folder=self.folder, arrangement=self.arrangement,
                                          rendered=None, origin_seconds=self.origin_seconds, title=self.title,
                                          melody=self.melody, mp3_bitrate_kbps=self.settings.mp3_bitrate_kbps):
            self._add_pending()
            self._submit(9, job, then=self._one_done)

    def start(self, started_stems: Future | None = None) -> None:
        """Synthesize, then mix, master and write. Synthesis goes to the worker processes
        where there are any (no thread of this pool waits on it), else to this pool.
        started_stems: this variation's synthesis, already under way (`start_stems`)."""
        from sideman.render.synth_pool import start_stems

        self._add_pending()
        stems = started_stems
        try:
            if stems is None:
                stems = start_stems(self.arrangement.score, soundfont=self.soundfont,
                                    sample_rate_hz=self.settings.sample_rate_hz, origin_seconds=self.origin_seconds,
                                    duration_seconds=self.duration_seconds, workers=self.settings.synth_processes,
                                    urgent=self.urgent)
        except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
            stems = Future()
            stems.set_exception(error)
        if stems is None:
            self._submit(0, self._synthesize, then=self._mix)
            return
        self.in_processes = True

        def synthesized(done: Future) -> None:
            if not self.synthesized.done():
                self.synthesized.set_result(None)
            self._submit(0, lambda: self._stems_or_in_process(done), then=self._mix)

        stems.add_done_callback(synthesized)

    def _stems_or_in_process(self, done: Future):
        from concurrent.futures.process import BrokenProcessPool

        try:
            return done.result()
        except BrokenProcessPool:  # a worker died: this variation renders here
            return self._synthesize()

    def _synthesize(self):
        from sideman.render import render_stems

        stems = render_stems(self.arrangement.score, soundfont=self.soundfont,
                             sample_rate_hz=self.settings.sample_rate_hz, origin_seconds=self.origin_seconds,
                             duration_seconds=self.duration_seconds)
        if not self.synthesized.done():
            self.synthesized.set_result(None)
        return stems

    def _mix(self, stems) -> None:
        def run():
            from sideman.render import mix_variation

            mixed = mix_variation(stems, score=self.arrangement.score, voice=self.audio.samples,
                                  voice_sample_rate_hz=self.audio.sample_rate_hz,
                                  sample_rate_hz=self.settings.sample_rate_hz, origin_seconds=self.origin_seconds,
                                  duck_depth_db=self.duck_depth_db)
            stems.clear()
            return mixed

        if self.mix_after is None:
            self._submit(1, run, then=self._master)
        else:
            # a later variation's mix would hold one of the two threads for a second while
            # the earlier one makes its two masters side by side: it waits for them
            self.mix_after.add_done_callback(lambda _f: self._submit(1, run, then=self._master))

    def _master(self, mixed) -> None:
        from sideman.deliver import stem_files_job
        from sideman.render import master_instrumental, master_song

        self._mixed = mixed
        targets = {"sample_rate_hz": self.settings.sample_rate_hz,
                   "target_loudness_lufs": self.settings.target_loudness_lufs,
                   "true_peak_ceiling_dbtp": self.settings.true_peak_ceiling_dbtp}
        for name, step in (("song", master_song), ("instrumental", master_instrumental)):
            self._submit(2, lambda step=step: step(mixed, **targets),
                         then=lambda result, name=name: self._mastered(name, result))
        # the stems need only the mix: written while the masters are made
        self._add_pending()
        _, write_stems = stem_files_job(self.out_dir / self.folder, mixed.stems,
                                        sample_rate_hz=self.settings.sample_rate_hz)
        self._submit(3, write_stems, then=self._one_done)

    def _mastered(self, name: str, result) -> None:
        from sideman.deliver import instrumental_file_jobs, song_file_jobs, variation_files
        from sideman.render import assemble

        # this master's files at once, whether or not the other master is done
        file_jobs = song_file_jobs if name == "song" else instrumental_file_jobs
        for _, job in file_jobs(self.out_dir / self.folder, result.audio, sample_rate_hz=self.settings.sample_rate_hz,
                                mp3_bitrate_kbps=self.settings.mp3_bitrate_kbps):
            self._add_pending()
            self._submit(3, job, then=self._one_done)
        with self._lock:
            self._masters[name] = result
            if len(self._masters) < 2:
                return
        self.mastered_at = time.perf_counter()
        self.mastered.set_result(None)
        rendered = assemble(self._mixed, instrumental=self._masters["instrumental"], song=self._masters["song"],
                            soundfont=self.soundfont, sample_rate_hz=self.settings.sample_rate_hz)
        self._mixed, self._masters = None, {}
        self.rendered = rendered
        self.files = variation_files(self.folder, stem_roles=tuple(rendered.stems))
        self._one_done(None)  # the synth -> mix -> master chain itself

    # bookkeeping ----------------------------------------------------------------------
    def _add_pending(self) -> None:
        with self._lock:
            self._pending += 1

    def _one_done(self, _result) -> None:
        with self._lock:
            self._pending -= 1
            finished = self._pending == 0 and self.files is not None
        if finished and not self.delivered.done():
            self.delivered.set_result(None)

    def _submit(self, step: int, fn, *, then) -> None:
        def run() -> None:
            if self.delivered.done():
                return  # an earlier step failed
            try:
                result = fn()
                then(result)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
                if not self.delivered.done():
                    self.delivered.set_exception(error)
                if not self.synthesized.done():
                    self.synthesized.set_exception(error)
                if not self.mastered.done():
                    self.mastered.set_exception(error)

        self.pool.submit((self.index, step), run)


class _PriorityPool:
    """Worker threads taking the ready task with the lowest priority tuple first
    (ties: first come). A context manager: leaving it waits for the workers."""

    def __init__(self, workers: int) -> None:
        self._heap: list[tuple[tuple[int, int], int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"sideman-render-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, priority: tuple[int, int], fn: Callable[[], None]) -> None:
        with self._ready:
            heapq.heappush(self._heap, (priority, next(self._counter), fn))
            self._ready.notify()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._heap and not self._closed:
                    self._ready.wait()
                if not self._heap:
                    return
                _, _, fn = heapq.heappop(self._heap)
            fn()
            del fn  # an idle worker must not keep the last task's audio alive

    def __enter__(self) -> _PriorityPool:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._ready:
            self._closed = True
            if exc[0] is not None:
                self._heap.clear()
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()


def _start_first_stems(arrangement, input_duration_seconds: float, *, soundfont, settings: Settings) -> Future | None:
    """Start variation 1's synthesis in the worker processes (None: no pool, or it could
    not start; its job then starts it as any other)."""
    from sideman.render.synth_pool import start_stems

    origin, duration = _output_span(arrangement, input_duration_seconds)
    try:
        return start_stems(arrangement.score, soundfont=soundfont, sample_rate_hz=settings.sample_rate_hz,
                           origin_seconds=origin, duration_seconds=duration, workers=settings.synth_processes,
                           urgent=True)
    except Exception:  # noqa: BLE001 - the job starts it again and reports the error
        log.debug("variation 1's synthesis did not start early", exc_info=True)
        return None


#: seconds the last notes ring after the band's final bar
RELEASE_TAIL_SECONDS = 1.5


def _output_span(arrangement, input_duration_seconds: float) -> tuple[float, float]:
    """(origin_seconds, duration_seconds) of the rendered audio: from the band's first
    downbeat (or the input's start, if earlier) to the later of the input's end and the
    band's last note plus a release tail."""
    origin = min(arrangement.start_seconds, 0.0)
    end = max(input_duration_seconds, arrangement.end_seconds + RELEASE_TAIL_SECONDS)
    return origin, end - origin


def _override_fields(stored: dict) -> dict:
    """A manifest's `overrides` object as parse_overrides keywords."""
    names = {"tempo_bpm": "tempo_bpm", "tap_times_seconds": "tap_times_seconds", "meter": "meter", "key": "key",
             "tuning_cents": "tuning_cents", "first_downbeat_seconds": "first_downbeat_seconds", "chords": "chords"}
    return {names[k]: v for k, v in stored.items() if k in names and v is not None}


def rerender_request(manifest_path: Path, **changes: object) -> GenerateRequest:
    """The GenerateRequest that re-renders the run of `manifest_path` with its title,
    tags, model, knobs and seed, except where `changes` (GenerateRequest fields, None:
    unchanged) says otherwise. Overrides given in `changes` are laid over that run's.

    Raises InvalidField (param `from`) when the manifest cannot be read."""
    from sideman.deliver.stored import read_manifest

    manifest_path, manifest = read_manifest(manifest_path, param="from")
    knobs = manifest.get("knobs") or {}
    fields: dict = {
        "title": manifest.get("title") or "", "tags": manifest.get("tags") or "",
        "negative_tags": manifest.get("negative_tags") or "", "model": manifest.get("model") or "V4_5PLUS",
        "vocal_gender": knobs.get("vocal_gender"), "seed": manifest.get("seed"),
        "variations": len(manifest.get("variations") or []) or 2,
    }
    for name in ("style_weight", "weirdness_constraint", "audio_weight"):
        if knobs.get(name) is not None:
            fields[name] = knobs[name]
    fields.update({k: v for k, v in changes.items() if v is not None})
    return GenerateRequest(audio_path=manifest_path, from_manifest=manifest_path, **fields)


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
