"""A song, not a loop: the arc (arrangement/arc.py) and the figures `sideman eval
--arrangement` reports, on the synthetic melody and on a folder in the eval format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sideman.analysis import analyze
from sideman.arrangement import Knobs, arrange
from sideman.arrangement.arc import CHORUS, INTRO, VERSE, plan_arc
from sideman.arrangement_eval import (
    arrangement_figures,
    evaluate_arrangement_folder,
    format_arrangement_table,
)
from sideman.ingest import Audio
from sideman.music import Section
from sideman.style import style_from_tags

#: the issue's goals (issue 14): form contrast, a sparse intro, no loop, two bands
CONTRAST_GOAL, INTRO_GOAL, REPEAT_GOAL, SAME_BASS_GOAL = 1.3, 0.7, 0.6, 0.3


@pytest.fixture(scope="module")
def heard(melody):
    return analyze(Audio(melody.samples, 44100))


def _takes(heard, tags: str = "pop, piano", knobs: Knobs | None = None):
    style = style_from_tags(tags)
    return [arrange(heard, style, knobs=knobs or Knobs(), seed=5 + i, variation=i) for i in range(2)]


def test_the_arc_has_an_intro_a_verse_and_a_chorus(heard) -> None:
    band = _takes(heard)[0]
    levels = [role.level for role in band.arc]
    assert len(band.arc) == len(band.form.bars)
    assert levels[: band.form.intro_bars] == [INTRO] * band.form.intro_bars
    sung = levels[band.form.intro_bars : len(levels) - band.form.outro_bars]
    assert sung[0] == VERSE and sung[-1] >= CHORUS  # a lighter first verse, a lift into the chorus
    assert sorted(sung) == sung  # the energy only rises over these eight bars


def test_sections_from_the_analysis_alternate_verse_and_chorus(heard) -> None:
    band = _takes(heard)[0]
    form = band.form
    sung_start, sung_end = form.bars[form.intro_bars][0], form.bars[-1 - form.outro_bars][1]
    middle = form.bars[form.intro_bars + 4][0]
    sections = (Section(sung_start, middle, "A"), Section(middle, sung_end, "B"))
    arc = plan_arc(form, sections=sections, melody=())
    names = [role.section for role in arc]
    assert names[form.intro_bars] == "verse" and names[form.intro_bars + 4] == "chorus"
    assert arc[form.intro_bars + 3].section_end and arc[form.intro_bars + 3].build
    # no melody given: the voice rests through every sung bar
    assert all(role.rest for role in arc[form.intro_bars : len(arc) - form.outro_bars])


def test_form_figures_meet_the_goals(heard) -> None:
    figures = arrangement_figures(_takes(heard))
    assert figures["intro_ratio"] <= INTRO_GOAL
    for role in ("bass", "keys"):
        assert figures[f"repeat_{role}"] <= REPEAT_GOAL, (role, figures)
    assert figures["same_bass"] <= SAME_BASS_GOAL
    assert figures["drum_velocity_high"] > figures["drum_velocity_low"]


def test_the_chorus_hits_harder_than_the_verse(heard) -> None:
    band = _takes(heard)[0]
    drums = next(t for t in band.score.tracks if t.is_drum)

    def backbeat(bars: list[int]) -> float:
        """Mean velocity of the kicks and snares on the beat (the same hits in both)."""
        spans = [band.form.bars[b] for b in bars]
        on_beat = lambda t: abs(band.form.grid.beat_position(t) % 1) < 0.01  # noqa: E731
        return float(np.mean([n.velocity for n in drums.notes if n.pitch_midi in (36, 38, 37)
                              and on_beat(n.start_seconds) and any(a <= n.start_seconds < e for a, e in spans)]))

    verse = [b for b, r in enumerate(band.arc) if r.section == "verse"]
    chorus = [b for b, r in enumerate(band.arc) if r.level >= CHORUS and b < len(band.arc) - 1]
    assert backbeat(chorus) - backbeat(verse) >= 8


def test_verse_and_chorus_density_contrast(heard) -> None:
    band = _takes(heard)[0]
    counts = np.zeros(len(band.form.bars))
    for track in band.score.tracks:
        for note in track.notes:
            counts[min(np.searchsorted([a for a, _ in band.form.bars], note.start_seconds + 1e-3) - 1,
                       len(counts) - 1)] += 1
    verse = [b for b, r in enumerate(band.arc) if r.section == "verse"]
    chorus = [b for b, r in enumerate(band.arc) if r.level >= CHORUS]
    assert counts[chorus].mean() >= CONTRAST_GOAL * counts[verse].mean()


@pytest.mark.parametrize("tags", ["rock", "jazz", "bossa nova", "reggae", "funk", "edm", "country", "latin"])
def test_two_takes_are_two_bands(heard, tags: str) -> None:
    first, second = _takes(heard, tags)
    figures = arrangement_figures([first, second])
    assert figures["same_bass"] <= SAME_BASS_GOAL, figures
    assert figures["same_drums"] is None or figures["same_drums"] <= 0.5, figures
    assert first.style.groove != second.style.groove or first.style.bass_pattern != second.style.bass_pattern


def test_the_arc_costs_little_and_keeps_same_seed_same_notes(heard) -> None:
    import time

    started = time.perf_counter()
    a = _takes(heard)
    elapsed = time.perf_counter() - started
    b = _takes(heard)
    assert elapsed < 2.0  # two takes of an eight-bar song
    assert [t.notes for t in a[0].score.tracks] == [t.notes for t in b[0].score.tracks]


def test_eval_folder_reports_the_figures(tmp_path, melody_wav, melody) -> None:
    case = {"id": "synthetic", "audio": "melody.wav", "kind": "synthetic-sung", "duration_seconds": 20.0,
            "chords": [[round(s, 6), round(e, 6), label] for s, e, label in melody.chords],
            "notes": [[s, e, p] for s, e, p in melody.notes]}
    (tmp_path / "melody.wav").write_bytes(melody_wav.read_bytes())
    (tmp_path / "synthetic.json").write_text(json.dumps(case))
    result = evaluate_arrangement_folder(tmp_path)
    row = result["cases"][0]
    assert row["chord_majmin"] >= 0.55 and row["clash"] <= 0.03
    assert row["intro_ratio"] <= INTRO_GOAL and row["same_bass"] <= SAME_BASS_GOAL
    assert "synthetic" in format_arrangement_table(result)


def _synthetic_form(bars: int):
    """A form over `bars` sung bars at 120 bpm (one held G a bar, 3 beats long), from second 2."""
    from sideman.arrangement.form import plan_form
    from sideman.music import BeatGrid, Chord, ChordSpan, Key, Note

    beat = 0.5
    grid = BeatGrid(tuple(2.0 + i * beat for i in range(4 * bars + 1)))
    melody = tuple(Note(2.0 + i * 2.0, 2.0 + i * 2.0 + 3 * beat, 67) for i in range(bars))
    chords = (ChordSpan(2.0, 2.0 + bars * 2.0, Chord(7, "maj")),)
    form = plan_form(grid=grid, key=Key(7), chords=chords, sections=(), first_note_seconds=2.0,
                     last_note_end_seconds=melody[-1].end_seconds, duration_seconds=melody[-1].end_seconds + 1,
                     intro_bars=1)
    return form, melody


def _section_names(arc) -> list[str]:
    names: list[str] = []
    for role in arc:
        if not names or names[-1] != role.section or role.section_start:
            names.append(role.section)
    return names


def test_a_song_heard_as_verses_only_lifts_into_a_chorus() -> None:
    form, melody = _synthetic_form(18)
    sections = (Section(2.0, 34.0, "A"), Section(34.0, 38.0, "B"))  # sixteen bars, then a two-bar tail
    arc = plan_arc(form, sections=sections, melody=melody)
    assert _section_names(arc) == ["intro", "verse", "chorus", "chorus", "outro"]
    sung = arc[form.intro_bars : len(arc) - form.outro_bars]
    assert [role.level for role in sung[:9]] == [VERSE] * 8 + [CHORUS]


def test_a_long_song_breaks_down_and_lifts_the_last_chorus() -> None:
    from sideman.arrangement.arc import LAST_CHORUS

    form, melody = _synthetic_form(40)
    bar = 2.0
    labels = "ABABCB"  # verse, chorus, verse, chorus, middle, chorus: eight bars each but the last ones
    starts = [2.0 + k * 8 * bar for k in range(5)] + [2.0 + 36 * bar]
    ends = [*starts[1:], 2.0 + 40 * bar]
    sections = tuple(Section(a, e, lab) for a, e, lab in zip(starts, ends, labels, strict=True))
    arc = plan_arc(form, sections=sections, melody=melody)
    assert _section_names(arc) == ["intro", "verse", "chorus", "verse", "chorus", "breakdown", "last chorus", "outro"]
    assert max(role.level for role in arc) == LAST_CHORUS
    sung = arc[form.intro_bars : len(arc) - form.outro_bars]
    assert [role.bar_in_phrase for role in sung[:8]] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert sung[7].phrase_end and sung[7].section_end and sung[7].build  # a fill and a build into the chorus
    assert sung[-1].phrase_end  # a fill into the closing hit
    assert all(role.rest for role in sung)  # each note ends before the bar's last beat
    assert sung[7].stop and not sung[6].stop  # where a section ends in a rest, the band drops out


def test_compound_meter_keeps_the_answers_out() -> None:
    """6/8: the answers' straight sixteenths would miss its eighths, so the parts keep their pattern."""
    from sideman.arrangement.form import plan_form
    from sideman.music import BeatGrid, Chord, ChordSpan, Key, Note

    grid = BeatGrid(tuple(1.0 + i * 0.75 for i in range(2 * 16 + 1)), beats_per_bar=2, beat_unit=8)
    melody = tuple(Note(1.0 + i * 1.5, 1.0 + i * 1.5 + 1.0, 64) for i in range(16))
    form = plan_form(grid=grid, key=Key(4), chords=(ChordSpan(1.0, 25.0, Chord(4, "maj")),), sections=(),
                     first_note_seconds=1.0, last_note_end_seconds=melody[-1].end_seconds,
                     duration_seconds=26.0, intro_bars=2)
    arc = plan_arc(form, sections=(), melody=melody)
    assert not any(role.answer or role.turnaround for role in arc)
    assert {role.section for role in arc} >= {"verse", "chorus"}
