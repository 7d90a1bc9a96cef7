"""`sideman eval`'s scoring rules: which references count, how a wrong key relates to
the true one, and a whole case scored end to end on a synthetic voice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sideman.evaluation import evaluate_folder, format_table, key_relation, trusted_fields
from signals import sung_melody, write_audio


@pytest.mark.parametrize(("reference", "estimate", "relation"), [
    ("C major", "C major", "correct"), ("C major", "G major", "fifth"), ("C major", "F major", "fifth"),
    ("C major", "A minor", "relative"), ("A minor", "C major", "relative"), ("C major", "C minor", "parallel"),
    ("C major", "E minor", "other"), ("Bb major", "G minor", "relative"), ("F# minor", "A major", "relative"),
])
def test_key_relation(reference, estimate, relation) -> None:
    assert key_relation(reference, estimate) == relation


def test_silver_references_count_only_where_their_checks_passed() -> None:
    silver = {"beats_seconds": [0.5, 1.0], "key": "C major", "notes": [[0, 1, 60]],
              "silver_evidence": {"beats_trusted": False, "key_trusted": True},
              "truth": {"notes": "derived-from-annotated-f0"}}
    assert trusted_fields(silver) == (False, True, False)
    scored = {"key": "F minor", "key_confidence": "low", "notes": [[0, 1, 60]], "truth": {"notes": "annotated"}}
    assert trusted_fields(scored) == (False, False, True)
    exact = {"beats_seconds": [0.5, 1.0], "key": "E major", "notes": [[0, 1, 60]]}  # dev: exact truth
    assert trusted_fields(exact) == (True, True, True)


def test_a_case_is_scored_end_to_end(tmp_path: Path) -> None:
    melody = sung_melody(bars=8, cents=-30.0)
    write_audio(tmp_path / "voice.wav", melody.samples)
    period = 60.0 / melody.tempo_bpm
    beats = [melody.first_downbeat_seconds + k * period for k in range(32)]
    (tmp_path / "voice.json").write_text(json.dumps({
        "id": "voice", "audio": "voice.wav", "kind": "synthetic-sung", "duration_seconds": 20.0,
        "tempo_bpm": melody.tempo_bpm, "beats_seconds": beats, "key": melody.key, "meter": "4/4",
        "notes": [[s, e, p - 0.3] for s, e, p in melody.notes], "tuning_offset_semitones": -0.3,
    }))
    result = evaluate_folder(tmp_path)
    row = result["cases"][0]
    assert row["tempo_ok"] == 1.0 and row["key_score"] == 1.0 and row["meter_ok"] == 1.0
    assert row["band_beat_cmlt"] >= 0.8 and row["note_f1"] >= 0.8
    assert row["tuning_error_cents"] <= 10.0 and row["clash_ratio"] <= 0.05
    assert result["key_confusion"]["correct"] == 1
    assert "voice" in format_table(result)
