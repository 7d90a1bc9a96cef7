"""Immutable values handed between stages. Units are in the field names; times are
seconds on the input's clock (second 0 = the start of the upload, so an intro that
starts before the voice has negative times)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

from sideman.music.theory import (
    CHORD_INTERVALS,
    MAJOR_SCALE,
    NATURAL_MINOR_SCALE,
    parse_key,
    parse_pitch_class,
    pitch_class_name,
)


@dataclass(frozen=True, slots=True)
class Note:
    """One sounding note.

    start_seconds < end_seconds; pitch_midi in 0..127; velocity in 1..127 (default 100).
    """

    start_seconds: float
    end_seconds: float
    pitch_midi: int
    velocity: int = 100

    def __post_init__(self) -> None:
        if not self.end_seconds > self.start_seconds:
            raise ValueError(
                f"a note must end after it starts: {self.start_seconds} .. {self.end_seconds}"
            )
        if not 0 <= self.pitch_midi <= 127:
            raise ValueError(f"pitch_midi {self.pitch_midi} is out of range [0, 127]")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity {self.velocity} is out of range [1, 127]")

    @property
    def duration_seconds(self) -> float:
        return self.end_seconds - self.start_seconds


@dataclass(frozen=True, slots=True)
class Key:
    """A key: tonic pitch class (0 = C) and mode ("major" or "minor")."""

    tonic_pitch_class: int
    mode: str = "major"

    def __post_init__(self) -> None:
        if self.mode not in ("major", "minor"):
            raise ValueError(f"mode must be 'major' or 'minor', got {self.mode!r}")
        if not 0 <= self.tonic_pitch_class < 12:
            raise ValueError(f"tonic_pitch_class {self.tonic_pitch_class} not in [0, 11]")

    @classmethod
    def parse(cls, label: str) -> Key:
        tonic, mode = parse_key(label)
        return cls(tonic, mode)

    @property
    def label(self) -> str:
        """`"E major"` — the form mir_eval.key reads."""
        return f"{pitch_class_name(self.tonic_pitch_class)} {self.mode}"

    @property
    def scale_pitch_classes(self) -> tuple[int, ...]:
        steps = MAJOR_SCALE if self.mode == "major" else NATURAL_MINOR_SCALE
        return tuple((self.tonic_pitch_class + s) % 12 for s in steps)


_LEAD_SHEET_SUFFIX = {
    "maj": "", "min": "m", "7": "7", "maj7": "maj7", "min7": "m7", "dim": "dim", "aug": "+",
    "hdim7": "m7b5", "sus4": "sus4", "sus2": "sus2", "maj6": "6", "min6": "m6", "9": "9",
    "maj9": "maj9", "min9": "m9",
}  # fmt: skip


#: Harte's bass degrees by semitones above the root
_HARTE_DEGREES = ("1", "b2", "2", "b3", "3", "4", "b5", "5", "b6", "6", "b7", "7")


@dataclass(frozen=True, slots=True)
class Chord:
    """A chord: root pitch class and Harte quality (`maj`, `min`, `7`, ...); an optional
    bass pitch class for inversions and slash chords."""

    root_pitch_class: int
    quality: str = "maj"
    bass_pitch_class: int | None = None

    def __post_init__(self) -> None:
        if self.quality not in CHORD_INTERVALS:
            raise ValueError(f"unknown chord quality {self.quality!r}")

    @classmethod
    def parse(cls, label: str) -> Chord:
        """Harte `"A:min"`, `"G:7"`, `"C"`, `"G:maj/3"` -> Chord."""
        root, _, quality = label.partition(":")
        quality, _, degree = quality.partition("/")
        root_pitch_class = parse_pitch_class(root)
        bass = (root_pitch_class + _HARTE_DEGREES.index(degree)) % 12 if degree in _HARTE_DEGREES[1:] else None
        return cls(root_pitch_class, quality or "maj", bass)

    @property
    def label(self) -> str:
        """Harte label, as mir_eval.chord reads it (`"G:maj/3"` over its third)."""
        bass = ""
        if self.bass_pitch_class is not None and self.bass_pitch_class != self.root_pitch_class:
            bass = "/" + _HARTE_DEGREES[(self.bass_pitch_class - self.root_pitch_class) % 12]
        return f"{pitch_class_name(self.root_pitch_class)}:{self.quality}{bass}"

    @property
    def symbol(self) -> str:
        """Lead-sheet symbol: `E`, `C#m`, `Gmaj7`, `Am7`, `Bdim`, `G/B`."""
        suffix = _LEAD_SHEET_SUFFIX.get(self.quality, self.quality)
        bass = ""
        if self.bass_pitch_class is not None and self.bass_pitch_class != self.root_pitch_class:
            bass = "/" + pitch_class_name(self.bass_pitch_class)
        return f"{pitch_class_name(self.root_pitch_class)}{suffix}{bass}"

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root_pitch_class + i) % 12 for i in CHORD_INTERVALS[self.quality])

    @property
    def intervals(self) -> tuple[int, ...]:
        return CHORD_INTERVALS[self.quality]


@dataclass(frozen=True, slots=True)
class ChordSpan:
    """A chord sounding from start_seconds to end_seconds; chord None means no chord (`N`)."""

    start_seconds: float
    end_seconds: float
    chord: Chord | None

    @property
    def label(self) -> str:
        return self.chord.label if self.chord else "N"

    @property
    def symbol(self) -> str:
        return self.chord.symbol if self.chord else "N.C."


@dataclass(frozen=True, slots=True)
class Section:
    """A stretch of the form: `"intro"`, `"A"`, `"B"`, `"outro"`..."""

    start_seconds: float
    end_seconds: float
    label: str


#: beat periods whose median sets the tempo of bars added before or after a grid
EDGE_TEMPO_BEATS = 8


@dataclass(frozen=True)
class BeatGrid:
    """The pulse: beat times (a tempo map, not one constant tempo) and the meter.

    beats_seconds: strictly increasing beat times.
    beats_per_bar: the meter's numerator in counted beats (3 for 3/4, 2 for 6/8 counted
        in dotted quarters); beat_unit: its denominator (4 or 8).
    first_downbeat_index: index into beats_seconds of the first bar line; beats before
        it are a pickup.
    """

    beats_seconds: tuple[float, ...]
    beats_per_bar: int = 4
    beat_unit: int = 4
    first_downbeat_index: int = 0

    def __post_init__(self) -> None:
        beats = np.asarray(self.beats_seconds, dtype=float)
        if len(beats) < 2:
            raise ValueError("a beat grid needs at least two beats")
        if np.any(np.diff(beats) <= 0):
            raise ValueError("beats_seconds must be strictly increasing")
        if not 0 <= self.first_downbeat_index < max(self.beats_per_bar, 1) + len(beats):
            raise ValueError("first_downbeat_index is out of range")

    @property
    def meter(self) -> str:
        """`"4/4"`, `"3/4"`, `"6/8"` (6/8 = two dotted-quarter beats of three eighths)."""
        if self.beat_unit == 8:
            return f"{self.beats_per_bar * 3}/8"
        return f"{self.beats_per_bar}/{self.beat_unit}"

    @property
    def tempo_bpm(self) -> float:
        """Median tempo over the grid, in counted beats per minute."""
        return float(60.0 / np.median(np.diff(self.beats_seconds)))

    @property
    def downbeats_seconds(self) -> tuple[float, ...]:
        return tuple(self.beats_seconds[self.first_downbeat_index :: self.beats_per_bar])

    def beat_position(self, time_seconds: float) -> float:
        """Fractional beat index at a time (linear between beats, the edge tempo outside)."""
        beats = self.beats_seconds
        if time_seconds <= beats[0]:
            period = beats[1] - beats[0]
            return (time_seconds - beats[0]) / period
        if time_seconds >= beats[-1]:
            period = beats[-1] - beats[-2]
            return len(beats) - 1 + (time_seconds - beats[-1]) / period
        i = bisect_right(beats, time_seconds) - 1
        return i + (time_seconds - beats[i]) / (beats[i + 1] - beats[i])

    def time_at(self, beat_position: float) -> float:
        """Seconds at a fractional beat index; extrapolates at the edge tempo."""
        beats = self.beats_seconds
        n = len(beats)
        if beat_position <= 0:
            return beats[0] + beat_position * (beats[1] - beats[0])
        if beat_position >= n - 1:
            return beats[-1] + (beat_position - (n - 1)) * (beats[-1] - beats[-2])
        i = int(beat_position)
        return beats[i] + (beat_position - i) * (beats[i + 1] - beats[i])

    def extended(self, *, before_seconds: float, after_seconds: float) -> BeatGrid:
        """A copy with whole bars added before the first beat and after the last one,
        at the edge tempi (the median of the first and of the last EDGE_TEMPO_BEATS beat
        periods: a count-in at the song's tempo, not at one stray interval), so that the
        grid covers [start - before, end + after]. The bar phase is kept: downbeats
        stay downbeats."""
        beats = list(self.beats_seconds)
        first = self.first_downbeat_index
        periods = np.diff(self.beats_seconds)
        start_period = float(np.median(periods[:EDGE_TEMPO_BEATS]))
        lead = 0
        while beats[0] - lead * start_period > beats[0] - before_seconds or (first + lead) % self.beats_per_bar:
            lead += 1
        head = [beats[0] - k * start_period for k in range(lead, 0, -1)]
        end_period = float(np.median(periods[-EDGE_TEMPO_BEATS:]))
        tail: list[float] = []
        t = beats[-1]
        while t < beats[-1] + after_seconds or (len(head) + len(beats) + len(tail) - first - lead) % self.beats_per_bar:
            t += end_period
            tail.append(t)
        new_first = (first + lead) % self.beats_per_bar
        return BeatGrid(tuple(head + beats + tail), self.beats_per_bar, self.beat_unit, new_first)


@dataclass(frozen=True, slots=True)
class ControlChange:
    """A MIDI controller move at a time: controller 64 is the sustain pedal (>= 64
    down), 11 expression (a swell), 7 volume. value in 0..127."""

    time_seconds: float
    controller: int
    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.controller <= 127:
            raise ValueError(f"controller {self.controller} is out of range [0, 127]")
        if not 0 <= self.value <= 127:
            raise ValueError(f"value {self.value} is out of range [0, 127]")


#: the sustain pedal's controller number
SUSTAIN_PEDAL = 64
#: the expression controller (swells)
EXPRESSION = 11


@dataclass(frozen=True)
class Track:
    """One instrument part. program is a General MIDI program (0-127); drums use
    channel 10 and program selects the kit. controls: controller moves in time order
    (pedal, expression), written by the performance step; none by default."""

    role: str
    name: str
    program: int
    is_drum: bool = False
    notes: tuple[Note, ...] = ()
    gain_db: float = 0.0
    pan: float = 0.0  # -1 left .. +1 right
    controls: tuple[ControlChange, ...] = ()
    tuning_cents: float = 0.0  # the reference pitch it sounds at, cents from A440 (drums ignore it)


@dataclass(frozen=True)
class Score:
    """A whole arrangement in symbols: tracks on the beat grid, in a key."""

    tracks: tuple[Track, ...]
    grid: BeatGrid
    key: Key
    chords: tuple[ChordSpan, ...] = ()
    sections: tuple[Section, ...] = field(default=())
    reverb_room_size: float = 0.45  # the band's shared reverb, 0..1 (larger: longer tail)
    #: mix hints (set by the performance step): the tagged instrument's role, which the
    #: mix features; the genre, whose loudness targets and sidechain the mix takes; the
    #: stereo spread, 0 (narrow) .. 1 (full)
    featured_role: str | None = None
    genre: str = ""
    stereo_width: float = 1.0
    tuning_cents: float = 0.0  # the band's reference pitch, cents from A440: the singer's

    @property
    def end_seconds(self) -> float:
        return max((n.end_seconds for t in self.tracks for n in t.notes), default=0.0)

    @property
    def start_seconds(self) -> float:
        return min((n.start_seconds for t in self.tracks for n in t.notes), default=0.0)
