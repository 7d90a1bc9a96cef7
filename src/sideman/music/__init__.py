"""The symbolic model every stage speaks: notes, keys, chords, beat grids, scores.

No I/O and no imports from the rest of sideman. Times are seconds on the input's clock
(second 0 = the start of the upload); pitches are MIDI note numbers (60 = middle C).
"""

from sideman.music.model import (
    BeatGrid,
    Chord,
    ChordSpan,
    Key,
    Note,
    Score,
    Section,
    Track,
)
from sideman.music.theory import (
    PITCH_CLASS_NAMES,
    hz_to_midi,
    midi_to_hz,
    parse_key,
    pitch_class_name,
)

__all__ = [
    "PITCH_CLASS_NAMES",
    "BeatGrid",
    "Chord",
    "ChordSpan",
    "Key",
    "Note",
    "Score",
    "Section",
    "Track",
    "hz_to_midi",
    "midi_to_hz",
    "parse_key",
    "pitch_class_name",
]
