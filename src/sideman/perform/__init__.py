"""perform: the players' feel, between the arrangement (what is played) and the render
(how it sounds). Arrangement -> the same arrangement with a performed Score: note times
and velocities as a band plays them, and the pedal and swell moves (the MIDI file
carries all of it).

What a performance does, per track (figures per model in ``feel.json``):

* **timing**: the whole band drifts slowly and together around the singer's grid (one
  shared, correlated curve: an Ornstein-Uhlenbeck process with a time constant of
  seconds, not white jitter per note); each player adds a smaller drift of his own, a
  fixed push or lay-back (bass and pads behind, keys ahead; a laid-back genre leans
  further back) and a little jitter. Notes struck together move together.
* **velocity**: an accent map on the metric position (downbeats up, off-beat eighths
  and sixteenths down, the snare's backbeat up; soft snare hits become ghost notes) and
  a slow phrase swell, so that the hits cross the samples' velocity layers on purpose.
* **articulation**: strums on the guitar's chords (down on the beat, up between, the
  up-strum lighter), a small roll and a louder top voice on the keys, legato on the
  sustained roles (each chord overlaps the next), connected bass lines, sustain pedal
  on piano under each chord (lifted at the change), and expression swells on strings
  and pads.

V5 plays with more of everything than V4_5PLUS; both are human. Same arrangement, model
and seed -> the same performance (one seeded Generator).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

import numpy as np

from sideman.errors import InvalidField
from sideman.music.model import EXPRESSION, SUSTAIN_PEDAL, ControlChange, Note, Score, Track

__all__ = ["Feel", "featured_role", "feel", "perform", "perform_arrangement"]

#: notes whose onsets lie closer than this are one stroke (a chord)
_CHORD_TOLERANCE_SECONDS = 0.012
#: the shortest note a performance leaves
_MIN_NOTE_SECONDS = 0.02
#: step of the drift curves
_CURVE_STEP_SECONDS = 0.05
#: pedal: lifted this long after a chord change, pressed again this much later
_PEDAL_LIFT_SECONDS = 0.02
_PEDAL_CATCH_SECONDS = 0.09
#: swells: one expression value per this many seconds
_SWELL_STEP_SECONDS = 0.1
_SWELL_BASE = 104
#: legato: a sustained chord reaches into the next by this much (when they nearly touch)
_LEGATO_OVERLAP_SECONDS = 0.05
_LEGATO_MAX_GAP_SECONDS = 0.25
#: a bass note this close to the next is tied to it (ends just before it)
_BASS_TIE_GAP_SECONDS = 0.12
_BASS_TIE_BEFORE_SECONDS = 0.008
#: drum kit keys of the snare and the hi-hat (GM)
_SNARES = frozenset({37, 38, 40})
_HATS = frozenset({42, 44, 46})


@dataclass(frozen=True)
class Feel:
    """How loosely a model plays. Times in ms, velocity figures as fractions.

    band_drift_ms / band_drift_seconds: standard deviation and time constant of the
        drift every player shares; player_drift_ms / player_drift_seconds: each
        player's own; jitter_ms: white timing noise per stroke.
    velocity_depth: how much of the accent map is applied (0..1); velocity_noise:
        per-note random spread; phrase_swell: the slow velocity curve's spread.
    strum_ms: a full guitar strum's spread, low to high string; roll_ms: the keys'.
    swell_depth: expression (CC 11) rise in a sustained chord, 0..127.
    legato: 0..1, how much of the legato and tied-bass rules apply.
    """

    band_drift_ms: float
    band_drift_seconds: float
    player_drift_ms: float
    player_drift_seconds: float
    jitter_ms: float
    velocity_depth: float
    velocity_noise: float
    phrase_swell: float
    strum_ms: float
    roll_ms: float
    swell_depth: int
    legato: float


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(resources.files("sideman.perform").joinpath("feel.json").read_text())


def feel(model: str) -> Feel:
    """The feel of a model ("V4_5PLUS" or "V5").

    Raises
    ------
    InvalidField
        for an unknown model.
    """
    models = _data()["models"]
    if model not in models:
        raise InvalidField(f"model must be one of {', '.join(models)}, got {model!r}", param="model", value=model)
    return Feel(**models[model])


def perform_arrangement(arrangement, *, model: str):
    """The arrangement with its score performed (see `perform`); the generator is seeded
    from the arrangement's seed and variation, so a take always plays the same."""
    rng = np.random.default_rng([int(arrangement.seed) & 0x7FFFFFFF, int(arrangement.variation), 0x5E1F])
    style = arrangement.style
    score = perform(arrangement.score, model=model, genre=style.genre, rng=rng)
    score = replace(score, featured_role=featured_role(score, style.matched_tags), genre=style.genre,
                    stereo_width=float(_data()["stereo_width"][model]))
    return replace(arrangement, score=score)


def featured_role(score: Score, matched_tags: tuple[str, ...]) -> str | None:
    """The role of the first tagged instrument the band plays (the one the mix
    features); without one, the part that carries the harmony (guitar, else keys)."""
    from sideman.style import vocabulary

    instruments = vocabulary()["instruments"]
    roles = {t.role for t in score.tracks if t.notes}
    for tag in matched_tags:
        role = instruments.get(tag, {}).get("role")
        if role in roles:
            return role
    return next((r for r in ("guitar", "keys", "strings", "brass", "pad", "arp") if r in roles), None)


def perform(score: Score, *, model: str, genre: str, rng: np.random.Generator) -> Score:
    """Play a score: a new Score with performed note times and velocities, and pedal and
    expression moves on the tracks that take them. The input is not changed.

    Parameters
    ----------
    score : the arrangement's score (notes on the singer's grid).
    model : "V4_5PLUS" or "V5" (how loose; see ``feel.json``).
    genre : the style's genre (how far the band lays back, whether the piano pedals).
    rng : the one seeded generator.

    Returns
    -------
    Score with the same tracks, roles and note count per track.

    Raises
    ------
    InvalidField
        for an unknown model.

    Examples
    --------
    >>> performed = perform(score, model="V5", genre="pop", rng=np.random.default_rng(1))
    >>> len(performed.tracks) == len(score.tracks)
    True
    """
    f = feel(model)
    data = _data()
    if not any(t.notes for t in score.tracks):
        return score
    start = score.start_seconds - 1.0
    end = score.end_seconds + 1.0
    band = _drift_curve(rng, start, end, std_ms=f.band_drift_ms, tau_seconds=f.band_drift_seconds)
    swell = _drift_curve(rng, start, end, std_ms=1.0, tau_seconds=4.0)  # unit spread, scaled below
    lay_back = float(data["genre_lay_back"].get(genre, 1.0))
    tracks = []
    for track in score.tracks:
        if not track.notes:
            tracks.append(track)
            continue
        own = _drift_curve(rng, start, end, std_ms=f.player_drift_ms, tau_seconds=f.player_drift_seconds)
        push_ms = float(data["push_ms"].get(track.role, 0.0))
        push_ms = push_ms * lay_back if push_ms > 0 else push_ms / max(lay_back, 0.5)
        notes = _velocities(track, score, f, data, swell=swell, rng=rng)
        notes = _timing(track, notes, f, data, band=band, own=own, push_ms=push_ms, lay_back=lay_back, rng=rng)
        controls: list[ControlChange] = list(track.controls)
        if not track.is_drum:
            if track.role in data["strum_roles"]:
                notes = _strum(notes, score, width_ms=f.strum_ms, rng=rng)
            elif track.role in data["roll_roles"]:
                notes = _roll(notes, width_ms=f.roll_ms, rng=rng)
            if track.role in data["mono_roles"]:
                notes = _tie_bass(notes, amount=f.legato)
            if track.role in data["legato_roles"]:
                notes = _legato(notes, amount=f.legato)
            if (track.role in ("keys", "piano") and track.program in data["pedal_programs"]
                    and genre not in data["no_pedal_genres"]):
                controls += _pedal(score, notes)
            if track.role in data["swell_roles"]:
                controls += _swells(notes, depth=f.swell_depth)
        controls.sort(key=lambda c: (c.time_seconds, c.controller))
        tracks.append(replace(track, notes=tuple(sorted(notes, key=lambda n: (n.start_seconds, n.pitch_midi))),
                              controls=tuple(controls)))
    return replace(score, tracks=tuple(tracks))


# timing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Curve:
    """A sampled curve: values at start_seconds + i * step_seconds (ms, or a unit)."""

    start_seconds: float
    step_seconds: float
    values: np.ndarray

    def at(self, time_seconds: float) -> float:
        x = (time_seconds - self.start_seconds) / self.step_seconds
        i = int(np.clip(math.floor(x), 0, len(self.values) - 2))
        frac = float(np.clip(x - i, 0.0, 1.0))
        return float(self.values[i] * (1 - frac) + self.values[i + 1] * frac)


def _drift_curve(rng: np.random.Generator, start: float, end: float, *, std_ms: float, tau_seconds: float) -> _Curve:
    """An Ornstein-Uhlenbeck process: stationary spread std_ms, correlation time
    tau_seconds (slow, smooth drift, not jitter)."""
    steps = max(2, int(math.ceil((end - start) / _CURVE_STEP_SECONDS)) + 2)
    a = math.exp(-_CURVE_STEP_SECONDS / max(tau_seconds, 1e-3))
    noise = rng.normal(0.0, std_ms * math.sqrt(1 - a * a), steps)
    values = np.empty(steps)
    values[0] = rng.normal(0.0, std_ms)
    for i in range(1, steps):
        values[i] = a * values[i - 1] + noise[i]
    return _Curve(start, _CURVE_STEP_SECONDS, values)


def _strokes(notes: list[Note]) -> list[list[int]]:
    """Indices of notes grouped by onset (one stroke = notes struck together)."""
    order = sorted(range(len(notes)), key=lambda i: notes[i].start_seconds)
    groups: list[list[int]] = []
    for i in order:
        if groups and notes[i].start_seconds - notes[groups[-1][0]].start_seconds < _CHORD_TOLERANCE_SECONDS:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _timing(track: Track, notes: list[Note], f: Feel, data: dict, *, band: _Curve, own: _Curve,
            push_ms: float, lay_back: float, rng: np.random.Generator) -> list[Note]:
    """Shift every stroke by the band's drift, the player's own, his push and jitter;
    a drum piece adds its own lean (the snare a touch late, the hats early)."""
    pieces = {int(k): float(v) for k, v in data["drum_piece_ms"].items()}
    out = list(notes)
    for group in _strokes(notes):
        t = notes[group[0]].start_seconds
        base_ms = band.at(t) + own.at(t) + push_ms + rng.normal(0.0, f.jitter_ms)
        for i in group:
            note = notes[i]
            shift_ms = base_ms
            if track.is_drum:
                lean = pieces.get(note.pitch_midi, 0.0)
                shift_ms += lean * lay_back if lean > 0 else lean
            shift = shift_ms / 1000.0
            out[i] = replace(note, start_seconds=note.start_seconds + shift,
                             end_seconds=max(note.end_seconds + shift, note.start_seconds + shift + _MIN_NOTE_SECONDS))
    return out


# velocity ------------------------------------------------------------------------------


def _metric_accent(score: Score, time_seconds: float, accents: dict) -> tuple[float, int, bool]:
    """(accent, beat in bar (0-based), on the beat) of a time on the score's grid."""
    grid = score.grid
    position = grid.beat_position(time_seconds)
    whole = math.floor(position + 0.02)
    frac = position - whole
    beat_in_bar = int((whole - grid.first_downbeat_index) % max(grid.beats_per_bar, 1))
    on_beat = abs(frac) < 0.06 or abs(frac - 1) < 0.06
    if on_beat:
        if beat_in_bar == 0:
            return accents["downbeat"], beat_in_bar, True
        strong = grid.beats_per_bar == 4 and beat_in_bar == 2
        return (accents["strong_beat"] if strong else accents["beat"]), beat_in_bar, True
    eighth = abs(frac - 0.5) < 0.1 or (grid.beat_unit == 8 and (abs(frac - 1 / 3) < 0.08 or abs(frac - 2 / 3) < 0.08))
    return (accents["eighth"] if eighth else accents["sixteenth"]), beat_in_bar, False


def _velocities(track: Track, score: Score, f: Feel, data: dict, *, swell: _Curve,
                rng: np.random.Generator) -> list[Note]:
    """Velocities from the written ones: the metric accent map, ghost notes on the
    snare, lighter off-beat hats, a slow phrase swell and a little noise."""
    accents = data["accent"]
    ghost = data["ghost"]
    out = []
    for note in track.notes:
        accent, beat_in_bar, on_beat = _metric_accent(score, note.start_seconds, accents)
        velocity = float(note.velocity)
        if track.is_drum and note.pitch_midi in _SNARES:
            if on_beat and beat_in_bar % 2 == 1:
                accent += accents["backbeat_snare"]
            elif not on_beat and velocity < ghost["below_velocity"]:
                velocity *= 1.0 - (1.0 - ghost["scale"]) * f.velocity_depth  # a ghost note
        if track.is_drum and note.pitch_midi in _HATS and not on_beat:
            accent += data["hat_offbeat"]
        level = 1.0 + f.velocity_depth * accent + f.phrase_swell * swell.at(note.start_seconds)
        level += rng.normal(0.0, f.velocity_noise)
        out.append(replace(note, velocity=int(np.clip(round(velocity * level), 1, 127))))
    return out


# articulation --------------------------------------------------------------------------


def _strum(notes: list[Note], score: Score, *, width_ms: float, rng: np.random.Generator) -> list[Note]:
    """Chords of three or more notes strummed: down (low to high) on the beat, up (high
    to low, lighter) between beats; the spread varies a little stroke to stroke."""
    out = list(notes)
    for group in _strokes(notes):
        if len(group) < 3:
            continue
        t = notes[group[0]].start_seconds
        position = score.grid.beat_position(t)
        down = abs(position - round(position)) < 0.1
        ordered = sorted(group, key=lambda i: notes[i].pitch_midi, reverse=not down)
        width = width_ms * float(rng.uniform(0.75, 1.25)) * (1.0 if down else 0.7) / 1000.0
        for k, i in enumerate(ordered):
            note = notes[i]
            delay = width * k / (len(ordered) - 1)
            velocity = note.velocity if down else max(1, round(note.velocity * 0.88))
            out[i] = replace(note, start_seconds=note.start_seconds + delay,
                             end_seconds=max(note.end_seconds, note.start_seconds + delay + _MIN_NOTE_SECONDS),
                             velocity=velocity)
    return out


def _roll(notes: list[Note], *, width_ms: float, rng: np.random.Generator) -> list[Note]:
    """A pianist's chord: the hands a hair apart (a small random roll upward) and the
    top voice, the melody of the voicing, a little louder."""
    out = list(notes)
    for group in _strokes(notes):
        if len(group) < 2:
            continue
        ordered = sorted(group, key=lambda i: notes[i].pitch_midi)
        width = float(rng.uniform(0.0, width_ms)) / 1000.0
        for k, i in enumerate(ordered):
            note = notes[i]
            delay = width * k / (len(ordered) - 1)
            velocity = min(127, note.velocity + 6) if k == len(ordered) - 1 else note.velocity
            out[i] = replace(note, start_seconds=note.start_seconds + delay,
                             end_seconds=max(note.end_seconds, note.start_seconds + delay + _MIN_NOTE_SECONDS),
                             velocity=velocity)
    return out


def _tie_bass(notes: list[Note], *, amount: float) -> list[Note]:
    """A bass note that nearly reaches the next one is held up to it (a connected line);
    one that runs into the next is cut just before it (one string, one note)."""
    ordered = sorted(notes, key=lambda n: n.start_seconds)
    out = []
    for note, nxt in zip(ordered, [*ordered[1:], None], strict=True):
        if nxt is not None and nxt.start_seconds - note.start_seconds > _MIN_NOTE_SECONDS * 2:
            gap = nxt.start_seconds - note.end_seconds
            end = nxt.start_seconds - _BASS_TIE_BEFORE_SECONDS
            if gap < 0 or gap < _BASS_TIE_GAP_SECONDS * amount:
                note = replace(note, end_seconds=max(end, note.start_seconds + _MIN_NOTE_SECONDS))
        out.append(note)
    return out


def _legato(notes: list[Note], *, amount: float) -> list[Note]:
    """Sustained chords overlap the next stroke a little (a bowed or breathed change)
    when they nearly touch it."""
    groups = _strokes(notes)
    out = list(notes)
    for group, nxt in zip(groups, groups[1:], strict=False):
        next_start = notes[nxt[0]].start_seconds
        for i in group:
            note = notes[i]
            gap = next_start - note.end_seconds
            if -0.01 < gap < _LEGATO_MAX_GAP_SECONDS * amount:
                out[i] = replace(note, end_seconds=next_start + _LEGATO_OVERLAP_SECONDS * amount)
    return out


def _pedal(score: Score, notes: list[Note]) -> list[ControlChange]:
    """Sustain pedal under each chord of the chart, changed legato: lifted just after
    the change and caught again once the new chord sounds."""
    if not notes or not score.chords:
        return []
    first = min(n.start_seconds for n in notes)
    last = max(n.end_seconds for n in notes)
    moves: list[ControlChange] = []
    for span in score.chords:
        if span.chord is None or span.end_seconds <= first or span.start_seconds >= last:
            continue
        t = max(span.start_seconds, first)
        if moves:
            moves.append(ControlChange(t + _PEDAL_LIFT_SECONDS, SUSTAIN_PEDAL, 0))
        moves.append(ControlChange(t + _PEDAL_CATCH_SECONDS, SUSTAIN_PEDAL, 127))
    if moves:
        moves.append(ControlChange(last, SUSTAIN_PEDAL, 0))
    return moves


def _swells(notes: list[Note], *, depth: int) -> list[ControlChange]:
    """Expression swells: each sustained stroke rises toward its middle and eases off."""
    moves: list[ControlChange] = []
    groups = _strokes(notes)
    for group in groups:
        start = notes[group[0]].start_seconds
        end = max(notes[i].end_seconds for i in group)
        length = end - start
        if length < 0.6:
            continue
        steps = max(2, int(length / _SWELL_STEP_SECONDS))
        for k in range(steps + 1):
            x = k / steps
            value = _SWELL_BASE - depth // 2 + depth * math.sin(math.pi * min(1.0, x * 1.2)) ** 2
            moves.append(ControlChange(start + x * length, EXPRESSION, int(np.clip(round(value), 0, 127))))
    if moves:
        moves.append(ControlChange(moves[-1].time_seconds + 1e-3, EXPRESSION, 127))
    return moves
