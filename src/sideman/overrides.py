"""The singer's word: overrides of what the analysis heard, and chord charts.

A bare voice is ambiguous (half or double tempo, a major key heard as its relative
minor, chords only the singer hears), so every reading can be corrected: the tempo (a
bpm, or a list of tapped beat times), the meter, the key, the tuning, the first
downbeat, and a chord chart. `parse_overrides` validates them where they enter (the CLI,
the HTTP `input`, a re-render) and raises InvalidField naming the field and, for a
chart, the line, bar and column (or the row) that does not parse. `apply_overrides`
returns a corrected copy of an Analysis (dataclasses.replace, so fields the Analysis
gains later are carried over untouched).

Chord charts come in the two forms sideman writes:

* the lead sheet of `chords.txt`: bars between ``|``, four to a line, an optional bar
  number at the left of a line; in a bar, the chords share it evenly (``| G  D7 |``:
  two beats each in 4/4), ``.`` or ``/`` holds the chord before it for one more slot
  (``| G . . D7 |``), ``%`` repeats the previous bar, ``N.C.`` is no chord. Symbols:
  ``C Cm C7 Cmaj7 Cm7 Cdim Caug C+ Csus4 Csus2 Cm7b5 C6 Cm6 C9 Cmaj9 Cm9``, a slash
  bass (``G/B``), sharps and flats (``F#``, ``Bb``, ``E♭``), or Harte labels
  (``A:min``). Lines without a ``|`` (a title, ``Key: ... Meter: ...``) are skipped.
* `chords.json`: ``{"intro_bars": 1, "chords": [{"bar": 2, "beat": 1, "symbol": "E"},
  ...]}`` (bars counted from the band's first bar, so ``intro_bars`` is subtracted), or
  rows with ``start_seconds`` / ``end_seconds`` and no ``bar``: chords at those times.

Bar 1 is the bar the voice comes in on (the bar holding the first sung note, a pickup
belonging to the bar after it); the band's intro bars come before it and take the
song's first chords. A chart that ends before the voice does keeps its last chord.

>>> overrides = parse_overrides(tempo_bpm=92, key="F major", chords="| F | Bb | C7 | F |")
>>> overrides.key.label, len(overrides.chart.chords)
('F major', 4)
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from sideman.errors import InvalidField
from sideman.music import BeatGrid, Chord, ChordSpan, Key, Note
from sideman.music.theory import parse_pitch_class

__all__ = [
    "TEMPO_RANGE_BPM",
    "TUNING_RANGE_CENTS",
    "ChartChord",
    "ChordChart",
    "Overrides",
    "apply_overrides",
    "chart_spans",
    "merge_overrides",
    "parse_chart",
    "parse_chord_symbol",
    "parse_key_label",
    "parse_meter",
    "parse_overrides",
    "read_chart_file",
]

#: accepted tempi, counted beats per minute (the HTTP `bpm` range)
TEMPO_RANGE_BPM = (30.0, 300.0)
#: accepted tuning offsets from A440, cents (beyond a quarter tone it is another note)
TUNING_RANGE_CENTS = (-50.0, 50.0)
#: meters the band can play: label -> (beats_per_bar, beat_unit) as BeatGrid counts them
METERS = {"2/4": (2, 4), "3/4": (3, 4), "4/4": (4, 4), "5/4": (5, 4), "6/4": (6, 4), "7/4": (7, 4),
          "6/8": (2, 8), "9/8": (3, 8), "12/8": (4, 8)}
#: at most this many taps (an 8-minute song at 300 bpm has 2400 beats)
MAX_TAPS = 4000
#: a chart of more bars than this is not a song (8 minutes of 2/4 at 300 bpm is 1200)
MAX_CHART_BARS = 2000
#: the tempo override changes the grid only when it differs from the grid's by more
_TEMPO_TOLERANCE = 0.005


@dataclass(frozen=True)
class ChartChord:
    """One chord of a chart, where it starts: `bar` counts song bars from 0 (bar 1 of
    the chart is 0); within the bar either `fraction_of_bar` (0..1, a lead sheet's even
    split) or `beat` (1-based counted beat, chords.json). chord None: no chord."""

    bar: int
    chord: Chord | None
    fraction_of_bar: float = 0.0
    beat: float | None = None


@dataclass(frozen=True)
class ChordChart:
    """A parsed chord chart: chords at bar positions (`chords`, over `bars` bars), or at
    times on the input's clock (`spans`, from a chords.json with seconds only)."""

    chords: tuple[ChartChord, ...] = ()
    bars: int = 0
    spans: tuple[ChordSpan, ...] = ()

    def to_json(self) -> dict:
        """A chords.json-style object that parses back to the same chart."""
        if self.spans:
            return {"chords": [{"start_seconds": s.start_seconds, "end_seconds": s.end_seconds, "label": s.label}
                               for s in self.spans]}
        rows = []
        for c in self.chords:
            row: dict = {"bar": c.bar + 1, "label": c.chord.label if c.chord else "N"}
            if c.beat is not None:
                row["beat"] = c.beat
            else:
                row["fraction_of_bar"] = round(c.fraction_of_bar, 6)
            rows.append(row)
        return {"bars": self.bars, "chords": rows}


@dataclass(frozen=True)
class Overrides:
    """What the singer says, each None where the analysis stands.

    tempo_bpm: counted beats per minute (TEMPO_RANGE_BPM).
    tap_times_seconds: beat times tapped along, on the input's clock (at least 4,
        increasing); they become the beat grid (extended at the edge tempi).
    meter: a METERS label ("3/4", "6/8", ...).
    key: the key the band plays in.
    tuning_cents: the voice's offset from A440 (TUNING_RANGE_CENTS).
    first_downbeat_seconds: a bar line at (the beat nearest) this time; with tempo_bpm
        and no taps, the grid is metronomic from here (a take recorded to a click).
    chart: the chords the band plays.
    """

    tempo_bpm: float | None = None
    tap_times_seconds: tuple[float, ...] | None = None
    meter: str | None = None
    key: Key | None = None
    tuning_cents: float | None = None
    first_downbeat_seconds: float | None = None
    chart: ChordChart | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_json(self) -> dict:
        """The manifest's `overrides` (only what was given); parse_overrides(**...) reads it."""
        out: dict = {}
        if self.tempo_bpm is not None:
            out["tempo_bpm"] = self.tempo_bpm
        if self.tap_times_seconds is not None:
            out["tap_times_seconds"] = list(self.tap_times_seconds)
        if self.meter is not None:
            out["meter"] = self.meter
        if self.key is not None:
            out["key"] = self.key.label
        if self.tuning_cents is not None:
            out["tuning_cents"] = self.tuning_cents
        if self.first_downbeat_seconds is not None:
            out["first_downbeat_seconds"] = self.first_downbeat_seconds
        if self.chart is not None:
            out["chords"] = self.chart.to_json()
        return out


def parse_overrides(
    *,
    tempo_bpm: float | None = None,
    tap_times_seconds=None,  # noqa: ANN001 - a sequence of numbers, or "0.5, 1.1, ..." text
    meter: str | None = None,
    key: str | Key | None = None,
    tuning_cents: float | None = None,
    first_downbeat_seconds: float | None = None,
    chords=None,  # noqa: ANN001 - chart text, a chords.json object or its rows, or a ChordChart
    params: dict[str, str] | None = None,
) -> Overrides:
    """Validate the singer's overrides. `params` names each field as the caller knows it
    (default: the HTTP names, `input.bpm`, `input.chords` ...), for the error.

    Raises InvalidField with that name, the bad value and what is allowed.
    """
    names = {"tempo_bpm": "input.bpm", "tap_times_seconds": "input.tap_times_seconds", "meter": "input.meter",
             "key": "input.key", "tuning_cents": "input.tuning_cents",
             "first_downbeat_seconds": "input.first_downbeat_seconds", "chords": "input.chords"}
    names.update(params or {})
    return Overrides(
        tempo_bpm=None if tempo_bpm is None else _tempo(tempo_bpm, param=names["tempo_bpm"]),
        tap_times_seconds=None if tap_times_seconds is None else _taps(tap_times_seconds,
                                                                       param=names["tap_times_seconds"]),
        meter=None if meter is None else parse_meter(meter, param=names["meter"])[0],
        key=None if key is None else (key if isinstance(key, Key) else parse_key_label(key, param=names["key"])),
        tuning_cents=None if tuning_cents is None else _in_range(tuning_cents, TUNING_RANGE_CENTS, "cents",
                                                                 param=names["tuning_cents"]),
        first_downbeat_seconds=None if first_downbeat_seconds is None else _in_range(
            first_downbeat_seconds, (0.0, 3600.0), "s", param=names["first_downbeat_seconds"]),
        chart=None if chords is None else (chords if isinstance(chords, ChordChart)
                                           else parse_chart(chords, param=names["chords"])),
    )


def merge_overrides(earlier: Overrides, later: Overrides) -> Overrides:
    """`later` wins field by field; a tempo or tap list given later replaces both."""
    merged = {f.name: getattr(later, f.name) if getattr(later, f.name) is not None else getattr(earlier, f.name)
              for f in fields(Overrides)}
    if later.tempo_bpm is not None and later.tap_times_seconds is None:
        merged["tap_times_seconds"] = None
    if later.tap_times_seconds is not None and later.tempo_bpm is None:
        merged["tempo_bpm"] = None
    return Overrides(**merged)


# ---- single fields -------------------------------------------------------------------


def _number(value: object, *, param: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidField(f"{param}: {value!r} is not a number", param=param, value=value) from None
    if not math.isfinite(number):
        raise InvalidField(f"{param}: {value!r} is not a finite number", param=param, value=value)
    return number


def _in_range(value: object, bounds: tuple[float, float], unit: str, *, param: str) -> float:
    number = _number(value, param=param)
    low, high = bounds
    if not low <= number <= high:
        raise InvalidField(f"{param}: {number:g} {unit} is out of range [{low:g}, {high:g}]", param=param,
                           value=value)
    return number


def _tempo(value: object, *, param: str) -> float:
    return _in_range(value, TEMPO_RANGE_BPM, "bpm", param=param)


def _taps(value: object, *, param: str) -> tuple[float, ...]:
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise InvalidField(f"{param}: expected a list of beat times in seconds", param=param, value=value)
    if not 4 <= len(parts) <= MAX_TAPS:
        raise InvalidField(f"{param}: {len(parts)} taps given; between 4 and {MAX_TAPS} are needed", param=param,
                           value=len(parts))
    taps: list[float] = []
    low_period, high_period = 60.0 / TEMPO_RANGE_BPM[1], 60.0 / TEMPO_RANGE_BPM[0]
    for i, part in enumerate(parts):
        where = f"{param}[{i}]"
        tap = _number(part, param=where)
        if tap < 0:
            raise InvalidField(f"{where}: {tap:g} s is before the start of the recording", param=param, value=tap)
        if taps and not low_period - 1e-9 <= tap - taps[-1] <= high_period + 1e-9:
            raise InvalidField(
                f"{where}: {tap:g} s is {tap - taps[-1]:.3f} s after the tap before it; beats are "
                f"{low_period:g} to {high_period:g} s apart ({TEMPO_RANGE_BPM[0]:g}-{TEMPO_RANGE_BPM[1]:g} bpm)",
                param=param, value=tap)
        taps.append(tap)
    return tuple(taps)


def parse_meter(label: str, *, param: str = "input.meter") -> tuple[str, int, int]:
    """`"3/4"` -> ("3/4", 3, 4); `"6/8"` -> ("6/8", 2, 8) (counted in dotted quarters)."""
    text = str(label).strip().replace(" ", "")
    if text not in METERS:
        raise InvalidField(f"{param}: {label!r} is not a meter sideman plays (one of {', '.join(METERS)})",
                           param=param, value=label)
    beats, unit = METERS[text]
    return text, beats, unit


_KEY_WORDS = {"major": "major", "maj": "major", "minor": "minor", "min": "minor", "m": "minor"}


def parse_key_label(label: str, *, param: str = "input.key") -> Key:
    """`"F major"`, `"E♭ minor"`, `"f# min"`, `"Am"`, `"C"` -> Key."""
    text = str(label).strip()
    match = re.fullmatch(r"([A-Ga-g])([#b♯♭]?)\s*(major|minor|maj|min|m)?", text)
    if match is None:
        raise InvalidField(f"{param}: {label!r} is not a key (expected e.g. 'F major', 'Eb minor', 'F# minor')",
                           param=param, value=label)
    letter, accidental, mode = match.groups()
    return Key(parse_pitch_class(letter + accidental), _KEY_WORDS[mode.lower() if mode else "major"])


# ---- chord symbols ---------------------------------------------------------------------

#: lead-sheet suffix -> Harte quality (longest suffixes are tried first)
_SUFFIXES = {
    "": "maj", "maj": "maj", "M": "maj", "m": "min", "min": "min", "-": "min", "mi": "min",
    "7": "7", "dom7": "7", "maj7": "maj7", "M7": "maj7", "ma7": "maj7", "Δ": "maj7", "Δ7": "maj7",
    "m7": "min7", "min7": "min7", "-7": "min7", "mi7": "min7",
    "dim": "dim", "°": "dim", "o": "dim", "dim7": "dim", "°7": "dim", "o7": "dim",
    "aug": "aug", "+": "aug", "sus4": "sus4", "sus": "sus4", "sus2": "sus2",
    "m7b5": "hdim7", "m7-5": "hdim7", "ø": "hdim7", "ø7": "hdim7", "hdim7": "hdim7",
    "6": "maj6", "maj6": "maj6", "m6": "min6", "min6": "min6",
    "9": "9", "maj9": "maj9", "M9": "maj9", "m9": "min9", "min9": "min9",
}  # fmt: skip
_NO_CHORD = {"N", "N.C.", "NC", "N.C", "n.c.", "nc", "-"}
_SYMBOL = re.compile(r"([A-Ga-g])([#b♯♭]?)(.*?)(?:/([A-Ga-g][#b♯♭]?))?")


def parse_chord_symbol(symbol: str) -> Chord | None:
    """`"F#m7"` -> Chord(6, "min7"); `"G/B"` -> Chord(7, "maj", bass 11); `"A:min"`
    (Harte) too; `"N.C."` -> None. Raises ValueError, saying what was expected."""
    text = symbol.strip()
    if text in _NO_CHORD:
        return None
    if ":" in text:  # Harte
        try:
            return Chord.parse(text)
        except ValueError as error:
            raise ValueError(f"{symbol!r} is not a chord ({error})") from None
    match = _SYMBOL.fullmatch(text)
    if match is None or match.group(1) != match.group(1).upper():
        raise ValueError(f"{symbol!r} is not a chord (expected e.g. C, F#m, Bb7, Gmaj7, Am7, G/B or N.C.)")
    root, accidental, suffix, bass = match.groups()
    quality = _SUFFIXES.get(suffix)
    if quality is None:
        raise ValueError(f"{symbol!r} is not a chord: unknown quality {suffix!r} "
                         f"(known: m 7 maj7 m7 dim aug sus4 sus2 m7b5 6 m6 9 maj9 m9)")
    return Chord(parse_pitch_class(root + accidental), quality,
                 None if bass is None else parse_pitch_class(bass))


# ---- charts ----------------------------------------------------------------------------


def read_chart_file(path: Path, *, param: str = "--chords") -> ChordChart:
    """A chords.txt or chords.json file (by its content: JSON if it parses as JSON)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidField(f"{param}: cannot read {str(path)!r}: {error}", param=param, value=str(path)) from None
    return parse_chart(text, param=param)


def parse_chart(chart, *, param: str = "input.chords") -> ChordChart:  # noqa: ANN001 - str | dict | list
    """A lead sheet (text), a chords.json object (or its `chords` rows, or that object as
    JSON text) -> ChordChart. Raises InvalidField naming the line, bar and column, or the
    row, that does not parse."""
    if isinstance(chart, str):
        stripped = chart.strip()
        if stripped[:1] in ("{", "["):
            try:
                chart = json.loads(stripped)
            except json.JSONDecodeError as error:
                raise InvalidField(f"{param}: line {error.lineno}, column {error.colno}: not valid JSON "
                                   f"({error.msg})", param=param) from None
        else:
            return _parse_lead_sheet(chart, param=param)
    if isinstance(chart, dict):
        rows, intro = chart.get("chords"), chart.get("intro_bars", 0)
        if not isinstance(intro, int) or intro < 0:
            raise InvalidField(f"{param}.intro_bars: expected a whole number >= 0, got {intro!r}", param=param)
        return _parse_rows(rows, intro_bars=intro, param=param)
    if isinstance(chart, list):
        return _parse_rows(chart, intro_bars=0, param=param)
    raise InvalidField(f"{param}: expected a lead sheet (text) or a chords.json object", param=param)


def _parse_lead_sheet(text: str, *, param: str) -> ChordChart:
    # (bar number, line, [(column, token)])
    bars: list[tuple[int, int, list[tuple[int, str]]]] = []
    next_number = 1
    for line_number, line in enumerate(text.splitlines(), start=1):
        pipes = [i for i, ch in enumerate(line) if ch == "|"]
        if not pipes:
            continue  # a title, the Key/Meter/Tempo line, a blank
        label = line[: pipes[0]].strip()
        if label:
            if not re.fullmatch(r"-?\d+", label):
                raise InvalidField(f"{param}: line {line_number}, column 1: {label!r} before the first '|' "
                                   "is not a bar number", param=param, value=label)
            next_number = int(label)
        edges = pipes + ([len(line)] if line[pipes[-1] + 1:].strip() else [])
        for a, b in zip(edges, edges[1:], strict=False):
            tokens = [(a + 2 + m.start(), m.group()) for m in re.finditer(r"\S+", line[a + 1 : b])]
            bars.append((next_number, line_number, tokens or [(a + 2, "")]))
            next_number += 1
    if not bars:
        raise InvalidField(f"{param}: no bars found (a lead sheet puts each bar between '|', e.g. "
                           "'| F | Bb | C7 | F |')", param=param)
    if len(bars) > MAX_CHART_BARS:
        raise InvalidField(f"{param}: {len(bars)} bars; at most {MAX_CHART_BARS}", param=param)
    chords: list[ChartChord] = []
    previous: list[Chord | None] | None = None
    for number, line_number, tokens in bars:
        where = f"line {line_number}, bar {number}"
        if tokens[0][1] == "":
            raise InvalidField(f"{param}: {where}, column {tokens[0][0]}: an empty bar (write '%' to repeat "
                               "the bar before, '.' to hold a chord, or N.C.)", param=param)
        if [t for _, t in tokens] == ["%"]:
            if previous is None:
                raise InvalidField(f"{param}: {where}, column {tokens[0][0]}: '%' repeats the bar before, and "
                                   "there is none", param=param)
            slots = list(previous)
        else:
            slots = []
            for column, token in tokens:
                if token in (".", "/"):
                    if not slots and previous is None:
                        raise InvalidField(f"{param}: {where}, column {column}: {token!r} holds the chord before "
                                           "it, and there is none", param=param)
                    slots.append(slots[-1] if slots else previous[-1])  # type: ignore[index]
                    continue
                try:
                    slots.append(parse_chord_symbol(token))
                except ValueError as error:
                    raise InvalidField(f"{param}: {where}, column {column}: {error}", param=param,
                                       value=token) from None
        for i, chord in enumerate(slots):
            if i == 0 or chord != slots[i - 1]:  # a held chord is one chord over its slots
                chords.append(ChartChord(number - 1, chord, fraction_of_bar=i / len(slots)))
        previous = slots
    # bars before 1 are the band's intro: it takes the song's first chords itself
    kept = tuple(c for c in chords if c.bar >= 0)
    if not kept:
        raise InvalidField(f"{param}: every bar is numbered below 1 (bar 1 is where the voice comes in)",
                           param=param)
    return ChordChart(chords=kept, bars=max(number for number, *_ in bars))


def _parse_rows(rows: object, *, intro_bars: int, param: str) -> ChordChart:
    if not isinstance(rows, list) or not rows:
        raise InvalidField(f"{param}.chords: expected a non-empty list of chords", param=param)
    if len(rows) > 4 * MAX_CHART_BARS:
        raise InvalidField(f"{param}.chords: {len(rows)} chords; at most {4 * MAX_CHART_BARS}", param=param)
    chords: list[ChartChord] = []
    spans: list[ChordSpan] = []
    for i, row in enumerate(rows):
        where = f"{param}.chords[{i}]"
        if not isinstance(row, dict):
            raise InvalidField(f"{where}: expected an object with 'bar' or 'start_seconds', and 'symbol' or "
                               "'label'", param=param, value=row)
        name = row.get("symbol", row.get("label"))
        if not isinstance(name, str):
            raise InvalidField(f"{where}: needs a 'symbol' (e.g. 'F#m') or a Harte 'label' (e.g. 'F#:min')",
                               param=param, value=row)
        try:
            chord = parse_chord_symbol(name)
        except ValueError as error:
            raise InvalidField(f"{where}: {error}", param=param, value=name) from None
        if "bar" in row:
            bar = row["bar"]
            if not isinstance(bar, int) or isinstance(bar, bool) or bar < 1:
                raise InvalidField(f"{where}.bar: expected a bar number >= 1, got {bar!r}", param=param, value=bar)
            beat = row.get("beat", 1)
            if "fraction_of_bar" in row:
                fraction = _number(row["fraction_of_bar"], param=f"{where}.fraction_of_bar")
                if not 0 <= fraction < 1:
                    raise InvalidField(f"{where}.fraction_of_bar: {fraction:g} is out of range [0, 1)",
                                       param=param, value=fraction)
                chords.append(ChartChord(bar - 1 - intro_bars, chord, fraction_of_bar=fraction))
                continue
            beat = _number(beat, param=f"{where}.beat")
            if not 1 <= beat < 13:
                raise InvalidField(f"{where}.beat: {beat:g} is out of range [1, 13)", param=param, value=beat)
            chords.append(ChartChord(bar - 1 - intro_bars, chord, beat=beat))
        elif "start_seconds" in row and "end_seconds" in row:
            start = _number(row["start_seconds"], param=f"{where}.start_seconds")
            end = _number(row["end_seconds"], param=f"{where}.end_seconds")
            if not end > start or (spans and start < spans[-1].start_seconds):
                raise InvalidField(f"{where}: {start:g}..{end:g} s must end after it starts and not start before "
                                   "the chord before it", param=param)
            spans.append(ChordSpan(start, end, chord))
        else:
            raise InvalidField(f"{where}: needs a 'bar' (and 'beat') or 'start_seconds' and 'end_seconds'",
                               param=param, value=row)
    if chords and spans:
        raise InvalidField(f"{param}.chords: give every chord a 'bar', or every chord its seconds, not both",
                           param=param)
    if spans:
        return ChordChart(spans=tuple(spans))
    positions = [(c.bar, c.beat if c.beat is not None else 1 + c.fraction_of_bar) for c in chords]
    for i in range(1, len(positions)):
        if positions[i] < positions[i - 1]:
            raise InvalidField(f"{param}.chords[{i}]: bar {chords[i].bar + 1 + intro_bars} comes before the chord "
                               "before it; list the chords in order", param=param)
    kept = [c for c in chords if c.bar >= 0]
    if not kept:
        raise InvalidField(f"{param}.chords: every chord is in the intro (bars up to intro_bars={intro_bars})",
                           param=param)
    dropped = [c for c in chords if c.bar < 0]
    first = kept[0]
    if dropped and (first.bar > 0 or (first.beat or 1.0) > 1.0 or first.fraction_of_bar > 0):
        kept.insert(0, ChartChord(0, dropped[-1].chord, beat=1.0))  # an intro chord held into bar 1
    return ChordChart(chords=tuple(kept), bars=max(c.bar for c in kept) + 1)


# ---- applying them -----------------------------------------------------------------------


def apply_overrides(analysis, overrides: Overrides, *, tempo_heard: bool = False):  # noqa: ANN001, ANN201
    """A copy of `analysis` (sideman.analysis.Analysis) with the overrides in force.

    tempo_heard: the analysis already ran with overrides.tempo_bpm (`analyze(...,
    tempo_bpm=)`), so a tempo alone does not re-grid it. Where the grid or the key
    change and no chart is given, the chords are heard again from the stored notes on
    the new grid and key (no audio is needed); sections and phrases follow the grid.
    Raises InvalidField for a first downbeat or taps past the end of the recording.
    """
    if overrides.empty:
        return analysis
    duration = float(analysis.duration_seconds)
    grid = analysis.grid
    meter = overrides.meter
    beats_per_bar, beat_unit = (METERS[meter] if meter else (grid.beats_per_bar, grid.beat_unit))
    downbeat = overrides.first_downbeat_seconds
    if downbeat is not None and downbeat > duration:
        raise InvalidField(f"input.first_downbeat_seconds: {downbeat:g} s is after the end of the recording "
                           f"({duration:.2f} s)", param="input.first_downbeat_seconds", value=downbeat)
    if overrides.tap_times_seconds is not None:
        taps = overrides.tap_times_seconds
        if taps[0] > duration:
            raise InvalidField(f"input.tap_times_seconds[0]: {taps[0]:g} s is after the end of the recording "
                               f"({duration:.2f} s)", param="input.tap_times_seconds", value=taps[0])
        grid = _tapped_grid(taps, duration_seconds=duration, beats_per_bar=beats_per_bar, beat_unit=beat_unit,
                            downbeat_seconds=taps[0] if downbeat is None else downbeat)
    elif overrides.tempo_bpm is not None and (downbeat is not None or not (
            tempo_heard or abs(grid.tempo_bpm / overrides.tempo_bpm - 1) <= _TEMPO_TOLERANCE)):
        anchor = downbeat if downbeat is not None else grid.downbeats_seconds[0]
        grid = _metronome_grid(overrides.tempo_bpm, anchor_seconds=anchor, duration_seconds=duration,
                               beats_per_bar=beats_per_bar, beat_unit=beat_unit)
    elif meter or downbeat is not None:
        anchor = downbeat if downbeat is not None else grid.downbeats_seconds[0]
        grid = _with_bars(grid, beats_per_bar=beats_per_bar, beat_unit=beat_unit, downbeat_seconds=anchor)
    changes: dict = {}
    notes = analysis.notes
    if overrides.tuning_cents is not None:
        changes.update(_tuned(analysis, float(overrides.tuning_cents)))
        step = _retuned_step(analysis, float(overrides.tuning_cents))
        if step:  # every note is read a semitone over: the singer's reference is another
            notes = tuple(replace(n, pitch_midi=min(127, max(0, n.pitch_midi + step))) for n in notes)
            low, high = analysis.vocal_range_midi
            changes.update(notes=notes, vocal_range_midi=(low + step, high + step))
    key = overrides.key or (_heard_key(notes, grid) if notes is not analysis.notes else analysis.key)
    regridded = grid != analysis.grid
    if regridded:
        from sideman.analysis.structure import phrases, sections

        changes.update(
            grid=grid,
            sections=tuple(sections(notes, grid, duration_seconds=duration)),
            phrases=tuple(phrases(notes, grid)),
            energy_per_bar=_energy_on(grid, analysis.grid, analysis.energy_per_bar),
        )
    if key != analysis.key:
        changes["key"] = key
    if overrides.chart is not None:
        changes["chords"] = chart_spans(overrides.chart, grid=grid, notes=notes, duration_seconds=duration)
    elif regridded or "key" in changes or notes is not analysis.notes:
        changes["chords"] = _heard_chords(notes, grid, key, duration_seconds=duration)
    return replace(analysis, **changes) if changes else analysis


def _retuned_step(analysis, cents: float) -> int:  # noqa: ANN001
    """Semitones every note moves when the voice is read at `cents` from A440 instead of
    the tuning it was read in: a note meant in one reference is a semitone lower in a
    reference over half a semitone higher (the stored notes keep only their semitone,
    so a note's own intonation is not read again)."""
    heard = float(getattr(getattr(analysis, "tuning", None), "cents", 0.0))
    return int(round((heard - cents) / 100.0))


def _heard_key(notes: tuple[Note, ...], grid: BeatGrid):  # noqa: ANN202
    from sideman.analysis.key import estimate_key

    return estimate_key(notes, grid)


def _tuned(analysis, cents: float) -> dict:  # noqa: ANN001
    """The Analysis fields that carry the tuning, set to `cents` (a `tuning` record whose
    drift moves with it, or a plain `tuning_cents`); none where this Analysis has no
    tuning (the override is then only recorded in the manifest)."""
    names = {f.name for f in fields(analysis)}
    if "tuning" in names and dataclasses.is_dataclass(analysis.tuning):
        tuning = analysis.tuning
        shift = cents - float(getattr(tuning, "cents", 0.0))
        update: dict = {"cents": cents}
        tuning_fields = {f.name for f in fields(tuning)}
        if "confidence" in tuning_fields:
            update["confidence"] = 1.0  # the singer said so
        if "drift_cents" in tuning_fields:
            update["drift_cents"] = tuple(float(d) + shift for d in tuning.drift_cents)
        return {"tuning": replace(tuning, **update)}
    if "tuning_cents" in names:
        return {"tuning_cents": cents}
    return {}


def chart_spans(chart: ChordChart, *, grid: BeatGrid, notes: tuple[Note, ...],
                duration_seconds: float) -> tuple[ChordSpan, ...]:
    """The chart's chords on the input's clock: bar 1 is the bar holding the first sung
    note (as the form counts it), later bars follow the grid (extrapolated at its edge
    tempo past its end). Contiguous; the last chord lasts to the end of its bar or of
    the recording, whichever is later."""
    if chart.spans:
        return chart.spans
    first_note = notes[0].start_seconds if notes else 0.0
    bpb = grid.beats_per_bar
    beat_seconds = 60.0 / grid.tempo_bpm
    # the downbeat at or before the first note (+ a quarter beat: an early downbeat, not a pickup)
    position = grid.beat_position(first_note + 0.25 * beat_seconds)
    phase = (math.floor(position) - grid.first_downbeat_index) % bpb
    song_start = math.floor(position) - phase
    starts = []
    for c in chart.chords:
        within = (c.beat - 1) if c.beat is not None else c.fraction_of_bar * bpb
        starts.append(song_start + c.bar * bpb + min(within, bpb - 1e-6))
    end_position = song_start + max(chart.bars, max(c.bar for c in chart.chords) + 1) * bpb
    end_seconds = max(grid.time_at(end_position), duration_seconds)
    spans = []
    for i, c in enumerate(chart.chords):
        start = grid.time_at(starts[i])
        end = grid.time_at(starts[i + 1]) if i + 1 < len(chart.chords) else end_seconds
        if end > start + 1e-6:
            spans.append(ChordSpan(start, end, c.chord))
    return tuple(spans)


def _heard_chords(notes: tuple[Note, ...], grid: BeatGrid, key: Key, *, duration_seconds: float):
    from sideman.analysis.harmony import estimate_chords

    start = notes[0].start_seconds if notes else 0.0
    end = notes[-1].end_seconds if notes else duration_seconds
    return tuple(estimate_chords(notes, grid, key, start_seconds=start, end_seconds=end))


def _metronome_grid(tempo_bpm: float, *, anchor_seconds: float, duration_seconds: float, beats_per_bar: int,
                    beat_unit: int) -> BeatGrid:
    """Beats every 60/tempo s through `anchor_seconds` (a downbeat), covering the input."""
    period = 60.0 / tempo_bpm
    first = -math.floor(anchor_seconds / period + 1e-9)  # beat index (from the anchor) at or after 0
    last = math.ceil((duration_seconds - anchor_seconds) / period)
    indices = range(first, max(last, first + 1) + 1)
    beats = tuple(anchor_seconds + k * period for k in indices)
    return BeatGrid(beats, beats_per_bar, beat_unit, (0 - first) % beats_per_bar)


def _tapped_grid(taps: tuple[float, ...], *, duration_seconds: float, beats_per_bar: int, beat_unit: int,
                 downbeat_seconds: float) -> BeatGrid:
    """The taps, extended at their edge tempi to cover the input."""
    head_period, tail_period = taps[1] - taps[0], taps[-1] - taps[-2]
    head = []
    t = taps[0] - head_period
    while t >= -1e-9:
        head.insert(0, t)
        t -= head_period
    tail = []
    t = taps[-1] + tail_period
    while t - tail_period < duration_seconds:
        tail.append(t)
        t += tail_period
    grid = BeatGrid(tuple(head) + tuple(taps) + tuple(tail), beats_per_bar, beat_unit, 0)
    return _with_bars(grid, beats_per_bar=beats_per_bar, beat_unit=beat_unit, downbeat_seconds=downbeat_seconds)


def _with_bars(grid: BeatGrid, *, beats_per_bar: int, beat_unit: int, downbeat_seconds: float) -> BeatGrid:
    """The same beats, with the bar lines laid from the beat nearest `downbeat_seconds`."""
    index = int(np.argmin(np.abs(np.asarray(grid.beats_seconds) - downbeat_seconds)))
    return BeatGrid(grid.beats_seconds, beats_per_bar, beat_unit, index % beats_per_bar)


def _energy_on(grid: BeatGrid, old: BeatGrid, energy: tuple[float, ...]) -> tuple[float, ...]:
    """Energy per bar of `grid`, read from the old grid's bar holding each new downbeat."""
    if not energy:
        return tuple(energy)
    old_downbeats = np.asarray(old.downbeats_seconds)
    out = []
    for d in grid.downbeats_seconds:
        j = int(np.clip(np.searchsorted(old_downbeats, d + 1e-3) - 1, 0, len(energy) - 1))
        out.append(float(energy[j]))
    return tuple(out)
