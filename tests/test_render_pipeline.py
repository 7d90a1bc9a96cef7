"""generate() renders variations concurrently: the stage events keep their order
(text, then first once variation 1's files exist, then complete), the manifest's files
exist at each event, and a run is reproducible (same seed, same MIDI bytes)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from sideman.pipeline import GenerateRequest, generate
from sideman.settings import Settings


@pytest.fixture(scope="module")
def run(melody_wav: Path):
    data = Path(tempfile.mkdtemp())
    out = data / "out"
    events: list[tuple[str, set[str]]] = []

    def on_stage(event) -> None:
        present = set()
        for variation in event.manifest.get("variations", []):
            files = variation.get("files") or {}
            for key, rel in files.items():
                paths = rel.values() if isinstance(rel, dict) else [rel]
                if all((out / p).is_file() and (out / p).stat().st_size > 0 for p in paths):
                    present.add(f"v{variation['variation']}:{key}")
        events.append((event.stage, present))

    manifest = generate(GenerateRequest(melody_wav, tags="pop, piano", seed=3, variations=2), out_dir=out,
                        settings=Settings(data_dir=data), on_stage=on_stage)
    return out, manifest, events


def test_event_order_and_files_at_each_event(run) -> None:
    out, manifest, events = run
    stages = [stage for stage, _ in events]
    assert stages.index("text") < stages.index("first") < stages.index("complete")
    assert stages[-1] == "complete"
    first = dict(events)["first"]
    for key in ("song_mp3", "instrumental_mp3", "instrumental_wav", "midi", "cover", "stems"):
        assert f"v1:{key}" in first, key
    complete = dict(events)["complete"]
    assert {f"v2:{key}" for key in ("song_mp3", "instrumental_mp3", "stems")} <= complete


def test_reverb_return_is_a_stem_and_masters_meet_targets(run) -> None:
    _, manifest, _ = run
    for variation in manifest["variations"]:
        assert "reverb" in variation["files"]["stems"]
        for prefix in ("", "song_"):
            assert variation[f"{prefix}loudness_lufs"] == pytest.approx(-14.0, abs=0.5)
            assert variation[f"{prefix}true_peak_dbtp"] <= -1.0


def test_same_seed_same_midi_bytes(run, melody_wav: Path) -> None:
    out, manifest, _ = run
    data = Path(tempfile.mkdtemp())
    again = generate(GenerateRequest(melody_wav, tags="pop, piano", seed=3, variations=2), out_dir=data / "o",
                     settings=Settings(data_dir=data))
    for a, b in zip(manifest["variations"], again["variations"], strict=True):
        assert (out / a["files"]["midi"]).read_bytes() == (data / "o" / b["files"]["midi"]).read_bytes()
