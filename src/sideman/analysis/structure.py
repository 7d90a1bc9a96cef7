"""Phrases and sections from rests, and the energy curve."""

from __future__ import annotations

import numpy as np

from sideman.music import BeatGrid, Note, Section


def phrases(notes: tuple[Note, ...], grid: BeatGrid) -> list[tuple[float, float]]:
    """(start, end) of each phrase: notes separated by rests longer than a beat."""
    if not notes:
        return []
    beat = 60.0 / grid.tempo_bpm
    out = [[notes[0].start_seconds, notes[0].end_seconds]]
    for note in notes[1:]:
        if note.start_seconds - out[-1][1] > beat:
            out.append([note.start_seconds, note.end_seconds])
        else:
            out[-1][1] = max(out[-1][1], note.end_seconds)
    return [(a, b) for a, b in out]


def sections(notes: tuple[Note, ...], grid: BeatGrid, *, duration_seconds: float) -> tuple[Section, ...]:
    """Sections of about eight bars (or ended early by a rest of a bar or more), cut at
    the downbeat nearest a phrase boundary; labels
    A, B, ... with a repeat of an earlier pitch contour taking that earlier label."""
    downbeats = np.asarray(grid.downbeats_seconds)
    bar = grid.beats_per_bar * 60.0 / grid.tempo_bpm
    cuts = [0.0]
    found = phrases(notes, grid)
    for (start, _), (_, previous_end) in zip(found[1:], found[:-1], strict=True):
        # a section starts at a phrase six bars on, or sooner after a rest of a bar or more
        long_rest = start - previous_end >= bar and start - cuts[-1] >= 2 * bar
        if (start - cuts[-1] >= 6 * bar or long_rest) and len(downbeats):
            cut = float(downbeats[np.argmin(np.abs(downbeats - start))])
            if cut - cuts[-1] >= (2 if long_rest else 4) * bar:
                cuts.append(cut)
    cuts.append(duration_seconds)
    contours = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        contours.append(np.array([n.pitch_midi for n in notes if a <= n.start_seconds < b][:16]))
    labels: list[str] = []
    for i, contour in enumerate(contours):
        label = None
        for j in range(i):
            if _repeats(contour, contours[j]):
                label = labels[j]
                break
        labels.append(label or chr(ord("A") + len(set(labels))))
    return tuple(Section(a, b, lab) for a, b, lab in zip(cuts[:-1], cuts[1:], labels, strict=True))


def _repeats(contour: np.ndarray, other: np.ndarray) -> bool:
    """Whether two pitch sequences are the same tune: more than 70 % of notes equal,
    letting either start up to two notes late (a pickup cut off or added at the bar line)."""
    for shift in (0, 1, 2, -1, -2):
        a, b = (contour[shift:], other) if shift >= 0 else (contour, other[-shift:])
        m = min(len(a), len(b))
        if m >= 6 and np.mean(a[:m] == b[:m]) > 0.7:
            return True
    return False


def energy_curve(loudness_db: np.ndarray, times_seconds: np.ndarray, *, grid: BeatGrid) -> np.ndarray:
    """Energy 0..1 per bar of the grid [shape=(bars,)], from the voice's loudness."""
    downbeats = list(grid.downbeats_seconds)
    if not downbeats or not len(loudness_db):
        return np.zeros(0)
    top = np.percentile(loudness_db, 95)
    values = []
    bar = grid.beats_per_bar * 60.0 / grid.tempo_bpm
    for d in downbeats:
        sel = (times_seconds >= d) & (times_seconds < d + bar)
        level = np.percentile(loudness_db[sel], 75) if sel.any() else top - 40
        values.append(np.clip(1.0 + (level - top) / 30.0, 0.0, 1.0))
    return np.array(values)
