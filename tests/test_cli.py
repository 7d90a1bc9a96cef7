"""End to end through the `sideman` command: manifest shape (shared CLI.md), files,
loudness, reproducibility."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import mido
import pytest

from conftest import SHARED_EVAL, needs_shared_eval
from sideman.render import measure_loudness_lufs, measure_true_peak_dbtp

SIDEMAN = [sys.executable, "-m", "sideman.cli"]
VARIATION_FIELDS = {"audio_id", "seed", "prompt", "tempo_bpm", "meter", "key", "beats_seconds",
                    "downbeats_seconds", "chords", "instruments", "duration_seconds", "loudness_lufs",
                    "true_peak_dbtp", "files"}


def _decode_stereo(path: Path):
    import numpy as np

    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=44100)
        chunks = [f.to_ndarray().reshape(-1, 2) for frame in container.decode(audio=0)
                  for f in resampler.resample(frame)]
    return np.concatenate(chunks)


@pytest.fixture(scope="module")
def added(tmp_path_factory, melody_wav: Path):
    out = tmp_path_factory.mktemp("out")
    run = subprocess.run([*SIDEMAN, "add", str(melody_wav), "--tags", "pop, piano", "--title", "Test",
                          "--seed", "4", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return out, json.loads((out / "manifest.json").read_text())


def test_manifest_has_the_documented_shape(added) -> None:
    out, manifest = added
    for field in ("title", "tags", "negative_tags", "model", "analysis", "timings_seconds", "variations"):
        assert field in manifest
    assert set(manifest["timings_seconds"]) >= {"ingest", "analysis", "arrangement", "render", "deliver", "total"}
    assert all(seconds >= 0 for seconds in manifest["timings_seconds"].values())
    assert len(manifest["variations"]) == 2
    assert manifest["variations"][0]["seed"] != manifest["variations"][1]["seed"]
    for v in manifest["variations"]:
        assert VARIATION_FIELDS <= set(v)
        assert set(v["files"]) >= {"song_mp3", "instrumental_mp3", "instrumental_wav", "midi", "cover", "stems"}
        for instrument in v["instruments"]:
            assert set(instrument) == {"role", "program", "is_drum", "name"}
        # the band plays the analysed grid at the singer's tuning
        assert v["tempo_bpm"] == manifest["analysis"]["tempo_bpm"]
        assert v["tuning_cents"] == manifest["analysis"]["tuning_cents"]
    assert set(manifest["analysis"]["confidence"]) == {"tempo", "meter", "downbeat", "key", "tuning"}


def test_every_listed_file_exists_and_decodes(added) -> None:
    out, manifest = added
    for v in manifest["variations"]:
        files = v["files"]
        paths = [files[k] for k in ("song_mp3", "instrumental_mp3", "instrumental_wav")] + list(files["stems"].values())
        for rel in paths:
            audio = _decode_stereo(out / rel)
            assert len(audio) / 44100 == pytest.approx(v["duration_seconds"], abs=0.1)
        mido.MidiFile(str(out / files["midi"]))
        from PIL import Image

        with Image.open(out / files["cover"]) as cover:
            assert cover.format == "JPEG" and min(cover.size) >= 512


def test_song_and_instrumental_are_mastered(added) -> None:
    out, manifest = added
    for v in manifest["variations"]:
        for key in ("song_mp3", "instrumental_wav"):
            audio = _decode_stereo(out / v["files"][key])
            assert measure_loudness_lufs(audio, sample_rate_hz=44100) == pytest.approx(-14.0, abs=1.0)
            assert measure_true_peak_dbtp(audio, sample_rate_hz=44100) <= -0.9  # MP3 adds a little
        assert v["loudness_lufs"] == pytest.approx(-14.0, abs=0.5)
        assert v["true_peak_dbtp"] <= -1.0


def test_instrumental_covers_the_input_with_an_intro(added, melody) -> None:
    _, manifest = added
    for v in manifest["variations"]:
        assert v["offset_seconds"] >= 0
        assert v["duration_seconds"] >= v["offset_seconds"] + len(melody.samples) / 44100
        assert v["chords"][-1]["label"].startswith("G:")


def test_same_seed_gives_the_same_midi(tmp_path: Path, melody_wav: Path, added) -> None:
    out, manifest = added
    again = tmp_path / "again"
    subprocess.run([*SIDEMAN, "add", str(melody_wav), "--tags", "pop, piano", "--title", "Test", "--seed", "4",
                    "--variations", "1", "--out", str(again)], check=True, capture_output=True, timeout=300)
    first = (out / manifest["variations"][0]["files"]["midi"]).read_bytes()
    assert (again / "v1" / "arrangement.mid").read_bytes() == first


def test_analyze_json(melody_wav: Path) -> None:
    run = subprocess.run([*SIDEMAN, "analyze", str(melody_wav), "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["key"] == "G major" and data["meter"] == "4/4"


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.wav"
    bogus.write_text("hello")
    run = subprocess.run([*SIDEMAN, "add", str(bogus), "--tags", "pop", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "not audio" in run.stderr and "Traceback" not in run.stderr


@needs_shared_eval()
@pytest.mark.slow
def test_pop909_001_end_to_end(tmp_path: Path) -> None:
    source = SHARED_EVAL / "dev" / "pop909-001.flac"
    run = subprocess.run([*SIDEMAN, "add", str(source), "--tags", "pop, piano", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for v in manifest["variations"]:
        assert v["duration_seconds"] >= 53.8
        assert v["loudness_lufs"] == pytest.approx(-14, abs=1)
