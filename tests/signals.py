"""Synthetic sung-like melodies with known answers (tempo, key, notes, chords)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE_HZ = 44100

# G major, I-IV-V-I-vi-IV-V-I: (chord root MIDI, [(beat, length_beats, pitch_midi), ...]) per bar
_G_MAJOR_BARS = [
    ("G:maj", [(0, 2, 67), (2, 1, 71), (3, 1, 69)]),
    ("C:maj", [(0, 2, 72), (2, 1, 67), (3, 1, 64)]),
    ("D:maj", [(0, 2, 66), (2, 1, 69), (3, 1, 74)]),
    ("G:maj", [(0, 3, 71), (3, 1, 69)]),
    ("E:min", [(0, 2, 67), (2, 1, 64), (3, 1, 71)]),
    ("C:maj", [(0, 2, 72), (2, 1, 69), (3, 1, 67)]),
    ("D:maj", [(0, 2, 69), (2, 1, 66), (3, 1, 62)]),
    ("G:maj", [(0, 4, 67)]),
]


@dataclass(frozen=True)
class Melody:
    """samples: mono float32 at SAMPLE_RATE_HZ; notes: (start_s, end_s, midi);
    chords: (start_s, end_s, label); downbeats_seconds."""

    samples: np.ndarray
    tempo_bpm: float
    key: str
    notes: list[tuple[float, float, int]]
    chords: list[tuple[float, float, str]]
    downbeats_seconds: list[float]
    first_downbeat_seconds: float


def sung_melody(*, tempo_bpm: float = 100.0, bars: int = 8, start_seconds: float = 0.6,
                transpose: int = 0, seed: int = 0, level_db: float = -12.0, cents: float = 0.0) -> Melody:
    """A voice-like line (harmonics, vibrato, breaths between notes) over a I-IV-V-I
    progression in G major (transposed by `transpose` semitones), sung `cents` off A440."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo_bpm
    total = start_seconds + bars * 4 * beat + 1.0
    n = int(total * SAMPLE_RATE_HZ)
    f0 = np.zeros(n)
    amp = np.zeros(n)
    notes, chords, downbeats = [], [], []
    for b in range(bars):
        label, bar_notes = _G_MAJOR_BARS[b % len(_G_MAJOR_BARS)]
        bar_start = start_seconds + b * 4 * beat
        downbeats.append(bar_start)
        root, quality = label.split(":")
        chords.append((bar_start, bar_start + 4 * beat, f"{_transpose_name(root, transpose)}:{quality}"))
        for beat_at, length, pitch in bar_notes:
            s = bar_start + beat_at * beat
            e = s + length * beat - 0.07  # a breath before the next note
            pitch += transpose
            notes.append((s, e, pitch))
            i0, i1 = int(s * SAMPLE_RATE_HZ), int(e * SAMPLE_RATE_HZ)
            f0[i0:i1] = 440.0 * 2 ** ((pitch - 69) / 12)
            ramp = np.ones(i1 - i0)
            attack, release = int(0.03 * SAMPLE_RATE_HZ), int(0.04 * SAMPLE_RATE_HZ)
            ramp[:attack] = np.linspace(0, 1, attack)
            ramp[-release:] = np.linspace(1, 0, release)
            amp[i0:i1] = ramp * (1.0 if beat_at == 0 else 0.8)
    t = np.arange(n) / SAMPLE_RATE_HZ
    vibrato = 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5.5 * t) + cents / 1200)  # +-30 cents, off A440
    phase = 2 * np.pi * np.cumsum(f0 * vibrato) / SAMPLE_RATE_HZ
    voice = sum(np.sin(k * phase) / k for k in range(1, 9)) * amp
    voice = voice / (np.abs(voice).max() + 1e-9) * 10 ** (level_db / 20)
    voice = voice + rng.normal(0, 10 ** ((level_db - 45) / 20), n)
    key = f"{_transpose_name('G', transpose)} major"
    return Melody(voice.astype(np.float32), tempo_bpm, key, notes, chords, downbeats, start_seconds)


_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def _transpose_name(name: str, semitones: int) -> str:
    return _NAMES[(_NAMES.index(name) + semitones) % 12]


def write_audio(path: Path, samples: np.ndarray, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Path:
    """Encode mono float32 with PyAV; the format follows the suffix (wav, mp3, flac, ogg, m4a)."""
    codec = {".wav": "pcm_s16le", ".mp3": "libmp3lame", ".flac": "flac", ".ogg": "libopus", ".m4a": "aac"}[path.suffix]
    if codec == "libopus" and sample_rate_hz != 48000:  # opus encodes at 48 kHz only
        from scipy.signal import resample_poly

        samples = resample_poly(samples, 48000 // 300, sample_rate_hz // 300).astype(np.float32)
        sample_rate_hz = 48000
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=sample_rate_hz, layout="mono")
        fmt = stream.codec_context.codec.audio_formats[0].name if stream.codec_context.codec.audio_formats else "s16"
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=fmt, layout="mono", rate=sample_rate_hz)
        for start in range(0, len(samples), frame_size):
            chunk = samples[start : start + frame_size].astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = sample_rate_hz
            frame.pts = start
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        for out in resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))
    return path


def degraded(samples: np.ndarray, *, seed: int = 0, noise_db: float | None = None,
             reverb_seconds: float | None = None, lead_silence_seconds: float = 0.0) -> np.ndarray:
    """A copy of `samples` (mono, SAMPLE_RATE_HZ) with white noise at `noise_db` dBFS rms,
    a synthetic room (exponentially decaying noise, RT60 = reverb_seconds) mixed in, and
    `lead_silence_seconds` of near-silence put before it."""
    rng = np.random.default_rng(seed)
    out = samples.astype(np.float64)
    if reverb_seconds:
        from scipy.signal import fftconvolve

        t = np.arange(int(reverb_seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
        tail = rng.normal(0, 1, len(t)) * 10 ** (-3 * t / reverb_seconds)
        tail[0] = 0.0
        wet = fftconvolve(out, tail)[: len(out)]
        out = out + wet / (np.abs(wet).max() + 1e-9) * np.abs(out).max() * 0.5
    if noise_db is not None:
        out = out + rng.normal(0, 10 ** (noise_db / 20), len(out))
    if lead_silence_seconds:
        out = np.concatenate([rng.normal(0, 1e-4, int(lead_silence_seconds * SAMPLE_RATE_HZ)), out])
    return out.astype(np.float32)


def hummed_melody(**kwargs) -> Melody:
    """sung_melody with a hum's spectrum: the same line, almost a pure tone (a low-passed
    copy of the voice)."""
    from scipy.signal import butter, sosfilt

    melody = sung_melody(**kwargs)
    sos = butter(4, 500, fs=SAMPLE_RATE_HZ, output="sos")
    hum = sosfilt(sos, melody.samples).astype(np.float32)
    hum = hum / (np.abs(hum).max() + 1e-9) * np.abs(melody.samples).max()
    return Melody(hum, melody.tempo_bpm, melody.key, melody.notes, melody.chords,
                  melody.downbeats_seconds, melody.first_downbeat_seconds)


# Compound meters in G major, I-IV-V-I-vi-IV-V-I: per bar the chord and the pitches its
# line uses (a chord tone held on the downbeat, then moving tones in threes).
_G_MAJOR_COMPOUND_BARS = [
    ("G:maj", (67, 71, 74, 71)), ("C:maj", (72, 67, 64, 67)), ("D:maj", (66, 69, 74, 72)),
    ("G:maj", (71, 67, 69, 71)), ("E:min", (71, 67, 64, 67)), ("C:maj", (72, 69, 67, 64)),
    ("D:maj", (69, 66, 62, 66)), ("G:maj", (67,)),
]
# the figures filling the beats after the first: three eighths, or a quarter and an eighth
_COMPOUND_FIGURES = (((0, 1), (1, 1), (2, 1)), ((0, 2), (2, 1)))


def compound_melody(*, dotted_quarter_bpm: float = 60.0, beats_per_bar: int = 2, bars: int = 8,
                    start_seconds: float = 0.6, seed: int = 0, level_db: float = -12.0) -> Melody:
    """A voice-like line in 6/8 (beats_per_bar=2), 9/8 (3) or 12/8 (4): `beats_per_bar`
    dotted-quarter beats a bar, each split in three eighths. Melody.tempo_bpm is the
    dotted-quarter tempo. Each bar holds a chord tone for its first dotted quarter, then
    moves in eighths (three, or a quarter and an eighth); the last bar of every eight is
    one held note."""
    rng = np.random.default_rng(seed)
    eighth = 60.0 / dotted_quarter_bpm / 3
    bar_eighths = 3 * beats_per_bar
    total = start_seconds + bars * bar_eighths * eighth + 1.0
    notes, chords, downbeats = [], [], []
    for b in range(bars):
        label, pitches = _G_MAJOR_COMPOUND_BARS[b % len(_G_MAJOR_COMPOUND_BARS)]
        bar_start = start_seconds + b * bar_eighths * eighth
        downbeats.append(bar_start)
        chords.append((bar_start, bar_start + bar_eighths * eighth, label))
        pattern = [(0, bar_eighths - 1)] if len(pitches) == 1 else [(0, 3)]
        for beat in range(1, beats_per_bar if len(pitches) > 1 else 1):
            figure = _COMPOUND_FIGURES[(b + beat) % 2]
            pattern += [(3 * beat + at, length) for at, length in figure]
        for k, (at, length) in enumerate(pattern):
            s = bar_start + at * eighth
            notes.append((s, s + length * eighth - 0.06, pitches[k % len(pitches)]))
    samples = _voice(notes, total_seconds=total, downbeats=downbeats, rng=rng, level_db=level_db)
    return Melody(samples, dotted_quarter_bpm, "G major", notes, chords, downbeats, start_seconds)


def _voice(notes: list[tuple[float, float, int]], *, total_seconds: float, downbeats: list[float],
           rng: np.random.Generator, level_db: float) -> np.ndarray:
    """A voice-like rendering of notes (harmonics, +-30 cent vibrato, soft attacks, notes
    on a bar line a little louder)."""
    n = int(total_seconds * SAMPLE_RATE_HZ)
    f0 = np.zeros(n)
    amp = np.zeros(n)
    for s, e, pitch in notes:
        i0, i1 = int(s * SAMPLE_RATE_HZ), int(e * SAMPLE_RATE_HZ)
        f0[i0:i1] = 440.0 * 2 ** ((pitch - 69) / 12)
        ramp = np.ones(i1 - i0)
        attack, release = int(0.03 * SAMPLE_RATE_HZ), int(0.04 * SAMPLE_RATE_HZ)
        ramp[:attack] = np.linspace(0, 1, attack)
        ramp[-release:] = np.linspace(1, 0, release)
        amp[i0:i1] = ramp * (1.0 if min(abs(s - d) for d in downbeats) < 0.01 else 0.8)
    t = np.arange(n) / SAMPLE_RATE_HZ
    vibrato = 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0 * vibrato) / SAMPLE_RATE_HZ
    voice = sum(np.sin(k * phase) / k for k in range(1, 9)) * amp
    voice = voice / (np.abs(voice).max() + 1e-9) * 10 ** (level_db / 20)
    voice = voice + rng.normal(0, 10 ** ((level_db - 45) / 20), n)
    return voice.astype(np.float32)



# 2/4 in G major (a march or polka line): per bar the chord and its pitches; each bar is
# two quarter-note beats, and the chord changes every bar
_G_MAJOR_TWO_FOUR_BARS = [
    ("G:maj", (67, 71, 74)), ("D:maj", (66, 69, 74)), ("G:maj", (71, 67, 71)), ("D:maj", (69, 66, 62)),
    ("G:maj", (74, 71, 67)), ("C:maj", (72, 67, 64)), ("D:maj", (66, 69, 72)), ("G:maj", (67, 71, 67)),
]
# the figures bars move in, (beat, length_beats), taken in turn: a quarter and two
# eighths, again, then a dotted quarter and an eighth; a phrase ends on a quarter and a rest
_TWO_FOUR_FIGURES = (((0, 1), (1, 0.5), (1.5, 0.5)), ((0, 1), (1, 0.5), (1.5, 0.5)), ((0, 1.5), (1.5, 0.5)))
_TWO_FOUR_CADENCE = ((0, 1),)


def two_four_melody(*, tempo_bpm: float = 112.0, bars: int = 20, phrase_bars: int = 5,
                    start_seconds: float = 0.6, seed: int = 0, level_db: float = -12.0) -> Melody:
    """A voice-like march or polka line in 2/4: two quarter-note beats a bar, the chord
    changing every bar, the bar's first beat the long one, and every `phrase_bars`-th
    bar a quarter and a rest that ends the phrase. Phrases of an odd number of bars
    start in turn on the first and the third beat of a 4/4 bar, so the line does not
    fold into 4/4: each 2/4 bar is as strong as the next."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo_bpm
    total = start_seconds + bars * 2 * beat + 1.0
    notes, chords, downbeats = [], [], []
    for b in range(bars):
        label, pitches = _G_MAJOR_TWO_FOUR_BARS[b % len(_G_MAJOR_TWO_FOUR_BARS)]
        bar_start = start_seconds + b * 2 * beat
        downbeats.append(bar_start)
        chords.append((bar_start, bar_start + 2 * beat, label))
        in_phrase = b % phrase_bars
        figure = _TWO_FOUR_CADENCE if in_phrase == phrase_bars - 1 else _TWO_FOUR_FIGURES[in_phrase % 3]
        for k, (at, length) in enumerate(figure):
            s = bar_start + at * beat
            notes.append((s, s + length * beat - 0.06, pitches[k % len(pitches)]))
    samples = _voice(notes, total_seconds=total, downbeats=downbeats, rng=rng, level_db=level_db)
    return Melody(samples, tempo_bpm, "G major", notes, chords, downbeats, start_seconds)


def quarter_note_melody(*, tempo_bpm: float = 120.0, bars: int = 4, start_seconds: float = 0.6,
                        seed: int = 0, level_db: float = -12.0) -> Melody:
    """A plain voice-like line of even quarter notes (a scale up and down in G major,
    one chord a bar as in sung_melody), the last bar one held note."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo_bpm
    scale = (67, 69, 71, 72, 74, 72, 71, 69)
    total = start_seconds + bars * 4 * beat + 1.0
    notes, chords, downbeats = [], [], []
    for b in range(bars):
        label = _G_MAJOR_BARS[b % len(_G_MAJOR_BARS)][0] if b < bars - 1 else "G:maj"
        bar_start = start_seconds + b * 4 * beat
        downbeats.append(bar_start)
        chords.append((bar_start, bar_start + 4 * beat, label))
        figure = [(0, 4)] if b == bars - 1 else [(k, 1) for k in range(4)]
        for at, length in figure:
            s = bar_start + at * beat
            notes.append((s, s + length * beat - 0.07, scale[(4 * b + at) % len(scale)] if length == 1 else 67))
    samples = _voice(notes, total_seconds=total, downbeats=downbeats, rng=rng, level_db=level_db)
    return Melody(samples, tempo_bpm, "G major", notes, chords, downbeats, start_seconds)


# the figures a compound beat (three eighths) moves in: running eighths, a quarter and an
# eighth, a dotted quarter; and how often each is taken in running_compound_melody
_RUNNING_FIGURES = ((1, 1, 1), (2, 1), (3,))
_RUNNING_FIGURE_P = (0.6, 0.3, 0.1)
_RUNNING_SCALE = (62, 64, 66, 67, 69, 71, 72, 74, 76, 78, 79)


def running_compound_melody(*, dotted_quarter_bpm: float = 110.0, beats_per_bar: int = 2, bars: int = 16,
                            seed: int = 0, level_db: float = -12.0) -> tuple[np.ndarray, list[float], list[float]]:
    """A jig-like voice line (6/8, 9/8 or 12/8 by beats_per_bar) that runs mostly in
    eighths, with quarter-eighth and dotted-quarter figures, a stepwise random walk in G
    major, and a held dotted quarter closing every fourth bar. Only the bar lines are
    louder. Returns (samples at SAMPLE_RATE_HZ, dotted-quarter beat times, downbeats)."""
    rng = np.random.default_rng(seed)
    eighth = 60.0 / dotted_quarter_bpm / 3
    t, notes, downbeats, beats, step = 0.5, [], [], [], 5
    for bar in range(bars):
        downbeats.append(t)
        for beat in range(beats_per_bar):
            beats.append(t)
            closing = bar % 4 == 3 and beat == beats_per_bar - 1
            figure = (3,) if closing else _RUNNING_FIGURES[rng.choice(3, p=_RUNNING_FIGURE_P)]
            for length in figure:
                step = int(np.clip(step + rng.choice([-2, -1, 1, 2]), 0, len(_RUNNING_SCALE) - 1))
                notes.append((t, t + length * eighth - 0.04, _RUNNING_SCALE[step]))
                t += length * eighth
    samples = _voice(notes, total_seconds=t + 1.0, downbeats=downbeats, rng=rng, level_db=level_db)
    return samples, beats, downbeats
