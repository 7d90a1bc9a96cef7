"""analysis: hear a voice like a musician — notes, beat grid, meter, key, chords,
sections, range and register.

>>> from sideman.ingest import decode               # doctest: +SKIP
>>> result = analyze(decode("voice.wav", sample_rate_hz=16000))
>>> result.key.label, round(result.grid.tempo_bpm)
('E major', 90)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sideman.analysis.confidence import Confidence, estimate_confidence
from sideman.analysis.harmony import estimate_chords
from sideman.analysis.key import estimate_key
from sideman.analysis.notes import segment_in_tuning
from sideman.analysis.pitch import PITCH_SAMPLE_RATE_HZ, PitchTrack, track_pitch
from sideman.analysis.rhythm import VoiceFrames, analyze_rhythm
from sideman.analysis.structure import energy_curve, phrases, sections
from sideman.analysis.tuning import Tuning
from sideman.ingest.decode import Audio
from sideman.music import BeatGrid, ChordSpan, Key, Note, Section

__all__ = ["Analysis", "analyze"]

#: median sung pitch (MIDI) below which a voice is heard as low ("m"): between a typical
#: male voice's median (about 57, G3) and a female one's (about 67, G4); at 60 a male
#: voice singing high in its range (MIDI 54-62) was classed "f"
_REGISTER_SPLIT_MIDI = 63


@dataclass(frozen=True)
class Analysis:
    """What was heard. Times are seconds on the input's clock."""

    duration_seconds: float
    grid: BeatGrid
    key: Key
    notes: tuple[Note, ...]
    chords: tuple[ChordSpan, ...]
    sections: tuple[Section, ...]
    phrases: tuple[tuple[float, float], ...]
    energy_per_bar: tuple[float, ...]
    vocal_range_midi: tuple[int, int]
    vocal_register: str  # "m" (low) or "f" (high): the register the band keeps clear
    tuning: Tuning = Tuning()  # the singer's reference pitch; the band plays at tuning.cents
    confidence: Confidence = Confidence()  # how sure each reading is, and close rivals

    @property
    def tuning_cents(self) -> float:
        """Cents from A440 the singer sits at, and the band is rendered at."""
        return self.tuning.cents

    @property
    def first_note_seconds(self) -> float:
        return self.notes[0].start_seconds if self.notes else 0.0

    @property
    def last_note_end_seconds(self) -> float:
        return self.notes[-1].end_seconds if self.notes else self.duration_seconds

    def to_json(self) -> dict:
        """The object `sideman analyze --json` prints (shared CLI.md)."""
        return {
            "duration_seconds": round(self.duration_seconds, 3),
            "tempo_bpm": round(self.grid.tempo_bpm, 2),
            "meter": self.grid.meter,
            "beats_seconds": [round(b, 3) for b in self.grid.beats_seconds],
            "downbeats_seconds": [round(b, 3) for b in self.grid.downbeats_seconds],
            "key": self.key.label,
            "tuning_cents": round(self.tuning.cents, 1),
            "confidence": self.confidence.to_json(),
            "alternatives": dict(self.confidence.alternatives),
            "notes": [
                {"start_seconds": round(n.start_seconds, 3), "end_seconds": round(n.end_seconds, 3),
                 "pitch_midi": n.pitch_midi}
                for n in self.notes
            ],
            "chords": [
                {"start_seconds": round(c.start_seconds, 3), "end_seconds": round(c.end_seconds, 3),
                 "label": c.label}
                for c in self.chords
            ],
            "sections": [
                {"start_seconds": round(s.start_seconds, 3), "end_seconds": round(s.end_seconds, 3),
                 "label": s.label}
                for s in self.sections
            ],
            "vocal_range_midi": list(self.vocal_range_midi),
            "vocal_register": self.vocal_register,
            "energy_per_bar": [round(e, 2) for e in self.energy_per_bar],
        }


def analyze(audio: Audio, *, tempo_bpm: float | None = None, key: Key | None = None,
            tuning_cents: float | None = None) -> Analysis:
    """Analyse mono audio (any rate; resampled to 16 kHz for pitch).

    tempo_bpm / key / tuning_cents override what is heard (the API's `bpm` / `key` /
    `tuning_cents` fields); a told tuning is the one the notes are read in.
    """
    audio16 = audio.resampled(PITCH_SAMPLE_RATE_HZ)
    track = track_pitch(audio16.samples, sample_rate_hz=PITCH_SAMPLE_RATE_HZ)
    return analyze_track(track, duration_seconds=audio.duration_seconds, tempo_bpm=tempo_bpm, key=key,
                         tuning_cents=tuning_cents)


def analyze_track(
    track: PitchTrack, *, duration_seconds: float, tempo_bpm: float | None = None, key: Key | None = None,
    tuning_cents: float | None = None,
) -> Analysis:
    """Everything after the f0: notes, grid, key, chords, form (see analyze)."""
    told = None if tuning_cents is None else Tuning(cents=float(tuning_cents), confidence=1.0)
    notes, tuning = segment_in_tuning(track, tuning=told)
    duration = duration_seconds
    voice = VoiceFrames(track.times_seconds, track.loudness_db, track.confidence)
    grid = analyze_rhythm(notes, duration_seconds=duration, tempo_bpm=tempo_bpm, voice=voice)
    found_key = key or estimate_key(notes, grid)
    start = notes[0].start_seconds if notes else 0.0
    end = notes[-1].end_seconds if notes else duration
    chords = estimate_chords(notes, grid, found_key, start_seconds=start, end_seconds=end)
    pitches = np.array([n.pitch_midi for n in notes]) if notes else np.array([60])
    low, high = (int(np.percentile(pitches, 2)), int(np.percentile(pitches, 98)))
    register = "m" if float(np.median(pitches)) < _REGISTER_SPLIT_MIDI else "f"
    return Analysis(
        duration_seconds=duration,
        grid=grid,
        key=found_key,
        notes=notes,
        chords=chords,
        sections=sections(notes, grid, duration_seconds=duration),
        phrases=tuple(phrases(notes, grid)),
        energy_per_bar=tuple(float(e) for e in energy_curve(track.loudness_db, track.times_seconds, grid=grid)),
        vocal_range_midi=(low, high),
        vocal_register=register,
        tuning=tuning,
        confidence=estimate_confidence(notes, grid, found_key, tuning),
    )
