from __future__ import annotations

from sideman.deliver.chart import chart_json, lead_sheet
from sideman.music import Chord, ChordSpan

BARS = ((0.0, 2.0), (2.0, 4.0), (4.0, 6.0))
CHORDS = (
    ChordSpan(0.0, 2.0, Chord.parse("G:maj")),
    ChordSpan(2.0, 3.5, Chord.parse("C:maj")),
    ChordSpan(3.5, 4.0, Chord.parse("D:7")),
    ChordSpan(4.0, 6.0, Chord.parse("G:maj")),
)


def test_chart_gives_bar_and_beat_of_each_chord() -> None:
    chart = chart_json(CHORDS, key="G major", meter="4/4", tempo_bpm=120.0, bars=BARS)
    assert [(c["bar"], c["beat"], c["symbol"]) for c in chart["chords"]] == [
        (1, 1.0, "G"), (2, 1.0, "C"), (2, 4.0, "D7"), (3, 1.0, "G")]
    assert chart["chords"][2]["label"] == "D:7"


def test_lead_sheet_has_bar_lines_and_two_chords_in_a_bar() -> None:
    sheet = lead_sheet(CHORDS, title="Song", key="G major", meter="4/4", tempo_bpm=120.0, bars=BARS)
    row = sheet.strip().splitlines()[-1]
    assert row.startswith("  1 |") and row.count("|") == 4
    assert "C  D7" in row
