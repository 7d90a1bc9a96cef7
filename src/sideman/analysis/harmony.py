"""Chords that fit the melody: Viterbi over chord candidates beat by beat, where a
change of chord costs more the weaker the beat it falls on, so each piece finds its own
harmonic rhythm (a chord a bar, two, or one a beat for a chorale-like line).

Emissions score the melody notes sounding in each beat (weighted by how long they sound
and by the strength of the beat they start on): chord tones up (a chord's sung root a
little more, except the key's tonic: see TONE_SCORES), other scale tones a little down,
notes outside the key more. Candidates are the key's triads, both dominants in minor (the
natural-minor v and the harmonic-minor V: the melody's leading tone or flat seventh
decides), and the secondary dominants V/V and V/vi (V/iv in minor), each with a prior so
the plain diatonic functions win when the melody does not ask for colour. Transitions
favour functional root motion and the steps of the common pop progressions (I-V-vi-IV,
I-vi-IV-V, ii-V-I and their minor-mode relatives, the Aeolian i-iv-v-i among them); the
piece starts and ends on the tonic when the melody allows."""

from __future__ import annotations

import numpy as np

from sideman.music import BeatGrid, Chord, ChordSpan, Key, Note

# (semitones above tonic, quality, prior log-weight) per mode. In minor the natural-minor
# v is nearly as likely as the harmonic-minor V (pop minor is mostly Aeolian: over the
# dev set's minor pop songs v and V sound about as long, and the melody over V sang the
# leading tone 0 % of the time): where the melody sings neither the leading tone nor the
# flat seventh, V wins by a hair, not by the -0.3 a beat that made v unreachable
_VOCABULARY = {
    "major": ((0, "maj", 0.0), (2, "min", -0.15), (4, "min", -0.35), (5, "maj", 0.0), (7, "maj", 0.0),
              (9, "min", -0.1), (2, "maj", -0.6), (4, "maj", -0.6), (0, "7", -0.9)),
    "minor": ((0, "min", 0.0), (3, "maj", -0.1), (5, "min", 0.0), (7, "maj", 0.0), (7, "min", -0.1),
              (8, "maj", -0.1), (10, "maj", -0.1), (0, "maj", -0.6), (2, "maj", -0.7)),
}
# favoured root motions in semitones (up a fourth, down a third, up a second ...); up a
# fifth (I-V, IV-I) scores as up a fourth: pop and rock use the plagal and the
# authentic motion about equally often (de Clercq & Temperley's rock corpus)
_MOTION_BONUS = {5: 0.6, 7: 0.6, 9: 0.3, 2: 0.25, 10: 0.2, 8: 0.2, 3: 0.1, 4: 0.1, 0: 0.0, 1: -0.6, 11: -0.3, 6: -0.6}
# the common pop progressions, as (semitones above tonic, quality) per chord: each step
# from one chord to the next earns PROGRESSION_BONUS on top of its root motion
_I, _ii, _IV, _V, _vi = (0, "maj"), (2, "min"), (5, "maj"), (7, "maj"), (9, "min")
_i, _III, _iv, _v, _VI, _VII = (0, "min"), (3, "maj"), (5, "min"), (7, "min"), (8, "maj"), (10, "maj")
_PROGRESSIONS = {
    "major": ((_I, _V, _vi, _IV, _I), (_I, _vi, _IV, _V, _I), (_ii, _V, _I), (_I, _IV, _V)),
    "minor": ((_i, _VI, _III, _VII, _i), (_i, _VII, _VI, _V, _i), (_i, _iv, _V, _i), (_i, _iv, _v, _i),
              (_VI, _VII, _i)),
}
#: a step of a common pop progression: a tie-breaker between chords the melody fits alike
#: (about a third of the best root motion's bonus), not enough to overrule the melody
PROGRESSION_BONUS = 0.2
#: cost of a chord change by the beat it falls on: bar line, the bar's middle, other beats
CHANGE_COST = {"downbeat": 0.3, "middle": 0.9, "weak": 1.6}
MOTION_WEIGHT = 0.4
#: emission per beat of sounding: root, other chord tone, other scale tone, outside the key.
#: The key's tonic scores as a plain chord tone even under the tonic chord: a melody
#: rests on the tonic over vi and IV (i, VI, iv) as much as over I (in the dev set's pop
#: songs the tonic is 43 % of the sung time over vi, 33 % over IV, 24 % over I), so it is
#: no evidence for I, and its root score made I win every bar that sang only the tones
#: I shares with vi
TONE_SCORES = (1.1, 1.0, -1.0, -1.5)
ACCENT = 2.0  # a note starting on the beat counts this much more
HELD = 1.5  # a note tied over the beat from before (heard against the new beat) counts this much
TONIC_BONUS = 0.8
#: a first note this many beats or less before a downbeat is a sung-early downbeat, not a pickup
PICKUP_BEATS = 0.25


def candidate_chords(key: Key) -> list[Chord]:
    return [Chord((key.tonic_pitch_class + degree) % 12, quality) for degree, quality, _ in _VOCABULARY[key.mode]]


def bar_spans(grid: BeatGrid, *, start_seconds: float, end_seconds: float) -> list[tuple[float, float]]:
    """[start, end) of each bar of the grid that overlaps [start_seconds, end_seconds).

    Notes more than PICKUP_BEATS before the grid's first downbeat (a pickup) get the
    bar(s) before it, a bar length each, so the melody's first notes have a chord too."""
    downbeats = list(grid.downbeats_seconds)
    bar_length = grid.beats_per_bar * 60.0 / grid.tempo_bpm
    while downbeats and start_seconds < downbeats[0] - PICKUP_BEATS * 60.0 / grid.tempo_bpm:
        downbeats.insert(0, downbeats[0] - bar_length)
    spans = []
    for i, d in enumerate(downbeats):
        end = downbeats[i + 1] if i + 1 < len(downbeats) else d + bar_length
        if end > start_seconds and d < end_seconds:
            spans.append((d, end))
    return spans


def estimate_chords(notes: tuple[Note, ...], grid: BeatGrid, key: Key, *, start_seconds: float, end_seconds: float) -> tuple[ChordSpan, ...]:
    """Chord spans over the bars covering [start_seconds, end_seconds), changing only on
    beats; consecutive beats with one chord are merged into one span."""
    bars = bar_spans(grid, start_seconds=start_seconds, end_seconds=end_seconds)
    if not bars:
        return ()
    units, strength = _beat_units(grid, bars)
    chords = candidate_chords(key)
    emissions = emission_scores(notes, units, chords, key) + np.array([p for _, _, p in _VOCABULARY[key.mode]])
    path = _viterbi(emissions, strength, chords, key)
    spans: list[ChordSpan] = []
    for (s, e), c in zip(units, path, strict=True):
        if spans and spans[-1].chord == chords[c]:
            spans[-1] = ChordSpan(spans[-1].start_seconds, e, chords[c])
        else:
            spans.append(ChordSpan(s, e, chords[c]))
    return tuple(spans)


def _beat_units(grid: BeatGrid, bars: list[tuple[float, float]]) -> tuple[list[tuple[float, float]], list[str]]:
    """Each bar cut at its beats: [(start, end)] and the strength of each start."""
    beats = np.asarray(grid.beats_seconds)
    per_bar = grid.beats_per_bar
    units, strength = [], []
    for a, b in bars:
        inner = [float(t) for t in beats if a + 1e-6 < t < b - 1e-6]
        if len(inner) != per_bar - 1:  # the grid's ends: cut the bar evenly
            inner = [a + (b - a) * k / per_bar for k in range(1, per_bar)]
        edges = [a, *inner, b]
        for k in range(per_bar):
            units.append((edges[k], edges[k + 1]))
            if k == 0:
                strength.append("downbeat")
            elif per_bar % 2 == 0 and k == per_bar // 2:
                strength.append("middle")
            else:
                strength.append("weak")
    return units, strength


def emission_scores(notes: tuple[Note, ...], spans: list[tuple[float, float]], chords: list[Chord], key: Key) -> np.ndarray:
    """[shape=(spans, chords)]: how well each chord fits the melody sounding in each
    span, in beats of sounding (a span is about one beat). A note that starts on the
    span's beat counts ACCENT times, one held over from before HELD times (the ear hears
    a tied note against the new beat), a passing note between beats once."""
    scale = set(key.scale_pitch_classes)
    root, tone, in_scale, outside = TONE_SCORES
    table = np.zeros((12, len(chords)))
    for c, chord in enumerate(chords):
        tones = chord.pitch_classes
        for pc in range(12):
            sung_root = pc == tones[0] and pc != key.tonic_pitch_class
            table[pc, c] = root if sung_root else tone if pc in tones else in_scale if pc in scale else outside
    starts = np.array([n.start_seconds for n in notes])
    ends = np.array([n.end_seconds for n in notes])
    pcs = np.array([n.pitch_midi % 12 for n in notes], dtype=int)
    scores = np.zeros((len(spans), len(chords)))
    for u, (a, b) in enumerate(spans):
        length = max(b - a, 1e-3)
        overlap = np.minimum(ends, b) - np.maximum(starts, a)
        sel = overlap > 0
        if not sel.any():
            continue
        on_beat = np.abs(starts[sel] - a) < 0.15 * length
        held = starts[sel] < a - 0.15 * length
        weight = overlap[sel] / length * np.where(on_beat, ACCENT, np.where(held, HELD, 1.0))
        scores[u] = weight @ table[pcs[sel]]
    return scores


def transition_bonus(chords: list[Chord], key: Key) -> np.ndarray:
    """[shape=(chords, chords)]: the bonus for moving from chord a (row) to chord b
    (column): its root motion, plus PROGRESSION_BONUS for a step of a common progression."""
    steps = {pair for progression in _PROGRESSIONS[key.mode] for pair in zip(progression, progression[1:], strict=False)}
    degree = [((c.root_pitch_class - key.tonic_pitch_class) % 12, c.quality) for c in chords]
    bonus = np.zeros((len(chords), len(chords)))
    for i, a in enumerate(chords):
        for j, b in enumerate(chords):
            bonus[i, j] = _MOTION_BONUS[(b.root_pitch_class - a.root_pitch_class) % 12]
            bonus[i, j] += PROGRESSION_BONUS * ((degree[i], degree[j]) in steps)
    return bonus


def _viterbi(emissions: np.ndarray, strength: list[str], chords: list[Chord], key: Key) -> list[int]:
    k = len(chords)
    motion = transition_bonus(chords, key)
    tonic = np.array([1.0 if c == chords[0] else 0.0 for c in chords]) * TONIC_BONUS
    score = emissions[0] + tonic
    back = np.zeros((len(emissions), k), dtype=int)
    for u in range(1, len(emissions)):
        change = -CHANGE_COST[strength[u]] + MOTION_WEIGHT * motion
        np.fill_diagonal(change, 0.0)
        total = score[:, None] + change
        back[u] = np.argmax(total, axis=0)
        score = total[back[u], np.arange(k)] + emissions[u]
    score = score + tonic
    path = [int(np.argmax(score))]
    for u in range(len(emissions) - 1, 0, -1):
        path.append(int(back[u, path[-1]]))
    return path[::-1]
