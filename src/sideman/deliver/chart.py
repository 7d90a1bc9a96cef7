"""The chord chart: JSON for machines and a plain-text lead sheet with bar lines.

Chords may change inside a bar; given the bars, the lead sheet writes a bar with two
chords as `| G   D7 |` and the JSON gives each chord its bar number and beat."""

from __future__ import annotations

from bisect import bisect_right

from sideman.music import ChordSpan


def chart_json(chords: tuple[ChordSpan, ...], *, key: str, meter: str, tempo_bpm: float,
               bars: tuple[tuple[float, float], ...] | None = None, intro_bars: int | None = None) -> dict:
    """`bar` counts from the band's first bar; `intro_bars` (when given) says how many of
    them come before the voice, so that a chart read back (sideman.overrides) puts bar
    intro_bars + 1 where the voice comes in."""
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
    out = {"key": key, "meter": meter, "tempo_bpm": round(tempo_bpm, 2), "chords": rows}
    if intro_bars is not None:
        out["intro_bars"] = int(intro_bars)
    return out


def lead_sheet(chords: tuple[ChordSpan, ...], *, title: str, key: str, meter: str, tempo_bpm: float,
               bars: tuple[tuple[float, float], ...] | None = None, bars_per_line: int = 4,
               first_bar_number: int = 1) -> str:
    """Four bars a line: `| E      | E      | B   F#m | E      |`, bar numbers at the left
    (the first bar is `first_bar_number`: 1 - intro bars puts bar 1 where the voice comes
    in, which is how sideman.overrides reads a chart back)."""
    lines = [title or "Untitled", f"Key: {key}   Meter: {meter}   Tempo: {tempo_bpm:.0f} bpm", ""]
    if first_bar_number != 1:
        lines.insert(2, "Bar 1 is where the voice comes in; bars before it are the intro.")
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
        lines.append(f"{start + first_bar_number:>3} |" + "|".join(f" {s:<{width - 1}}" for s in row) + "|")
    return "\n".join(lines) + "\n"
