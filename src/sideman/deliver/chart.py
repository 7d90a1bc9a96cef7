"""The chord chart: JSON for machines and a plain-text lead sheet with bar lines."""

from __future__ import annotations

from sideman.music import ChordSpan


def chart_json(chords: tuple[ChordSpan, ...], *, key: str, meter: str, tempo_bpm: float) -> dict:
    return {
        "key": key,
        "meter": meter,
        "tempo_bpm": round(tempo_bpm, 2),
        "chords": [
            {"bar": i + 1, "start_seconds": round(c.start_seconds, 3), "end_seconds": round(c.end_seconds, 3),
             "label": c.label, "symbol": c.symbol}
            for i, c in enumerate(chords)
        ],
    }


def lead_sheet(chords: tuple[ChordSpan, ...], *, title: str, key: str, meter: str, tempo_bpm: float,
               bars_per_line: int = 4) -> str:
    """Four bars a line: `| E      | E      | B      | E      |`, bar numbers at the left."""
    lines = [title or "Untitled", f"Key: {key}   Meter: {meter}   Tempo: {tempo_bpm:.0f} bpm", ""]
    symbols = [c.symbol for c in chords]
    width = max((len(s) for s in symbols), default=1) + 2
    for start in range(0, len(symbols), bars_per_line):
        row = symbols[start : start + bars_per_line]
        lines.append(f"{start + 1:>3} |" + "|".join(f" {s:<{width - 1}}" for s in row) + "|")
    return "\n".join(lines) + "\n"
