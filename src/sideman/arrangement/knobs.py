"""What the request's knobs do to the chords, in one place.

audio_weight (0..1): how tightly the harmony follows the voice. 1 plays every chord the
    melody implies (the analysed chart); 0 plays the style's stock progression in the
    key, bar by bar; in between, a sung piece of a bar takes the stock chord only when
    its fit to the melody (share of the sung time on chord tones) plus a bonus
    STOCK_PRIOR x (1 - w) / w - STOCK_HANDICAP beats the heard chord's: at the default
    0.7 the stock chord must fit 0.05 better (the melody decides wherever it says
    something), at 0.5 it wins unless it fits 0.1 worse, at 0.3 unless 0.45 worse, and
    near 0 everywhere. Where
    nothing is sung, the heard chord holds if its span is sung elsewhere (the analysis
    carried it over the rest), and the stock chord plays otherwise.
weirdness_constraint (0..1): 0 keeps textbook triads. Above 0 the chords take the
    colours the melody sings (a sung seventh, ninth or sixth joins the chord, a held
    fourth with no third makes it sus4) and the bass walks down through a chord's third
    where that makes a stepwise line (C - G/B - Am); higher values also try, bar by bar
    with that probability, a substitution (an added seventh or sixth, sus, modal
    interchange, a tritone substitute of a dominant) and keep it only when the melody
    agrees with it at least as well as with the chord it replaces (within 10 %).
"""

from __future__ import annotations

import re
from bisect import bisect_left

import numpy as np

from sideman.arrangement.patterns import patterns
from sideman.music import Chord, ChordSpan, Key, Note

#: the stock chord's bonus per (1 - w) / w of audio_weight w, less a handicap, in
#: shares of the melody on chord tones (see the module docstring)
STOCK_PRIOR = 0.26
STOCK_HANDICAP = 0.16

_ROMAN = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}
_MINOR_DEGREES = {"III": 3, "VI": 8, "VII": 10}  # in a minor key these sit a semitone lower


def stock_chords(bars: list[tuple[float, float]], key: Key, genre: str) -> tuple[ChordSpan, ...]:
    """The style's stock progression, one chord per bar."""
    table = patterns()["progressions"]
    progression = table.get(genre, table["default"])[key.mode]
    return tuple(ChordSpan(a, b, parse_roman(progression[i % len(progression)], key)) for i, (a, b) in enumerate(bars))


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


def sounding(notes: tuple[Note, ...], start: float, end: float) -> tuple[Note, ...]:
    """The notes (sorted by start) that sound somewhere in [start, end), found by
    bisection: the knobs ask this per chord piece, and a long song has thousands."""
    starts, longest = _index(notes)
    lo = bisect_left(starts, start - longest)
    hi = bisect_left(starts, end)
    return tuple(n for n in notes[lo:hi] if n.end_seconds > start and n.start_seconds < end)


#: the last few melodies indexed: (notes, start times, longest duration)
_INDEXED: list[tuple[tuple[Note, ...], list[float], float]] = []


def _index(notes: tuple[Note, ...]) -> tuple[list[float], float]:
    for known, starts, longest in _INDEXED:
        if known is notes:
            return starts, longest
    starts = [n.start_seconds for n in notes]
    if any(b < a for a, b in zip(starts, starts[1:], strict=False)):  # unsorted: no shortcut
        return [float("-inf")] * len(notes), float("inf")
    longest = max((n.duration_seconds for n in notes), default=0.0)
    _INDEXED.insert(0, (notes, starts, longest))
    del _INDEXED[4:]
    return starts, longest


def chord_fit(chord: Chord | None, notes: tuple[Note, ...], start: float, end: float) -> float:
    """Share (0..1) of the melody sounding in [start, end) that sits on a chord tone;
    1.0 when nothing is sung there."""
    if chord is None:
        return 0.0
    on = total = 0.0
    tones = chord.pitch_classes
    for note in sounding(notes, start, end):
        overlap = min(end, note.end_seconds) - max(start, note.start_seconds)
        if overlap > 0:
            total += overlap
            on += overlap * (note.pitch_midi % 12 in tones)
    return on / total if total else 1.0


def blend_chords(heard: tuple[ChordSpan, ...], stock: tuple[ChordSpan, ...], notes: tuple[Note, ...],
                 *, audio_weight: float) -> tuple[ChordSpan, ...]:
    """Heard and stock chords cut at each other's boundaries; each piece takes the one
    that scores higher (see the module docstring)."""
    if not stock:
        return heard
    cuts = sorted({c.start_seconds for c in heard} | {c.end_seconds for c in heard}
                  | {c.start_seconds for c in stock} | {c.end_seconds for c in stock})
    lo, hi = heard[0].start_seconds if heard else stock[0].start_seconds, max(
        heard[-1].end_seconds if heard else 0.0, stock[-1].end_seconds)
    out: list[ChordSpan] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        if b - a < 1e-3 or a < lo - 1e-6 or b > hi + 1e-6:
            continue
        mid = (a + b) / 2
        chord_h = next((c.chord for c in heard if c.start_seconds <= mid < c.end_seconds), None)
        chord_s = next((c.chord for c in stock if c.start_seconds <= mid < c.end_seconds), None)
        if chord_s is None or audio_weight >= 1.0:
            chosen = chord_h if chord_h is not None else chord_s
        elif chord_h is None or audio_weight <= 0.0:
            chosen = chord_s
        elif not _sung(notes, a, b):
            # the melody says nothing here: the heard chord holds where its span is sung
            # elsewhere (the analysis carried it through the rest); the stock chord otherwise
            span_h = next(c for c in heard if c.start_seconds <= mid < c.end_seconds)
            chosen = chord_h if _sung(notes, span_h.start_seconds, span_h.end_seconds) else chord_s
        else:
            bonus = STOCK_PRIOR * (1.0 - audio_weight) / audio_weight - STOCK_HANDICAP
            fit_h, fit_s = chord_fit(chord_h, notes, a, b), chord_fit(chord_s, notes, a, b)
            chosen = chord_s if fit_s + bonus > fit_h + 1e-9 else chord_h
        if out and out[-1].chord == chosen:
            out[-1] = ChordSpan(out[-1].start_seconds, b, chosen)
        else:
            out.append(ChordSpan(a, b, chosen))
    return tuple(out)


def _sung(notes: tuple[Note, ...], start: float, end: float) -> bool:
    return bool(sounding(notes, start, end))


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


#: a colour tone joins the chord when the melody sings it this share of the span's sung time
IMPLIED_SHARE = 0.15
#: a sus4 needs the fourth sung this much (half the time: the melody dwells on it), and no third at all
SUS_SHARE = 0.5


def implied_colours(spans: tuple[ChordSpan, ...], notes: tuple[Note, ...], key: Key, *,
                    long_seconds: float) -> tuple[ChordSpan, ...]:
    """Triads take the colour tones the melody sings over them: the seventh (major or
    minor, whichever is sung), then the ninth, or the sixth without a seventh; a
    major triad whose third is never sung but whose fourth is held becomes sus4. A
    colour that would make a held note rub is left out."""
    out = []
    for span in spans:
        chord, a, b = span.chord, span.start_seconds, span.end_seconds
        if chord is not None and chord.quality in ("maj", "min"):
            share = _sung_shares(notes, a, b)
            coloured = _colour_from(chord, share)
            if coloured != chord and clash_seconds(coloured, notes, a, b, long_seconds=long_seconds) <= \
                    clash_seconds(chord, notes, a, b, long_seconds=long_seconds):
                chord = coloured
        out.append(ChordSpan(a, b, chord))
    return tuple(out)


def _sung_shares(notes: tuple[Note, ...], start: float, end: float) -> np.ndarray:
    """Share of the sung time in [start, end) per pitch class [shape=(12,)]."""
    share = np.zeros(12)
    for note in sounding(notes, start, end):
        overlap = min(end, note.end_seconds) - max(start, note.start_seconds)
        if overlap > 0:
            share[note.pitch_midi % 12] += overlap
    total = share.sum()
    return share / total if total else share


def _colour_from(chord: Chord, share: np.ndarray) -> Chord:
    root = chord.root_pitch_class
    at = lambda interval: float(share[(root + interval) % 12])  # noqa: E731
    minor = chord.quality == "min"
    if not minor and at(4) == 0 and at(5) >= SUS_SHARE:
        return Chord(root, "sus4")
    sevenths = {10: "min7"} if minor else {10: "7", 11: "maj7"}
    seventh = max(sevenths, key=at)
    if at(seventh) >= IMPLIED_SHARE:
        quality = sevenths[seventh]
        if at(2) >= IMPLIED_SHARE:
            quality = {"min7": "min9", "7": "9", "maj7": "maj9"}[quality]
        return Chord(root, quality)
    if at(9) >= IMPLIED_SHARE:
        return Chord(root, "min6" if minor else "maj6")
    return chord


def reharmonise(spans: tuple[ChordSpan, ...], notes: tuple[Note, ...], key: Key, *,
                long_seconds: float) -> tuple[ChordSpan, ...]:
    """Another band's progression where the melody allows it (a second take): a sung
    chord gives way to the diatonic chord that shares two of its tones (I - vi, IV - ii,
    V - iii...) when the melody fits that one at least as well and no held note rubs;
    the first and last chords, and unsung ones, stay."""
    diatonic = _diatonic(key)
    out = list(spans)
    for i in range(1, len(out) - 1):
        span = out[i]
        chord, a, b = span.chord, span.start_seconds, span.end_seconds
        if chord is None or chord.quality not in ("maj", "min") or not _sung(notes, a, b):
            continue
        fit = chord_fit(chord, notes, a, b)
        relatives = [c for c in diatonic if c.root_pitch_class != chord.root_pitch_class
                     and len(set(c.pitch_classes) & set(chord.pitch_classes)) == 2
                     and chord_fit(c, notes, a, b) >= fit
                     and clash_seconds(c, notes, a, b, long_seconds=long_seconds) == 0]
        if relatives:
            best = max(relatives, key=lambda c: (chord_fit(c, notes, a, b), -((c.root_pitch_class - chord.root_pitch_class) % 12)))
            out[i] = ChordSpan(a, b, best)
    return tuple(out)


def walk_bass(spans: tuple[ChordSpan, ...]) -> tuple[ChordSpan, ...]:
    """Where the roots leap but the middle chord's third lies a step below the chord
    before and a step above the chord after, the bass takes that third (a slash chord
    on a descending line: C - G/B - Am, F - C/E - Dm)."""
    out = list(spans)
    for i in range(1, len(out) - 1):
        before, here, after = out[i - 1].chord, out[i].chord, out[i + 1].chord
        if before is None or here is None or after is None or len(here.intervals) < 3:
            continue
        low = before.bass_pitch_class if before.bass_pitch_class is not None else before.root_pitch_class
        third = (here.root_pitch_class + here.intervals[1]) % 12
        down_in, down_out = (low - third) % 12, (third - after.root_pitch_class) % 12
        leap = (low - here.root_pitch_class) % 12 not in (1, 2)
        if leap and down_in in (1, 2) and down_out in (1, 2):
            out[i] = ChordSpan(out[i].start_seconds, out[i].end_seconds,
                               Chord(here.root_pitch_class, here.quality, third))
    return tuple(out)


def clash_seconds(chord: Chord | None, notes: tuple[Note, ...], start: float, end: float, *, long_seconds: float) -> float:
    """Seconds of long sung notes in [start, end) a semitone above a tone of the chord."""
    if chord is None:
        return 0.0
    total = 0.0
    for note in sounding(notes, start, end):
        if note.duration_seconds < long_seconds:
            continue
        overlap = min(end, note.end_seconds) - max(start, note.start_seconds)
        if overlap > 0 and any((note.pitch_midi - pc) % 12 == 1 for pc in chord.pitch_classes):
            total += overlap
    return total


def repair_clashes(spans: tuple[ChordSpan, ...], notes: tuple[Note, ...], key: Key, *,
                   long_seconds: float) -> tuple[ChordSpan, ...]:
    """A chord under which a held note rubs a semitone above a chord tone gives way,
    while that note is held, to the chord that holds the melody best without the rub:
    its other mode (a sung major third over a minor chord), its sus4 (the held note is
    often the fourth: a 4-3 suspension that resolves when the note ends) or a diatonic
    chord. Where the rubbing notes fill most of the span, the whole span changes."""
    scale_chords = _diatonic(key)
    out: list[ChordSpan] = []
    for span in spans:
        chord = span.chord
        a, b = span.start_seconds, span.end_seconds
        if chord is None or clash_seconds(chord, notes, a, b, long_seconds=long_seconds) <= 0:
            out.append(span)
            continue
        rubs = [(max(a, n.start_seconds), min(b, n.end_seconds)) for n in sounding(notes, a, b)
                if n.duration_seconds >= long_seconds
                and any((n.pitch_midi - pc) % 12 == 1 for pc in chord.pitch_classes)]
        pieces = _merge_intervals(rubs)
        if sum(e - s for s, e in pieces) >= _WHOLE_SPAN_SHARE * (b - a):
            pieces = [(a, b)]
        t = a
        for s_, e_ in pieces:
            if s_ > t + 1e-6:
                out.append(ChordSpan(t, s_, chord))
            out.append(ChordSpan(s_, e_, _repaired(chord, notes, s_, e_, scale_chords, long_seconds)))
            t = e_
        if b > t + 1e-6:
            out.append(ChordSpan(t, b, chord))
    return tuple(out)


#: rubbing notes covering this share of a chord's span change the whole span
_WHOLE_SPAN_SHARE = 0.6


def _repaired(chord: Chord, notes: tuple[Note, ...], a: float, b: float, scale_chords: list[Chord],
              long_seconds: float) -> Chord:
    other_mode = {"maj": "min", "min": "maj"}.get(chord.quality)
    candidates = [*([Chord(chord.root_pitch_class, other_mode)] if other_mode else []),
                  Chord(chord.root_pitch_class, "sus4"), *scale_chords]
    clean = [c for c in candidates if clash_seconds(c, notes, a, b, long_seconds=long_seconds) == 0]
    if not clean:
        return chord
    return max(clean, key=lambda c: (round(chord_fit(c, notes, a, b), 6), c.root_pitch_class == chord.root_pitch_class,
                                     c.quality in ("maj", "min")))


def _merge_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1] + 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        elif e - s > 1e-3:
            out.append((s, e))
    return out


def _diatonic(key: Key) -> list[Chord]:
    numerals = ("I", "ii", "iii", "IV", "V", "vi") if key.mode == "major" else ("i", "III", "iv", "V", "VI", "VII")
    return [parse_roman(n, key) for n in numerals]
