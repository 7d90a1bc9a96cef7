"""Loads patterns.json: grooves and part patterns kept as data."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def patterns() -> dict:
    return json.loads(resources.files("sideman.arrangement").joinpath("patterns.json").read_text())


def for_meter(table: dict, beats_per_bar: int) -> object:
    """The entry of a per-meter table for this meter ('4', '3', '2'); other meters take
    the nearest one (6 -> '3' repeated is not attempted; 5+ beats use '4')."""
    key = str(beats_per_bar)
    if key in table:
        return table[key]
    return table["4"] if beats_per_bar > 4 else table["2"]
