"""Small music-theory helpers: pitch names, scales, chord templates."""

from __future__ import annotations

import math

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_NAME_TO_PC = {
    "C": 0, "B#": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "FB": 4, "F": 5,
    "E#": 5, "F#": 6, "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10,
    "B": 11, "CB": 11,
}  # fmt: skip

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

#: chord quality (Harte shorthand) -> intervals above the root, in semitones
CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "maj6": (0, 4, 7, 9),
    "min6": (0, 3, 7, 9),
    "maj9": (0, 4, 7, 11, 14),
    "min9": (0, 3, 7, 10, 14),
    "9": (0, 4, 7, 10, 14),
}


def pitch_class_name(pitch_class: int) -> str:
    """`4` -> `"E"`. Flats for the black keys but F#, as lead sheets usually spell them."""
    return PITCH_CLASS_NAMES[pitch_class % 12]


def parse_pitch_class(name: str) -> int:
    """`"Eb"`, `"D#"`, `"e"` -> 3, 3, 4. Raises ValueError for anything else."""
    key = name.strip().upper().replace("♯", "#").replace("♭", "B")
    if key not in _NAME_TO_PC:
        raise ValueError(f"not a pitch name: {name!r} (expected C, C#, Db, ... B)")
    return _NAME_TO_PC[key]


def parse_key(label: str) -> tuple[int, str]:
    """`"E major"` / `"c# minor"` / `"Am"` -> (tonic pitch class, "major"|"minor")."""
    text = label.strip()
    parts = text.split()
    if len(parts) == 2 and parts[1].lower() in ("major", "minor", "maj", "min"):
        mode = "major" if parts[1].lower().startswith("maj") else "minor"
        return parse_pitch_class(parts[0]), mode
    if len(parts) == 1 and text:
        if text.endswith("m") and len(text) > 1 and text[:-1].upper() in _NAME_TO_PC:
            return parse_pitch_class(text[:-1]), "minor"
        return parse_pitch_class(text), "major"
    raise ValueError(f"not a key: {label!r} (expected e.g. 'E major' or 'A minor')")


def midi_to_hz(pitch_midi: float) -> float:
    return 440.0 * 2.0 ** ((pitch_midi - 69.0) / 12.0)


def hz_to_midi(frequency_hz: float) -> float:
    return 69.0 + 12.0 * math.log2(frequency_hz / 440.0)
