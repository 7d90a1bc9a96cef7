"""Harmony parts (keys, guitar, strings, pad): voiced chords on the style's pattern,
with voice leading (each chord takes the inversion nearest the last one) and a register
chosen away from the singer's. Along the arc (arc.py) the comping part holds whole
chords in the intro (or plays its arpeggio), answers every second bar, breathes on the
last beat of each four-bar phrase and drops out after the downbeat where a section ends
in a rest; sustaining parts (pads, strings) come in for the choruses."""

from __future__ import annotations

import itertools

from sideman.arrangement.arc import CHORUS, INTRO
from sideman.arrangement.context import PartContext
from sideman.arrangement.patterns import for_meter, patterns, variant_for, varied
from sideman.music import Chord, Note

# role -> (base velocity 0..1, register shift in semitones)
_ROLE_LEVEL = {"keys": (0.62, 0), "guitar": (0.6, -5), "strings": (0.5, 0), "pad": (0.45, 0),
               "brass": (0.66, 5), "arp": (0.5, 0), "swells": (0.42, 0), "vocals": (0.5, 0), "lead": (0.58, 0)}
#: roles whose register is fixed by their job, not by the singer's range
_FIXED_REGISTER = {"arp": (72, 88), "lead": (67, 84)}
#: wordless backing vocals sing in the register of the voice they back
_BACKING_VOCAL_REGISTER = {"f": (62, 77), "m": (50, 65)}


def harmony_register(vocal_range_midi: tuple[int, int], role: str, *, vocal_gender: str = "f") -> tuple[int, int]:
    """(low, high) MIDI range for a harmony part: below a high voice, around and above
    middle C for a low voice (where a piano below would turn to mud)."""
    if role in _FIXED_REGISTER:
        return _FIXED_REGISTER[role]
    if role == "vocals":
        return _BACKING_VOCAL_REGISTER.get(vocal_gender, _BACKING_VOCAL_REGISTER["f"])
    low_voice, _ = vocal_range_midi
    if low_voice >= 57:  # a high voice: comp underneath it
        low, high = 48, max(62, min(low_voice + 2, 69))
    else:  # a low voice: comp above its lower half
        low, high = 55, 74
    shift = _ROLE_LEVEL.get(role, (0.6, 0))[1]
    return low + shift, high + shift


def write_harmony(ctx: PartContext, *, role: str, pattern: str, sparse: bool,
                  bars: set[int] | None = None, arc: str = "fixed") -> tuple[Note, ...]:
    """Voiced chords on `pattern` (a key of patterns.json "harmony" or "colour"), in every
    bar or only in `bars`. Under a long sung note the part plays softer.
    arc: "comp" the part that comps (it follows the arc bar by bar), "companion" a
    second comping part that comps in the choruses only, "sustain" a part that comes in
    for the choruses, "fixed" the pattern as it is in every bar."""
    data = patterns()
    table = data["colour"].get(pattern) or data["harmony"][pattern]
    beats_per_bar = ctx.form.grid.beats_per_bar
    bar_pattern = for_meter(data["harmony_sparse"] if sparse else table, beats_per_bar)
    held = "low" if all(what == "low" for _, _, what in bar_pattern) else "chord"  # power chords stay power chords
    intro_pattern = (bar_pattern if pattern in data["intro_keeps"]
                     else [[b, length, held] for b, length, _ in for_meter(data["harmony_sparse"], beats_per_bar)])
    answer = variant_for(data["harmony_answer"], pattern, beats_per_bar, sparse=sparse)
    low, high = harmony_register(ctx.vocal_range_midi, role, vocal_gender=ctx.vocal_gender)
    if role == "pad":  # an octave over the comping part (arrange() keeps it off their notes)
        low, high = low + 12, high + 12
    if ctx.variation % 2 == 1:
        low, high = low + 3, high + 3  # the second take voices a little higher
    base_level = _ROLE_LEVEL.get(role, (0.6, 0))[0]
    extensions = ctx.style.extensions or ctx.fuller_voicings
    voicings: dict[int, tuple[int, ...]] = {}  # chord span index -> its voicing, led from the last
    previous: tuple[int, ...] | None = None
    last = len(ctx.form.bars) - 1
    notes: list[Note] = []
    for b in range(len(ctx.form.bars)):
        if bars is not None and b not in bars:
            continue
        steps = _steps(ctx, b, arc=arc, pattern=bar_pattern, intro=intro_pattern, answer=answer)
        if b == last:
            steps = [[0, beats_per_bar, held]]
        if not steps:
            continue
        for beat, length, what in steps:
            start = ctx.time(b, float(beat))
            end = ctx.time(b, float(beat) + float(length))
            if b == last:
                end = start + 1.5 * (ctx.form.bars[b][1] - ctx.form.bars[b][0])  # let it ring
            cuts = [start, *ctx.form.chord_changes(start, end), end]
            for seg_start, seg_end in zip(cuts, cuts[1:], strict=False):
                if seg_end - seg_start < 0.02:
                    continue
                index = ctx.form.chord_index(seg_start)
                chord = ctx.form.chords[index].chord
                if chord is None:
                    continue
                if index not in voicings:
                    voicings[index] = voice(chord, previous=previous, low=low, high=high, extensions=extensions)
                    previous = voicings[index]
                velocity = ctx.velocity(b, base_level, accent=0.05 if beat == 0 and seg_start == start else 0.0)
                if ctx.under_long_note(seg_start):
                    velocity = max(20, int(velocity * 0.8))  # stay out of the way of a held note
                for p in _select(voicings[index], what):
                    notes.append(Note(seg_start, seg_end, p, velocity))
    return tuple(notes)


def _steps(ctx: PartContext, b: int, *, arc: str, pattern: list, intro: list, answer: list) -> list:
    """What a part plays in bar b (see write_harmony's `arc`)."""
    role = ctx.role(b)
    if arc == "fixed":
        return pattern
    if arc == "sustain" or (arc == "companion" and len(pattern) <= 1):
        return pattern if role.level >= CHORUS else []
    if arc == "companion" and role.level < CHORUS:
        return []
    if role.level == INTRO:
        return intro
    if role.stop:
        return [[0, 1, intro[0][2] if intro else "chord"]]  # the band drops out after the downbeat
    if role.turnaround:  # a breath on the phrase's last beat
        beats = ctx.form.grid.beats_per_bar
        return varied(pattern, [[beats - 1, 0.5, answer[-1][2]]]) if len(pattern) > 1 else varied(pattern, answer)
    if role.answer:
        return varied(pattern, answer)
    return pattern


def voice(chord: Chord, *, previous: tuple[int, ...] | None, low: int, high: int, extensions: bool) -> tuple[int, ...]:
    """Close-position voicing of the chord within [low, high] nearest to `previous`."""
    intervals = list(chord.intervals)
    if extensions and len(intervals) == 3:
        seventh = 11 if chord.quality == "maj" else 10 if chord.quality == "min" else None
        if seventh is not None:
            intervals.append(seventh)
    pcs = [(chord.root_pitch_class + i) % 12 for i in intervals]
    candidates = []
    for inversion in range(len(pcs)):
        order = pcs[inversion:] + pcs[:inversion]
        for octave_start in range(low - 12, high + 1):
            if octave_start % 12 != order[0]:
                continue
            pitches = [octave_start]
            for pc in order[1:]:
                nxt = pitches[-1] + ((pc - pitches[-1]) % 12 or 12)
                pitches.append(nxt)
            if pitches[0] >= low and pitches[-1] <= high + 2:
                candidates.append(tuple(pitches))
    if not candidates:
        base = low + (chord.root_pitch_class - low) % 12
        return tuple(base + i for i in intervals)
    if previous is None:
        center = (low + high) / 2
        return min(candidates, key=lambda c: abs(sum(c) / len(c) - center))
    return min(candidates, key=lambda c: _movement(previous, c))


def _movement(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Total semitone motion pairing the voices in order (a short voice-leading cost)."""
    pairs = itertools.zip_longest(sorted(a), sorted(b), fillvalue=sorted(b)[-1])
    return float(sum(abs(x - y) for x, y in pairs))


def _select(voicing: tuple[int, ...], what: str) -> tuple[int, ...]:
    if what == "chord":
        return voicing
    if what == "low":  # a power chord: root and fifth from the bottom of the voicing
        root = min(voicing)
        return (root - 12, root - 5) if root - 12 >= 36 else (root, root + 7)
    if what == "high":
        return voicing[1:] if len(voicing) > 2 else voicing
    if what.startswith("arp"):
        i = int(what[3:])
        return (voicing[i % len(voicing)],)
    raise ValueError(f"unknown harmony step {what!r}")
