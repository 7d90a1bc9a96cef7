"""The singer's reference pitch: how far (in cents) the voice sits from A440, and how
that reference drifts over a take.

Amateur singers sit 15-60 cents off A440 and drift as they go. Rounding every sung
pitch to the nearest A440 semitone then splits one intended note between two
neighbours and puts the band a quarter-tone against the voice. A loose singer's
intervals scatter by +-30 cents, so the fractional pitches alone say little; what they
do say is which scale was meant. The reference is the offset that best lays the notes
(each note's pitch is its segmenter's robust centre: vibrato and scoops are averaged
out) on a diatonic scale: every offset from -50 to +50 cents is tried against all
twelve diatonic collections, scoring each note by the likelihood of its scale degree
(in the scale, or a chromatic neighbour) and by how far it sits from the semitone.
Each note is then read as the semitone it most likely meant, and the drift is the
mean of what is left, taken over a sliding window of notes and held toward the whole
take's reference where the window holds little evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: longest duration one note counts for (a held note must not outvote a phrase)
MAX_NOTE_WEIGHT_SECONDS = 1.0
#: notes shorter than this are mostly glides and ornaments: little weight
MIN_STEADY_SECONDS = 0.12
#: a sung note's spread around the pitch meant, semitones (amateur intonation: most
#: notes within +-30 cents of the interval meant)
INTONATION_SIGMA = 0.25
#: probability of a scale degree in a melody: each of the 7 diatonic ones, each of the
#: 5 chromatic ones (pop and folk melodies: about 9 % of note time is chromatic)
IN_SCALE_P, CHROMATIC_P = 0.13, 0.018
#: a weak prior toward A440 (cents, Gaussian sigma): a take that fits two references
#: alike is read at the one nearer the standard the band's instruments were made at
PRIOR_SIGMA_CENTS = 40.0
#: candidate references, cents from A440
OFFSETS_CENTS = np.arange(-50.0, 50.0, 2.0)
#: the drift follows the singer over this window (seconds, Gaussian sigma): slow enough
#: that one wrongly pitched phrase does not move it, fast enough for a take that sags
#: a quarter-tone over a minute
DRIFT_WINDOW_SECONDS = 8.0
#: evidence (weighted note-seconds) a window needs before it may leave the global
#: reference: fewer pull it back toward the global value
DRIFT_PRIOR_SECONDS = 4.0
#: a singer's intonation errors run together through a phrase, so the notes are not
#: independent evidence: the confidence counts their log-likelihood this many times
#: less (without it, every take came out 0.99 sure, a take 22 cents off included)
EVIDENCE_TEMPERATURE = 4.0
#: the posterior mass within this many cents of the reference is its confidence
CONFIDENCE_CENTS = 15.0

_DIATONIC = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)
#: log P(pitch class | collection) [shape=(12 collections, 12 pitch classes)]
_LOG_SCALE = np.log(np.where(np.stack([np.roll(_DIATONIC, c) for c in range(12)]), IN_SCALE_P, CHROMATIC_P))


@dataclass(frozen=True)
class Tuning:
    """cents: the take's reference pitch, cents from A440 (-50..50; the band is
    rendered at it). confidence: 0..1, the share of the evidence for a reference within
    CONFIDENCE_CENTS of it. drift_cents: the local reference at each of `times_seconds`
    (note centres), within +-50 of `cents`."""

    cents: float = 0.0
    confidence: float = 0.0
    times_seconds: tuple[float, ...] = ()
    drift_cents: tuple[float, ...] = ()

    def cents_at(self, time_seconds: float) -> float:
        """The local reference (cents from A440) at a time."""
        if not self.times_seconds:
            return self.cents
        return float(np.interp(time_seconds, self.times_seconds, self.drift_cents))


def _note_weights(durations: np.ndarray) -> np.ndarray:
    return np.minimum(durations, MAX_NOTE_WEIGHT_SECONDS) * np.where(durations >= MIN_STEADY_SECONDS, 1.0, 0.2)


def _fit(pitches: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Log-likelihood per (offset, collection) [shape=(offsets, 12)] of the notes laid
    on that scale at that reference, with each offset's prior."""
    shifted = pitches[None, :] - OFFSETS_CENTS[:, None] / 100.0  # (offsets, notes)
    nearest = np.round(shifted)
    distance = shifted - nearest
    fit = -0.5 * (distance / INTONATION_SIGMA) ** 2  # (offsets, notes)
    pcs = nearest.astype(int) % 12
    scale = _LOG_SCALE[:, pcs]  # (collections, offsets, notes)
    total = np.einsum("con,n->oc", scale + fit[None], weights)
    prior = -0.5 * (OFFSETS_CENTS / PRIOR_SIGMA_CENTS) ** 2
    return total + prior[:, None]


def intended_pitches(pitches: np.ndarray, reference_cents: np.ndarray, collection: int) -> np.ndarray:
    """The semitone each sung pitch most likely meant, its local reference taken off:
    the nearest one, or its neighbour in the scale where the note sits nearly between."""
    shifted = pitches - reference_cents / 100.0
    base = np.round(shifted)
    candidates = base[:, None] + np.array([-1.0, 0.0, 1.0])[None, :]
    score = _LOG_SCALE[collection][candidates.astype(int) % 12] - 0.5 * ((shifted[:, None] - candidates) / INTONATION_SIGMA) ** 2
    return candidates[np.arange(len(pitches)), np.argmax(score, axis=1)].astype(int)


def estimate_tuning(starts: np.ndarray, ends: np.ndarray, pitches_midi: np.ndarray) -> tuple[Tuning, np.ndarray]:
    """(tuning, intended MIDI pitches) of sung notes given as fractional MIDI pitches
    (A440 = 69.0)."""
    pitches = np.asarray(pitches_midi, dtype=float)
    if not len(pitches):
        return Tuning(), np.array([], dtype=int)
    starts, ends = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    weights = _note_weights(ends - starts)
    scores = _fit(pitches, weights)
    best_offset, collection = np.unravel_index(int(np.argmax(scores)), scores.shape)
    cents = float(OFFSETS_CENTS[best_offset])
    per_offset = scores.max(axis=1)
    posterior = np.exp((per_offset - per_offset.max()) / EVIDENCE_TEMPERATURE)
    posterior /= posterior.sum()
    circular = np.abs((OFFSETS_CENTS - cents + 50.0) % 100.0 - 50.0)
    confidence = float(posterior[circular <= CONFIDENCE_CENTS].sum())
    # the drift: what is left once each note's meant pitch is taken off, smoothed
    meant = intended_pitches(pitches, np.full(len(pitches), cents), int(collection))
    residual = np.clip(pitches - cents / 100.0 - meant, -0.5, 0.5)
    centres = (starts + ends) / 2
    near = weights[None, :] * np.exp(-0.5 * ((centres[:, None] - centres[None, :]) / DRIFT_WINDOW_SECONDS) ** 2)
    evidence = near.sum(axis=1)
    local = (near @ residual) / (evidence + DRIFT_PRIOR_SECONDS)  # shrunk toward the take's reference
    drift = cents + 100.0 * local
    meant = intended_pitches(pitches, drift, int(collection))
    tuning = Tuning(
        cents=round(cents, 1),
        confidence=round(confidence, 3),
        times_seconds=tuple(float(t) for t in centres),
        drift_cents=tuple(round(float(d), 1) for d in drift),
    )
    return tuning, meant
