"""How sure the analysis is of each reading, and the runner-up where it is close.

A bare voice is ambiguous: a slow song can be heard at two tempi, a melody can sit on
its relative minor, a waltz can be heard in four. Each field gets a confidence in 0..1
(the share of the evidence the chosen reading holds against its nearest rivals), and
where a rival holds at least ALTERNATIVE_SHARE of it, the rival is named, so the
singer can say which they meant (the overrides of `sideman add` and the HTTP input)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sideman.analysis.key import ranked_keys
from sideman.analysis.rhythm import MAX_BPM, MIN_BPM, _contrast, _tempo_plausibility, beat_accents
from sideman.analysis.tuning import Tuning
from sideman.music import BeatGrid, Key, Note

#: a rival holding at least this share of the evidence is reported beside the reading
ALTERNATIVE_SHARE = 0.25
#: accent contrasts this far apart are told apart with ~73 % confidence (logistic scale)
CONTRAST_SCALE = 0.15


@dataclass(frozen=True)
class Confidence:
    """Per field 0..1; `alternatives`: the close rival readings, e.g.
    {"tempo_bpm": 46.0, "key": "C# minor", "meter": "3/4"}."""

    tempo: float = 0.0
    meter: float = 0.0
    downbeat: float = 0.0
    key: float = 0.0
    tuning: float = 0.0
    alternatives: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"tempo": round(self.tempo, 2), "meter": round(self.meter, 2), "downbeat": round(self.downbeat, 2),
                "key": round(self.key, 2), "tuning": round(self.tuning, 2)}


def _logistic(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _tempo(notes: tuple[Note, ...], grid: BeatGrid) -> tuple[float, float | None]:
    """(confidence, rival tempo) among the tempo heard and its half, double, 2/3 and 3/2."""
    onsets = np.array([n.start_seconds for n in notes])
    if len(onsets) < 8:
        return 0.0, None
    spacing = float(np.median(np.diff(onsets)))
    tempo = grid.tempo_bpm
    readings = [t for t in (tempo, tempo / 2, tempo * 2, tempo * 2 / 3, tempo * 3 / 2) if MIN_BPM <= t <= MAX_BPM]
    score = np.array([_tempo_plausibility(t, onsets, spacing) for t in readings])
    if score.sum() <= 0:
        return 0.0, None
    share = score / score.sum()
    rival = 1 + int(np.argmax(share[1:])) if len(share) > 1 else None
    alternative = readings[rival] if rival is not None and share[rival] >= ALTERNATIVE_SHARE * share[0] else None
    return float(share[0]), alternative


def _meter(notes: tuple[Note, ...], grid: BeatGrid) -> tuple[float, float, str | None]:
    """(meter confidence, downbeat confidence, rival meter) from the beats' accents."""
    accents = beat_accents(notes, np.asarray(grid.beats_seconds))
    if len(accents) < 8 or accents.mean() <= 0:
        return 0.0, 0.0, None
    per_bar = grid.beats_per_bar
    phase = grid.first_downbeat_index % per_bar
    chosen = _contrast(accents, phase, per_bar)
    others = [_contrast(accents, p, per_bar) for p in range(per_bar) if p != phase]
    downbeat = _logistic((chosen - max(others)) / CONTRAST_SCALE) if others else 0.5
    if grid.beat_unit == 8:  # compound: the rival is the simple reading's grouping
        return 0.5, downbeat, None
    rival_count = 3 if per_bar in (2, 4) else 4
    rival = max(_contrast(accents, p, rival_count) for p in range(rival_count))
    meter = _logistic((chosen - rival) / CONTRAST_SCALE)
    rival_meter = f"{rival_count}/4" if meter < 1 - ALTERNATIVE_SHARE else None
    return meter, downbeat, rival_meter


def estimate_confidence(notes: tuple[Note, ...], grid: BeatGrid, key: Key, tuning: Tuning) -> Confidence:
    """The confidence of each reading of an analysis (see the module docstring)."""
    tempo, rival_tempo = _tempo(notes, grid)
    meter, downbeat, rival_meter = _meter(notes, grid)
    ranked = ranked_keys(notes, grid)
    key_share = next((p for k, p in ranked if k == key), 0.0)
    rival_key = next(((k, p) for k, p in ranked if k != key), None)
    alternatives: dict = {}
    if rival_tempo is not None:
        alternatives["tempo_bpm"] = round(rival_tempo, 1)
    if rival_meter is not None:
        alternatives["meter"] = rival_meter
    if rival_key is not None and rival_key[1] >= ALTERNATIVE_SHARE * max(key_share, 1e-9):
        alternatives["key"] = rival_key[0].label
    return Confidence(tempo=tempo, meter=meter, downbeat=downbeat, key=key_share, tuning=tuning.confidence,
                      alternatives=alternatives)
