"""`sideman eval --arrangement DIR`: does the band play a song or a loop?

Per case, two takes are arranged the way `generate()` arranges them (seed s, variation
0; seed s + 1, variation 1) and scored from their scores (the notes the MIDI file
writes, before any performed feel):

- section_contrast: notes per bar (all parts) of the densest sung section over the
  sparsest (1.0 = every section alike; needs two sections or more).
- arc_contrast: the same over the sections as the band plays them (verse, chorus...;
  a long single analysed section is split into two), for every case.
- intro_ratio: notes per bar of the intro over the densest sung section.
- repeat_<role> / repeat_mean: share of sung bars whose onset rhythm a pitched part
  repeats exactly from the bar before (positions on a 1/12-beat grid).
- same_<role> / same_mean: share of sung bars where take 1 and take 2 play exactly the
  same notes (onset and pitch) in that role.
- chord_majmin: mir_eval majmin overlap of take 1's chart with the case's chords, at
  the default knobs; clash: share of long sung notes (>= 0.4 s) a semitone above a
  tone of the chord take 1 plays (FORMAT.md's clash).
- drum_velocity_low / drum_velocity_high: the softest and loudest bar's mean velocity
  of the drum hits on the beat, over the sung bars (flat dynamics: the two are close;
  on the beat only, so that a bar with more off-beat hats does not read as softer).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sideman.analysis import Analysis, analyze
from sideman.arrangement import Arrangement, Knobs, arrange
from sideman.arrangement.arc import arranged_sections
from sideman.evaluation import chord_majmin, column_means, read_cases
from sideman.ingest import decode
from sideman.style import style_from_tags

__all__ = ["ARRANGEMENT_METRICS", "arrangement_figures", "evaluate_arrangement_folder", "format_arrangement_table"]

LONG_NOTE_SECONDS = 0.4
#: onsets are compared on this grid (beats): sixteenths, swung eighths and triplets all land on it
_POSITION_STEPS_PER_BEAT = 12
#: pitched roles whose repetition and take identity are reported one by one
REPORTED_ROLES = ("bass", "keys", "guitar")
ARRANGEMENT_METRICS = ("section_contrast", "arc_contrast", "intro_ratio", "repeat_bass", "repeat_keys", "repeat_guitar",
                       "repeat_mean", "same_bass", "same_keys", "same_guitar", "same_drums", "same_mean",
                       "chord_majmin", "clash", "drum_velocity_low", "drum_velocity_high")


def evaluate_arrangement_folder(folder: Path, *, tags: str = "pop, piano", seed: int = 1,
                                knobs: Knobs | None = None) -> dict:
    """Score two takes of every case of `folder` (shared eval/FORMAT.md);
    returns {"folder", "tags", "cases": [...], "mean": {...}}."""
    cases = [evaluate_arrangement_case(case, analyze(decode(folder / case["audio"], sample_rate_hz=16000)),
                                       tags=tags, seed=seed, knobs=knobs or Knobs())
             for case in read_cases(folder)]
    mean = column_means(cases, ARRANGEMENT_METRICS)
    return {"folder": str(folder), "tags": tags, "cases": cases, "mean": mean}


def evaluate_arrangement_case(case: dict, heard: Analysis, *, tags: str, seed: int, knobs: Knobs) -> dict:
    style = style_from_tags(tags)
    takes = [arrange(heard, style, knobs=knobs, seed=seed + i, variation=i) for i in range(2)]
    row: dict = {"id": case["id"]}
    row.update(arrangement_figures(takes))
    row.update(chart_scores(takes[0], case))
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}


def arrangement_figures(takes: Sequence[Arrangement]) -> dict:
    """The form, repetition and take figures of one or two takes (see the module docstring)."""
    first = takes[0]
    bars = _Bars(first)
    out: dict = {}
    density = bars.notes_per_bar(first)
    sections = [s for s in first.form.sections if s.label not in ("intro", "outro")]
    per_section = [float(np.mean(density[idx])) for s in sections
                   if (idx := bars.indices_between(s.start_seconds, s.end_seconds))]
    out["section_contrast"] = (max(per_section) / max(min(per_section), 1e-9)) if len(per_section) >= 2 else None
    played = [s for s in arranged_sections(first.form, first.arc) if s.label not in ("intro", "outro")] \
        if first.arc else []
    per_played = [float(np.mean(density[idx])) for s in played
                  if (idx := bars.indices_between(s.start_seconds, s.end_seconds))]
    out["arc_contrast"] = (max(per_played) / max(min(per_played), 1e-9)) if len(per_played) >= 2 else None
    intro = list(range(first.form.intro_bars))
    out["intro_ratio"] = (float(np.mean(density[intro])) / max(per_section)
                          if intro and per_section and max(per_section) > 0 else None)
    sung = bars.sung()
    repeats = {}
    for track in first.score.tracks:
        if track.is_drum:
            continue
        rhythm = bars.rhythms(track.notes)
        pairs = [(rhythm[b - 1], rhythm[b]) for b in sung if b >= 1 and (rhythm[b] or rhythm[b - 1])]
        if pairs:
            repeats[track.role] = sum(a == b for a, b in pairs) / len(pairs)
    for role in REPORTED_ROLES:
        out[f"repeat_{role}"] = repeats.get(role)
    out["repeat_mean"] = float(np.mean(list(repeats.values()))) if repeats else None
    same = {}
    if len(takes) > 1:
        second = takes[1]
        roles = {t.role for t in first.score.tracks} | {t.role for t in second.score.tracks}
        for role in sorted(roles):
            a = bars.contents(_notes(first, role))
            b = bars.contents(_notes(second, role))
            played = [i for i in sung if a[i] or b[i]]
            if played:
                same[role] = sum(a[i] == b[i] for i in played) / len(played)
    for role in (*REPORTED_ROLES, "drums"):
        out[f"same_{role}"] = same.get(role)
    out["same_mean"] = float(np.mean(list(same.values()))) if same else None
    drums = [n for t in first.score.tracks if t.is_drum for n in t.notes]
    levels = [float(np.mean(v)) for v in bars.velocities(drums, sung) if v]
    out["drum_velocity_low"] = min(levels) if levels else None
    out["drum_velocity_high"] = max(levels) if levels else None
    return out


def chart_scores(take: Arrangement, case: dict) -> dict:
    """majmin overlap of the chart the band plays with the case's chords, and the clash."""
    out: dict = {"chord_majmin": None, "clash": None}
    chords = take.form.chords
    if case.get("chords"):
        out["chord_majmin"] = chord_majmin(case["chords"], chords)
    melody = case.get("notes") or []
    clash = long_total = 0.0
    for start, end, pitch in melody:
        if end - start < LONG_NOTE_SECONDS:
            continue
        chord = take.form.chord_at((start + end) / 2)
        if chord is None:
            continue
        long_total += end - start
        clash += (end - start) * any((int(pitch) - pc) % 12 == 1 for pc in chord.pitch_classes)
    out["clash"] = clash / long_total if long_total else None
    return out


def format_arrangement_table(result: dict) -> str:
    short = {"section_contrast": "contrast", "arc_contrast": "arc.ctr", "intro_ratio": "intro", "repeat_bass": "rep.bass",
             "repeat_keys": "rep.keys", "repeat_guitar": "rep.gtr", "repeat_mean": "rep.mean",
             "same_bass": "same.bas", "same_keys": "same.key", "same_guitar": "same.gtr",
             "same_drums": "same.drm", "same_mean": "same.mn", "chord_majmin": "majmin", "clash": "clash",
             "drum_velocity_low": "drv.low", "drum_velocity_high": "drv.high"}
    header = f"{'case':28s}" + "".join(f"{short[c]:>9s}" for c in ARRANGEMENT_METRICS)
    lines = [f"arrangement figures, tags {result['tags']!r}, default knobs, two takes", header]
    for row in [*result["cases"], {"id": "MEAN", **result["mean"]}]:
        cells = "".join(f"{'-' if row.get(c) is None else format(row[c], '.2f'):>9s}" for c in ARRANGEMENT_METRICS)
        lines.append(f"{row['id'][:28]:28s}{cells}")
    return "\n".join(lines)


def _notes(take: Arrangement, role: str):
    return [n for t in take.score.tracks if t.role == role for n in t.notes]


class _Bars:
    """The bars of a take's form, and per-bar views of notes on them."""

    def __init__(self, take: Arrangement) -> None:
        self.form = take.form
        self.starts = [a for a, _ in take.form.bars]
        self.count = len(take.form.bars)
        self.bar_beats = [take.form.grid.beat_position(a) for a in self.starts]

    def index(self, time_seconds: float) -> int:
        return min(max(bisect_right(self.starts, time_seconds + 1e-3) - 1, 0), self.count - 1)

    def indices_between(self, start: float, end: float) -> list[int]:
        return [i for i, (a, b) in enumerate(self.form.bars) if start - 1e-3 <= (a + b) / 2 < end]

    def sung(self) -> list[int]:
        return list(range(self.form.intro_bars, self.count - self.form.outro_bars))

    def notes_per_bar(self, take: Arrangement) -> np.ndarray:
        counts = np.zeros(self.count)
        for track in take.score.tracks:
            for note in track.notes:
                counts[self.index(note.start_seconds)] += 1
        return counts

    def _position(self, note, bar: int) -> int:
        beat = self.form.grid.beat_position(note.start_seconds) - self.bar_beats[bar]
        return int(round(beat * _POSITION_STEPS_PER_BEAT))

    def rhythms(self, notes) -> list[frozenset[int]]:
        out: list[set[int]] = [set() for _ in range(self.count)]
        for note in notes:
            bar = self.index(note.start_seconds)
            out[bar].add(self._position(note, bar))
        return [frozenset(s) for s in out]

    def contents(self, notes) -> list[frozenset[tuple[int, int]]]:
        out: list[set[tuple[int, int]]] = [set() for _ in range(self.count)]
        for note in notes:
            bar = self.index(note.start_seconds)
            out[bar].add((self._position(note, bar), note.pitch_midi))
        return [frozenset(s) for s in out]

    def velocities(self, notes, bars: list[int]) -> list[list[int]]:
        out: dict[int, list[int]] = {b: [] for b in bars}
        for note in notes:
            bar = self.index(note.start_seconds)
            if bar in out and self._position(note, bar) % _POSITION_STEPS_PER_BEAT == 0:
                out[bar].append(note.velocity)
        return [out[b] for b in bars]
