"""`sideman eval --mix` on a folder made here: a synthetic sung case and synthetic
"real" stems with known balances."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from sideman.cli import main
from sideman.mix_eval import GOALS, evaluate_mix_folder, evaluate_reference
from signals import sung_melody, write_audio

SR = 44100


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mixeval")
    write_audio(out / "case.wav", sung_melody(bars=6).samples)
    (out / "case.json").write_text(json.dumps({"id": "case", "audio": "case.wav", "kind": "synthetic-sung",
                                               "duration_seconds": 15.0}))
    rng = np.random.default_rng(0)
    n = 6 * SR
    for role, level in (("drums", 0.2), ("bass", 0.1), ("other", 0.2), ("vocals", 0.3)):
        stem = (rng.normal(0, level, (n, 2)) * 32767 * 0.5).astype(np.int16)
        wavfile.write(out / f"song-{role}.wav", SR, stem)
    return out


def test_each_variation_is_measured_against_the_goals(folder: Path) -> None:
    result = evaluate_mix_folder(folder, limit=1)
    rows = result["variations"]
    assert [r["variation"] for r in rows] == [1, 2]
    for row in rows:
        assert row["featured_role"] == "keys"  # "pop, piano": the piano is featured
        assert row["featured_gap_lu"] <= 2.0
        assert row["stem_spread_lu"] <= 4.0
        assert -40.0 < row["low_share_db"] < 0.0 and -40.0 < row["presence_share_db"] < 0.0
        assert row["side_to_mid_db"] >= -11.0  # V4_5PLUS: full stereo
        assert row["vocal_to_band_db"] is not None and abs(row["vocal_to_band_db"]) < 6.0
    for column in GOALS:
        assert result["mean"][f"{column}_met"].endswith("/2")


def test_reference_stems_are_read_the_same_way(folder: Path) -> None:
    (row,) = evaluate_reference(folder)
    loud = row["stem_loudness_lufs"]
    # bass at half the amplitude of the others: 6 dB quieter
    assert loud["drums"] - loud["bass"] == pytest.approx(6.0, abs=0.3)
    assert row["stem_spread_lu"] == pytest.approx(6.0, abs=0.3)
    assert row["featured_role"] == "other"
    assert math.isfinite(row["vocal_to_band_db"])


def test_the_command_prints_the_table(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--mix", str(folder), "--limit", "1", "--reference", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "goals met" in text and "real stems" in text and "spread" in text
