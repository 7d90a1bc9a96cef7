"""deliver: the files of each variation and manifest.json (shape: shared CLI.md).

Per variation folder `v<N>/`: song.mp3, instrumental.mp3, instrumental.wav,
stems/<role>.wav, arrangement.mid, chords.json, chords.txt, cover.jpg."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from sideman.arrangement import Arrangement
from sideman.deliver.chart import chart_json, lead_sheet
from sideman.deliver.cover import draw_cover
from sideman.deliver.midi import write_midi
from sideman.music import Note
from sideman.render import RenderedVariation, SpooledAudio, encode_mp3, write_wav
from sideman.render.encode import WavWriter

__all__ = [
    "instrumental_file_jobs",
    "song_file_jobs",
    "stem_files_job",
    "variation_entry",
    "variation_file_jobs",
    "variation_files",
    "write_manifest",
    "write_variation_files",
]

#: one variation's files that need no audio, and each audio file: (name, job) pairs
FileJob = tuple[str, Callable[[], None]]


def write_variation_files(
    out_dir: Path,
    *,
    folder: str,
    arrangement: Arrangement,
    rendered: RenderedVariation,
    origin_seconds: float,
    title: str,
    melody: tuple[Note, ...],
    mp3_bitrate_kbps: int,
) -> dict[str, object]:
    """Write one variation's files under out_dir/folder, one after another; returns the
    manifest `files` map (paths relative to out_dir). `variation_file_jobs` gives the
    same work as independent jobs for a thread pool."""
    for _, job in variation_file_jobs(
        out_dir, folder=folder, arrangement=arrangement, rendered=rendered,
        origin_seconds=origin_seconds, title=title, melody=melody, mp3_bitrate_kbps=mp3_bitrate_kbps,
    ):
        job()
    return variation_files(folder, stem_roles=tuple(rendered.stems))


def variation_file_jobs(
    out_dir: Path,
    *,
    folder: str,
    arrangement: Arrangement,
    rendered: RenderedVariation | None,
    origin_seconds: float,
    title: str,
    melody: tuple[Note, ...],
    mp3_bitrate_kbps: int,
) -> list[FileJob]:
    """The writes of one variation as independent jobs, the slowest first: the two MP3
    encodes (LAME releases the GIL, so they run in parallel threads), the WAVs, then
    MIDI, chord chart and cover (`song_file_jobs`, `instrumental_file_jobs` and
    `stem_files_job` give the audio ones separately, to start each as soon as its
    input exists). With rendered=None, only the jobs that need no audio
    (MIDI, chart, cover), which can run before the audio exists."""
    base = out_dir / folder
    (base / "stems").mkdir(parents=True, exist_ok=True)
    jobs: list[FileJob] = []
    if rendered is not None:
        rate = rendered.sample_rate_hz
        jobs += song_file_jobs(base, rendered.song, sample_rate_hz=rate, mp3_bitrate_kbps=mp3_bitrate_kbps)
        jobs += instrumental_file_jobs(base, rendered.instrumental, sample_rate_hz=rate,
                                       mp3_bitrate_kbps=mp3_bitrate_kbps)
        jobs.append(stem_files_job(base, rendered.stems, sample_rate_hz=rate))
    score = arrangement.score

    def score_files() -> None:
        write_midi(score, base / "arrangement.mid", origin_seconds=origin_seconds, title=title)
        chart = chart_json(arrangement.form.chords, key=score.key.label, meter=score.grid.meter,
                           tempo_bpm=score.grid.tempo_bpm, bars=arrangement.form.bars,
                           intro_bars=arrangement.form.intro_bars)
        (base / "chords.json").write_text(json.dumps(chart, indent=1))
        (base / "chords.txt").write_text(lead_sheet(arrangement.form.chords, title=title, key=score.key.label,
                                                    meter=score.grid.meter, tempo_bpm=score.grid.tempo_bpm,
                                                    bars=arrangement.form.bars,
                                                    first_bar_number=1 - arrangement.form.intro_bars))
        subtitle = (f"{score.key.label} · {score.grid.tempo_bpm:.0f} bpm · {arrangement.style.genre}"
                    f" · take {arrangement.variation + 1}")
        draw_cover(base / "cover.jpg", title=title, subtitle=subtitle, moods=arrangement.style.moods,
                   genre=arrangement.style.genre, notes=melody, variation=arrangement.variation)

    jobs.append(("score_files", score_files))
    return jobs


def variation_files(folder: str, *, stem_roles: tuple[str, ...]) -> dict[str, object]:
    """The manifest `files` map of one variation (paths relative to the output folder)."""
    return {
        "song_mp3": f"{folder}/song.mp3",
        "instrumental_mp3": f"{folder}/instrumental.mp3",
        "instrumental_wav": f"{folder}/instrumental.wav",
        "midi": f"{folder}/arrangement.mid",
        "chords_json": f"{folder}/chords.json",
        "lead_sheet": f"{folder}/chords.txt",
        "cover": f"{folder}/cover.jpg",
        "stems": {role: f"{folder}/stems/{role}.wav" for role in stem_roles},
    }


def song_file_jobs(base: Path, song, *, sample_rate_hz: int, mp3_bitrate_kbps: int) -> list[FileJob]:
    """The files of the song master (base: the variation's folder): song.mp3."""
    return [("song_mp3", lambda: encode_mp3(base / "song.mp3", song, sample_rate_hz=sample_rate_hz,
                                            bitrate_kbps=mp3_bitrate_kbps))]


def instrumental_file_jobs(base: Path, instrumental, *, sample_rate_hz: int, mp3_bitrate_kbps: int) -> list[FileJob]:
    """The files of the instrumental master: instrumental.mp3 and instrumental.wav."""
    return [
        ("instrumental_mp3", lambda: encode_mp3(base / "instrumental.mp3", instrumental,
                                                sample_rate_hz=sample_rate_hz, bitrate_kbps=mp3_bitrate_kbps)),
        ("instrumental_wav", lambda: write_wav(base / "instrumental.wav", instrumental,
                                               sample_rate_hz=sample_rate_hz, bits=16)),
    ]


def stem_files_job(base: Path, stems: dict, *, sample_rate_hz: int) -> FileJob:
    """The per-role stems (stems/<role>.wav, 24 bit): they need only the mix, so they can
    be written while the masters are made."""
    return "stems", lambda: _write_stems(base, stems, sample_rate_hz)


def _write_stems(base: Path, stems: dict, rate: int) -> None:
    for role, audio in stems.items():
        # 24-bit: the stems sum to the pre-master instrumental far below -40 dB of error
        path = base / "stems" / f"{role}.wav"
        if isinstance(audio, SpooledAudio):  # long input: streamed from disk
            with WavWriter(path, sample_rate_hz=rate, bits=24) as out:
                for block in audio.blocks():
                    out.write(block)
        else:
            write_wav(path, audio, sample_rate_hz=rate, bits=24)


def variation_entry(
    *,
    arrangement: Arrangement,
    rendered: RenderedVariation | None,
    origin_seconds: float,
    duration_seconds: float,
    files: dict[str, object] | None,
    input_digest: str,
    heard_tempo_bpm: float | None = None,
) -> dict[str, object]:
    """The manifest entry of one variation; before rendering (the text stage) the audio
    figures and files are absent. heard_tempo_bpm: the analysis's tempo, which the band
    plays (its grid is the analysed one; the median over the added intro and outro bars
    would differ a little)."""
    score = arrangement.score
    grid = score.grid
    start, end = origin_seconds, origin_seconds + duration_seconds
    played_beats = [round(b, 3) for b in grid.beats_seconds if start - 1e-6 <= b < end]
    played_downbeats = [round(b, 3) for b in grid.downbeats_seconds if start - 1e-6 <= b < end]
    entry: dict[str, object] = {
        "audio_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sideman:{input_digest}:{arrangement.seed}:{arrangement.variation}")),
        "variation": arrangement.variation + 1,
        "seed": arrangement.seed,
        "prompt": arrangement.brief,
        "genre": arrangement.style.genre,
        "tempo_bpm": round(heard_tempo_bpm or grid.tempo_bpm, 2),
        "tuning_cents": round(score.tuning_cents, 1),
        "meter": grid.meter,
        "key": score.key.label,
        "beats_seconds": played_beats,
        "downbeats_seconds": played_downbeats,
        "chords": [
            {"start_seconds": round(c.start_seconds, 3), "end_seconds": round(c.end_seconds, 3), "label": c.label}
            for c in arrangement.form.chords
        ],
        "sections": [
            {"start_seconds": round(s.start_seconds, 3), "end_seconds": round(s.end_seconds, 3), "label": s.label}
            for s in arrangement.form.sections
        ],
        "instruments": [
            {"role": t.role, "program": t.program, "is_drum": t.is_drum, "name": t.name} for t in score.tracks
        ],
        "offset_seconds": round(-origin_seconds, 3),
        "duration_seconds": round(duration_seconds, 3),
    }
    if rendered is not None:
        entry.update({
            "loudness_lufs": round(rendered.instrumental_loudness_lufs, 2),
            "true_peak_dbtp": round(rendered.instrumental_true_peak_dbtp, 2),
            "song_loudness_lufs": round(rendered.song_loudness_lufs, 2),
            "song_true_peak_dbtp": round(rendered.song_true_peak_dbtp, 2),
            "soundfont": rendered.soundfont.name,
        })
    if files is not None:
        entry["files"] = files
    return entry


def write_manifest(out_dir: Path, manifest: dict) -> Path:
    """Write out_dir/manifest.json atomically (a reader never sees half a file)."""
    path = out_dir / "manifest.json"
    tmp = out_dir / f".manifest.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)
    return path
