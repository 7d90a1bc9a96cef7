"""Chords that fit the melody: Viterbi over diatonic chord candidates, one chord per
bar, emissions from the melody notes sounding in the bar (weighted by duration and
metric position), transitions that favour functional moves and a tonic at the ends."""

from __future__ import annotations

import numpy as np

from sideman.music import BeatGrid, Chord, ChordSpan, Key, Note

# scale degree (semitones above tonic) -> quality, for each mode
_DIATONIC = {
    "major": ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min")),
    "minor": ((0, "min"), (3, "maj"), (5, "min"), (7, "maj"), (8, "maj"), (10, "maj"), (7, "min")),
}
# favoured root motions in semitones (up a fourth, down a third, up a second ...)
_MOTION_BONUS = {5: 0.6, 7: 0.35, 9: 0.3, 2: 0.25, 10: 0.2, 8: 0.2, 3: 0.1, 4: 0.1, 0: 0.0, 1: -0.6, 11: -0.3, 6: -0.6}


def candidate_chords(key: Key) -> list[Chord]:
    return [Chord((key.tonic_pitch_class + degree) % 12, quality) for degree, quality in _DIATONIC[key.mode]]


def bar_spans(grid: BeatGrid, *, start_seconds: float, end_seconds: float) -> list[tuple[float, float]]:
    """[start, end) of each bar of the grid that overlaps [start_seconds, end_seconds)."""
    downbeats = list(grid.downbeats_seconds)
    bar_length = grid.beats_per_bar * 60.0 / grid.tempo_bpm
    spans = []
    for i, d in enumerate(downbeats):
        end = downbeats[i + 1] if i + 1 < len(downbeats) else d + bar_length
        if end > start_seconds and d < end_seconds:
            spans.append((d, end))
    return spans


def emission_scores(notes: tuple[Note, ...], spans: list[tuple[float, float]], chords: list[Chord], key: Key) -> np.ndarray:
    """[shape=(bars, chords)]: how well each chord fits the melody in each bar."""
    scale = set(key.scale_pitch_classes)
    scores = np.zeros((len(spans), len(chords)))
    for b, (start, end) in enumerate(spans):
        for note in notes:
            overlap = min(end, note.end_seconds) - max(start, note.start_seconds)
            if overlap <= 0:
                continue
            weight = overlap * (1.5 if abs(note.start_seconds - start) < 0.1 * (end - start) else 1.0)
            pc = note.pitch_midi % 12
            for c, chord in enumerate(chords):
                tones = chord.pitch_classes
                if pc == tones[0]:
                    scores[b, c] += 1.1 * weight
                elif pc in tones:
                    scores[b, c] += 1.0 * weight
                elif pc in scale:
                    scores[b, c] -= 0.35 * weight
                else:
                    scores[b, c] -= 0.8 * weight
        total = scores[b].max() - scores[b].min()
        if total > 0:
            scores[b] /= max(total, 1e-9) / 2.0
    return scores


def estimate_chords(notes: tuple[Note, ...], grid: BeatGrid, key: Key, *, start_seconds: float, end_seconds: float) -> tuple[ChordSpan, ...]:
    """One chord per bar over [start_seconds, end_seconds)."""
    spans = bar_spans(grid, start_seconds=start_seconds, end_seconds=end_seconds)
    if not spans:
        return ()
    chords = candidate_chords(key)
    emissions = emission_scores(notes, spans, chords, key)
    k = len(chords)
    transition = np.zeros((k, k))
    for i, a in enumerate(chords):
        for j, b in enumerate(chords):
            transition[i, j] = _MOTION_BONUS[(b.root_pitch_class - a.root_pitch_class) % 12]
            if i == j:
                transition[i, j] = 0.15
    initial = np.array([1.0 if c == chords[0] else 0.0 for c in chords])
    score = emissions[0] + initial
    back = np.zeros((len(spans), k), dtype=int)
    for b in range(1, len(spans)):
        total = score[:, None] + transition
        back[b] = np.argmax(total, axis=0)
        score = total[back[b], np.arange(k)] + emissions[b]
    score = score + 1.0 * initial  # end on the tonic when the melody allows
    path = [int(np.argmax(score))]
    for b in range(len(spans) - 1, 0, -1):
        path.append(int(back[b, path[-1]]))
    path.reverse()
    return tuple(ChordSpan(s, e, chords[c]) for (s, e), c in zip(spans, path, strict=True))
