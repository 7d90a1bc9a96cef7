"""What the request's knobs do to the chords, in one place.

audio_weight (0..1): how tightly the harmony follows the voice. 1 plays every chord the
    melody implies (the analysed chart); 0 plays the style's stock progression in the
    key, bar by bar; in between, each bar takes whichever of the two scores higher on
    audio_weight x (share of the bar's melody on chord tones) + (1 - audio_weight) x
    (1 for the stock chord).
weirdness_constraint (0..1): 0 keeps textbook triads; higher values try, bar by bar
    with that probability, a substitution (an added seventh or sixth, sus, modal
    interchange, a tritone substitute of a dominant) and keep it only when the melody
    agrees with it at least as well as with the chord it replaces (within 10 %).
"""

from __future__ import annotations

import re

import numpy as np

from sideman.arrangement.patterns import patterns
from sideman.music import Chord, ChordSpan, Key, Note

_ROMAN = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}
_MINOR_DEGREES = {"III": 3, "VI": 8, "VII": 10}  # in a minor key these sit a semitone lower


def stock_chords(spans: tuple[ChordSpan, ...], key: Key, genre: str) -> tuple[ChordSpan, ...]:
    table = patterns()["progressions"]
    progression = table.get(genre, table["default"])[key.mode]
    return tuple(ChordSpan(c.start_seconds, c.end_seconds, parse_roman(progression[i % len(progression)], key))
                 for i, c in enumerate(spans))


def parse_roman(numeral: str, key: Key) -> Chord:
    """`"V7"`, `"vi"`, `"bVII"`, `"Imaj7"` in a key -> Chord."""
    match = re.fullmatch(r"(b?)([ivIV]+)(maj7|7)?", numeral)
    if not match:
        raise ValueError(f"not a roman numeral: {numeral!r}")
    flat, degree, suffix = match.groups()
    upper = degree.upper()
    semitones = _ROMAN[upper]
    if key.mode == "minor" and upper in _MINOR_DEGREES:
        semitones = _MINOR_DEGREES[upper]
    semitones -= 1 if flat else 0
    minor = degree.islower()
    quality = {None: "min" if minor else "maj", "7": "min7" if minor else "7", "maj7": "maj7"}[suffix]
    return Chord((key.tonic_pitch_class + semitones) % 12, quality)


def chord_fit(chord: Chord | None, notes: tuple[Note, ...], start: float, end: float) -> float:
    """Share (0..1) of the melody sounding in [start, end) that sits on a chord tone;
    1.0 when nothing is sung there."""
    if chord is None:
        return 0.0
    on = total = 0.0
    tones = chord.pitch_classes
    for note in notes:
        overlap = min(end, note.end_seconds) - max(start, note.start_seconds)
        if overlap > 0:
            total += overlap
            on += overlap * (note.pitch_midi % 12 in tones)
    return on / total if total else 1.0


def blend_chords(heard: tuple[ChordSpan, ...], stock: tuple[ChordSpan, ...], notes: tuple[Note, ...],
                 *, audio_weight: float) -> tuple[ChordSpan, ...]:
    out = []
    for a, s in zip(heard, stock, strict=True):
        if audio_weight >= 1.0 or a.chord is None:
            out.append(a)
            continue
        if audio_weight <= 0.0:
            out.append(s)
            continue
        fit_a = chord_fit(a.chord, notes, a.start_seconds, a.end_seconds)
        fit_s = chord_fit(s.chord, notes, a.start_seconds, a.end_seconds)
        score_a = audio_weight * fit_a
        score_s = audio_weight * fit_s + (1.0 - audio_weight)
        out.append(a if score_a >= score_s else ChordSpan(a.start_seconds, a.end_seconds, s.chord))
    return tuple(out)


def substitutions(chord: Chord, key: Key) -> list[Chord]:
    """Colourful replacements for a chord, most conventional first."""
    root, q = chord.root_pitch_class, chord.quality
    out: list[Chord] = []
    dominant = (root - key.tonic_pitch_class) % 12 == 7
    if q == "maj":
        out += [Chord(root, "7" if dominant else "maj7"), Chord(root, "maj6"), Chord(root, "sus2"), Chord(root, "sus4")]
        if dominant:
            out.append(Chord((root + 6) % 12, "7"))  # tritone substitute
        if key.mode == "major" and (root - key.tonic_pitch_class) % 12 == 5:
            out.append(Chord(root, "min"))  # borrowed iv
    elif q == "min":
        out += [Chord(root, "min7"), Chord(root, "min9"), Chord(root, "min6")]
    elif q in ("7", "maj7", "min7"):
        out += [Chord(root, {"7": "9", "maj7": "maj9", "min7": "min9"}[q])]
    return out


def colour_chords(spans: tuple[ChordSpan, ...], notes: tuple[Note, ...], key: Key, *,
                  weirdness: float, rng: np.random.Generator) -> tuple[ChordSpan, ...]:
    out = []
    for span in spans:
        chord = span.chord
        if chord is not None and weirdness > 0 and rng.random() < weirdness:
            options = substitutions(chord, key)
            # tamer substitutions at low weirdness, the far ones only near 1
            reach = max(1, int(round(len(options) * weirdness)))
            base_fit = chord_fit(chord, notes, span.start_seconds, span.end_seconds)
            for index in rng.permutation(reach):
                candidate = options[int(index)]
                if chord_fit(candidate, notes, span.start_seconds, span.end_seconds) >= base_fit - 0.1:
                    chord = candidate
                    break
        out.append(ChordSpan(span.start_seconds, span.end_seconds, chord))
    return tuple(out)
