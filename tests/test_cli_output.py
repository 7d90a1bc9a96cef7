"""What `sideman add` and `sideman analyze` show a person: the stage progress (a bar on
a terminal, plain lines elsewhere), the closing table, the readable analysis summary,
the --plot PNG, and --help with examples."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from sideman import cli
from sideman.cli_output import StageProgress, add_table, analysis_summary, chord_symbol
from sideman.pipeline import StageEvent
from sideman.tasks.testing import fake_generate
from signals import sung_melody, write_audio

EVENTS = [("ingest", 2), ("analysis", 8), ("text", 20), ("first", 60), ("complete", 100)]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def short_take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_audio(tmp_path_factory.mktemp("take") / "take.wav", sung_melody(bars=4).samples)


def test_progress_is_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = StageProgress(stream, variations=2)
    for stage, percent in EVENTS:
        progress(StageEvent(stage, percent, {}))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split()[-1] for line in lines] == [stage for stage, _ in EVENTS]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert lines[1].endswith(" 8% analysis")


def test_progress_is_one_redrawn_bar_with_stage_names_on_a_terminal() -> None:
    stream = _Tty()
    progress = StageProgress(stream, variations=2, tick_seconds=0)
    for stage, percent in EVENTS:
        progress(StageEvent(stage, percent, {}))
    progress.close()
    text = stream.getvalue()
    frames = text.split("\r")[1:]
    assert len(frames) == len(EVENTS) and text.endswith("\n") and text.count("\n") == 1
    assert "listening" in frames[1]
    assert "playing take 1/2" in frames[2] and "playing take 2/2" in frames[3]
    assert "100%" in frames[4] and "done" in frames[4] and "░" not in frames[4]


def test_the_bar_keeps_ticking_between_stages_and_stops_on_close() -> None:
    stream = _Tty()
    progress = StageProgress(stream, variations=1, tick_seconds=0.01)
    progress(StageEvent("text", 20, {}))
    time.sleep(0.2)
    progress.close()
    written = stream.getvalue()
    assert written.count("\r") > 3 and written.endswith("\n")
    time.sleep(0.05)
    assert stream.getvalue() == written


@pytest.mark.parametrize(("label", "symbol"), [
    ("G:maj", "G"), ("A:min", "Am"), ("D:7", "D7"), ("F#:min7", "F#m7"), ("C:maj/E", "C/E"),
    ("B:dim", "B°"), ("N", "N.C."),
])
def test_chord_symbols(label: str, symbol: str) -> None:
    assert chord_symbol(label) == symbol


def test_add_prints_progress_on_stderr_and_a_table_on_stdout(
    tmp_path: Path, short_take: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sideman.pipeline.generate", fake_generate)
    out = tmp_path / "out"
    assert cli.main(["add", str(short_take), "--tags", "pop, piano", "--out", str(out), "--variations", "2"]) == 0
    captured = capsys.readouterr()
    assert "% complete" in captured.err and "% text" in captured.err  # not a TTY: plain lines
    for word in ("take 1", "take 2", "tempo", "meter", "key", "chords", "instruments", "files",
                 str(out / "v1"), "manifest.json"):
        assert word in captured.out, word


def test_add_table_lists_what_each_take_plays(tmp_path: Path) -> None:
    manifest = {
        "analysis": {"tempo_bpm": 100.0, "meter": "4/4", "key": "G major", "duration_seconds": 11.2},
        "variations": [{
            "variation": 1, "tempo_bpm": 100.0, "meter": "4/4", "key": "G major",
            "chords": [{"start_seconds": 0, "end_seconds": 2.4, "label": "G:maj"},
                       {"start_seconds": 2.4, "end_seconds": 4.8, "label": "E:min"}],
            "instruments": [{"role": "bass", "name": "electric bass", "program": 33, "is_drum": False}],
            "loudness_lufs": -14.0, "true_peak_dbtp": -1.2, "duration_seconds": 17.1,
            "files": {"song_mp3": "v1/song.mp3", "midi": "v1/arrangement.mid",
                      "stems": {"bass": "v1/stems/bass.wav"}},
        }],
    }
    table = add_table(manifest, out_dir=tmp_path)
    assert "G | Em" in table
    assert "electric bass (bass)" in table
    assert str(tmp_path / "v1/stems/bass.wav") in table and str(tmp_path / "v1/arrangement.mid") in table
    assert "100.0 bpm" in table and "4/4" in table and "G major" in table


def test_analysis_summary_reads_like_a_lead_sheet() -> None:
    summary = analysis_summary({
        "duration_seconds": 11.2, "tempo_bpm": 100.0, "meter": "4/4", "beats_seconds": [0.6] * 16,
        "downbeats_seconds": [0.6] * 4, "key": "G major",
        "notes": [{"start_seconds": 0.6, "end_seconds": 1.0, "pitch_midi": 67}],
        "chords": [{"start_seconds": 0.6, "end_seconds": 3.0, "label": "G:maj"},
                   {"start_seconds": 3.0, "end_seconds": 5.4, "label": "C:maj"}],
        "sections": [{"start_seconds": 0.0, "end_seconds": 11.2, "label": "A"}],
        "vocal_range_midi": [62, 74],
    }, name="take.wav")
    assert summary.startswith("take.wav: 11.2 s")
    assert "100.0 bpm" in summary and "G major" in summary and "G | C" in summary
    assert "D4–D5" in summary


def test_analyze_prints_a_summary_and_saves_a_plot(
    tmp_path: Path, short_take: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "plots" / "take.png"
    assert cli.main(["analyze", str(short_take), "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("take.wav:") and "key" in captured.out and "chords" in captured.out
    assert png.read_bytes()[:8] == PNG_MAGIC
    from PIL import Image

    with Image.open(png) as image:
        assert image.width >= 800 and image.height >= 500


def test_plot_without_matplotlib_says_how_to_install_it(
    short_take: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # find_spec answers None: not installed
    assert cli.main(["analyze", str(short_take), "--plot", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install" in err and "sideman[plot]" in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("command", ["add", "analyze"])
def test_help_has_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"sideman {command} " in text
