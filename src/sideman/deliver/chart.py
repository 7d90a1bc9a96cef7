"""The chord chart: JSON for machines and a plain-text lead sheet with bar lines.

Chords may change inside a bar; given the bars, the lead sheet writes a bar with two
chords as `| G   D7 |` and the JSON gives each chord its bar number and beat."""

from __future__ import annotations

from bisect import bisect_right

from sideman.music import ChordSpan


def chart_json(chords: tuple[ChordSpan, ...], *, key: str, meter: str, tempo_bpm: float,
               bars: tuple[tuple[float, float], ...] | None = None) -> dict:
    starts = [a for a, _ in bars] if bars else None
    rows = []
    for i, c in enumerate(chords):
        row = {"start_seconds": round(c.start_seconds, 3), "end_seconds": round(c.end_seconds, 3),
               "label": c.label, "symbol": c.symbol}
        if starts:
            bar = max(0, bisect_right(starts, c.start_seconds + 1e-6) - 1)
            a, b = bars[bar]
            beats = int(meter.split("/")[0]) // (3 if meter.endswith("/8") else 1)
            row["bar"] = bar + 1
            row["beat"] = round(1 + beats * (c.start_seconds - a) / (b - a), 2)
        else:
            row["bar"] = i + 1
        rows.append(row)
    return {"key": key, "meter": meter, "tempo_bpm": round(tempo_bpm, 2), "chords": rows}


def lead_sheet(chords: tuple[ChordSpan, ...], *, title: str, key: str, meter: str, tempo_bpm: float,
               bars: tuple[tuple[float, float], ...] | None = None, bars_per_line: int = 4) -> str:
    """Four bars a line: `| E      | E      | B   F#m | E      |`, bar numbers at the left."""
    lines = [title or "Untitled", f"Key: {key}   Meter: {meter}   Tempo: {tempo_bpm:.0f} bpm", ""]
    if bars:
        cells = []
        for a, b in bars:
            inside = [c.symbol for c in chords if c.end_seconds > a + 1e-3 and c.start_seconds < b - 1e-3]
            changes = [s for i, s in enumerate(inside) if i == 0 or s != inside[i - 1]]
            cells.append("  ".join(changes) if changes else "N.C.")
    else:
        cells = [c.symbol for c in chords]
    width = max((len(s) for s in cells), default=1) + 2
    for start in range(0, len(cells), bars_per_line):
        row = cells[start : start + bars_per_line]
        lines.append(f"{start + 1:>3} |" + "|".join(f" {s:<{width - 1}}" for s in row) + "|")
    return "\n".join(lines) + "\n"
