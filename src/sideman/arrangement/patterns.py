"""Loads patterns.json: grooves and part patterns kept as data."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

STEPS_PER_BEAT = 4


@lru_cache(maxsize=1)
def patterns() -> dict:
    return json.loads(resources.files("sideman.arrangement").joinpath("patterns.json").read_text())


def for_meter(table: dict, beats_per_bar: int):
    """The entry of a per-meter table ('4', '3', '2') for this meter. A meter the table
    lacks is cut from (or repeats) the 4-beat entry: drum strings by steps, note lists
    by beat."""
    key = str(beats_per_bar)
    if key in table:
        return table[key]
    source = table["4"]
    if isinstance(source, dict):  # a drum groove: {drum: "x..."}
        steps = beats_per_bar * STEPS_PER_BEAT
        return {drum: (s * (steps // len(s) + 1))[:steps] for drum, s in source.items() if s}
    out = []
    for start in range(0, beats_per_bar, 4):
        for beat, length, what in source:
            at = start + beat
            if at < beats_per_bar:
                out.append([at, min(length, beats_per_bar - at), what])
    return out


def varied(steps: list, variant: list) -> list:
    """A bar's steps with `variant` taking over from its first beat: earlier steps are
    cut short there, later ones give way (a player's answer or turnaround)."""
    if not variant:
        return steps
    cut = min(float(v[0]) for v in variant)
    kept = [[b, min(float(length), cut - float(b) - 0.05), what] for b, length, what in steps if float(b) < cut - 0.05]
    return [s for s in kept if s[1] > 0.05] + [list(v) for v in variant]


def variant_for(table: dict, pattern: str, beats_per_bar: int, *, sparse: bool) -> list:
    """The pattern's entry of an answer/turn table ('sparse' for sparse parts, else the
    pattern's own or 'default'), for this meter."""
    entry = table.get("sparse" if sparse else pattern) or table["default"]
    return for_meter(entry, beats_per_bar)
