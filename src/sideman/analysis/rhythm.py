"""Tempo, beats, meter and downbeats from the notes of a bare voice.

A bare voice has no drums, so the pulse is read from where notes start and how long
they last: an onset-strength curve built from note onsets (weighted by duration and
loudness), a tempo from its autocorrelation with a prior around 100 bpm, beats by
dynamic programming (Ellis 2007) so the grid follows a drifting singer, and the meter
and bar phase from where the long notes fall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from sideman.music import BeatGrid, Note

FRAME_RATE_HZ = 100.0
#: weight of the voice's own loudness and voicing rises beside the note onsets, in units
#: of the note envelope's peak. On real amateur singing (real-sung, trusted beats) the
#: note onsets alone find the tempo in 7 of 10 cases and 9 with the voice added (AMLt
#: 0.52 -> 0.54); on the clean synthetic dev voices AMLt moves 0.92 -> 0.87
VOICE_ONSET_WEIGHT = 2.0
MIN_BPM, MAX_BPM = 50.0, 200.0
PRIOR_CENTER_BPM = 100.0
PRIOR_OCTAVE_WIDTH = 0.9
#: how firmly the beat tracker holds its period (Ellis 2007's tightness). Real singing
#: against a backing keeps one clock; its onsets are loose, and a loose tracker follows
#: them off the beat (real-sung trusted beats: AMLt 0.52 at 600, 0.62 at 2400; dev 0.92 -> 0.93)
TIGHTNESS = 2400.0
#: refine_tempo searches this share either side of the estimate, in these steps
REFINE_SPAN, REFINE_STEP = 0.05, 0.0025
#: the notes-per-beat prior's centre (with the tempo prior's, which metrical level a
#: bare voice is read at). Measured at the reference level: 1.1-2.1 notes a beat on
#: the real-sung karaoke voices, 0.7-1.9 on dev. Real-sung trusted beats (tempo, AMLt,
#: band CMLt) / dev band CMLt: 2.2 -> 0.8, 0.68, 0.34 / 0.94; 1.2 -> 0.9, 0.76, 0.49 /
#: 0.72 (three slow dev songs at double time, still on the beat: dev AMLt 0.93 -> 0.98);
#: a tempo centre of 85 instead of 100 -> 0.7, 0.63, 0.43 / 0.94. The level stays
#: ambiguous from a voice alone: the confidence names the rival tempo, and the singer
#: may say which they meant.
NOTES_PER_BEAT = 1.2
FIT_POWER = 4.0
DENSITY_WIDTH = 1.0
#: the notes-per-beat prior assumes the line subdivides the beat. A line whose quick
#: notes (the TATUM_PERCENTILE of its onset intervals) last SUBDIVISION_SECONDS[1] or
#: more moves in beats, not in subdivisions (a tune of quarter notes at 100 bpm is not
#: a line of eighths at 50): the prior fades out between the two durations, and the
#: tempo prior and the grid fit decide
TATUM_PERCENTILE = 20.0
SUBDIVISION_SECONDS = (0.35, 0.45)
#: such a line read at half its note rate must show it: its notes paired by accents (a
#: contrast between every other beat of the doubled tempo) of at least this much, or
#: the doubled tempo stands (even quarter notes at 132 bpm are not half notes at 66)
MIN_PAIRING_CONTRAST = 0.3
#: share of an off-beat note's accent given to the beat before it
OFFBEAT_SHARE = 0.4
#: how much more a compound reading must explain than a simple one: note share on a
#: thirds grid over a halves grid, and accent contrast of threes over twos
COMPOUND_MARGIN = 0.15
COMPOUND_ACCENT_MARGIN = 0.35
#: share of notes a grid must hold before its grouping is trusted (a loose singer's
#: onsets leave the eighths ambiguous, and then the simple reading stands)
MIN_GRID_CAPTURE = 0.8
#: dotted-quarter tempi a compound reading may take: jigs are sung up to about 120;
#: above, a quick simple line's eighths (a 90 bpm jazz trumpet loop heard at 182) would
#: read as 12/8
MIN_COMPOUND_BPM, MAX_COMPOUND_BPM = 35.0, 120.0
#: bonus per bar length in estimate_meter: four beats a bar is the default simple reading,
#: two dotted quarters (6/8) the default compound one. An amateur voice's accents are
#: near chance at every bar length, so a waltz must show itself: at 0.03 a 4/4 chorale
#: and two of the karaoke voices came back in 3/4; at 0.1 dev's meters are all right and
#: the 3/4 songs that show their accents (two chorales, a sight-sung dance) stay 3/4
SIMPLE_METER_BIAS = {4: 0.1, 3: 0.0}
COMPOUND_METER_BIAS = {2: 0.15, 3: 0.0, 4: 0.0}
#: a 4/4 reading folds into 2/4 when its third beat is accented nearly as much as its
#: first (an accent contrast at least this share of the downbeat's: the bars of two
#: beats are equals, not a strong and a weak half), the beats between are clearly weak,
#: and there are enough bars to tell. A pop song's half-bar accent stays well below.
TWO_FOUR_THIRD_BEAT_SHARE = 0.7
MIN_TWO_FOUR_CONTRAST = 0.25
MIN_TWO_FOUR_BEATS = 24


@dataclass(frozen=True)
class VoiceFrames:
    """Frame-wise measures of the voice itself (the pitch tracker's frames): where a
    syllable starts shows as a rise in loudness and in voicing even when the note
    segmenter splits one syllable into several notes or runs two syllables together."""

    times_seconds: np.ndarray
    loudness_db: np.ndarray
    voicing: np.ndarray  # 0..1, the tracker's confidence that the frame is voiced


def onset_envelope(notes: tuple[Note, ...], *, duration_seconds: float) -> np.ndarray:
    """Onset strength at FRAME_RATE_HZ [shape=(frames,)]: a bump at each note start,
    taller for loud notes."""
    frames = int(np.ceil(duration_seconds * FRAME_RATE_HZ)) + 1
    env = np.zeros(frames)
    for note in notes:
        i = int(round(note.start_seconds * FRAME_RATE_HZ))
        if 0 <= i < frames:
            env[i] += note.velocity / 100.0
    return gaussian_filter1d(env, sigma=2.0)


def with_voice_onsets(env: np.ndarray, voice: VoiceFrames | None) -> np.ndarray:
    """A note onset envelope plus the rises of the voice's loudness and voicing, each
    scaled to the envelope's peak and weighted VOICE_ONSET_WEIGHT."""
    if voice is None or len(voice.times_seconds) < 2 or env.max() <= 0:
        return env
    t = np.arange(len(env)) / FRAME_RATE_HZ
    rises = []
    for curve in (voice.loudness_db, voice.voicing):
        smooth = gaussian_filter1d(np.interp(t, voice.times_seconds, curve), 1.5)
        rise = np.maximum(np.diff(smooth, prepend=smooth[0]), 0.0)
        scale = np.percentile(rise[rise > 0], 95) if np.any(rise > 0) else 1.0
        rises.append(np.minimum(rise / (scale + 1e-9), 1.5))
    peak = env.max()
    return env + VOICE_ONSET_WEIGHT * peak * gaussian_filter1d(rises[0] + rises[1], 1.0)


def estimate_tempo(env: np.ndarray, notes: tuple[Note, ...] = ()) -> float:
    """Global tempo in bpm. Candidates are the peaks of the envelope's autocorrelation
    (summed over the first harmonics of each lag) and their doubles and halves; each is
    scored by how well the inter-onset intervals fall on half and quarter beats (which
    rules out the 3:2 confusions that dotted rhythms invite), times a prior around
    PRIOR_CENTER_BPM and a prior that a beat holds about two notes. That last prior
    counts only for a line that subdivides its beat (see SUBDIVISION_SECONDS); a line
    that moves in beats is read at half its note rate only where accents pair its notes."""
    strength = env
    env = env - env.mean()
    n = len(env)
    spectrum = np.fft.rfft(env, 2 * n)
    ac = np.fft.irfft(np.abs(spectrum) ** 2)[:n]
    ac /= ac[0] + 1e-12
    lags = np.arange(int(FRAME_RATE_HZ * 60 / MAX_BPM), int(FRAME_RATE_HZ * 60 / MIN_BPM) + 1)
    lags = lags[lags * 4 < n] if np.any(lags * 4 < n) else lags[lags < n]
    score = np.zeros(len(lags))
    for k, weight in ((1, 1.0), (2, 0.5), (3, 0.33), (4, 0.25)):
        idx = np.minimum(lags * k, n - 1)
        score += weight * ac[idx]
    bpm = 60.0 * FRAME_RATE_HZ / lags
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_CENTER_BPM) / PRIOR_OCTAVE_WIDTH) ** 2)
    weighted = np.maximum(score, 0) * prior
    peaks = [i for i in range(1, len(lags) - 1) if score[i] >= score[i - 1] and score[i] >= score[i + 1]]
    peaks = sorted(peaks, key=lambda i: -weighted[i])[:6] or [int(np.argmax(weighted))]
    candidates = []
    for i in peaks:
        tempo = _refine(score, lags, i)
        candidates += [t for t in (tempo, 2 * tempo, tempo / 2) if MIN_BPM <= t <= MAX_BPM]
    onsets = np.array([note.start_seconds for note in notes])
    if len(onsets) < 8:
        return candidates[0]
    intervals = np.diff(onsets)
    spacing = float(np.median(intervals))
    quick, slow = SUBDIVISION_SECONDS
    subdivides = float(np.clip((slow - np.percentile(intervals, TATUM_PERCENTILE)) / (slow - quick), 0.0, 1.0))
    best = max(candidates, key=lambda t: _tempo_plausibility(t, onsets, spacing, density_weight=subdivides))
    doubled = [t for t in candidates if abs(t / (2 * best) - 1) < 0.03]
    if subdivides < 1.0 and doubled and not _pairs_beats(notes, strength, doubled[0]):
        return doubled[0]
    return best


def refine_tempo(env: np.ndarray, tempo_bpm: float) -> float:
    """The tempo within REFINE_SPAN of tempo_bpm whose steady comb of beats (at its best
    phase) lands on the most onset strength.

    The autocorrelation peak is coarse (a lag in whole frames, a few lags' spread on a
    loose voice), and a tight beat tracker then holds a period 2-4 % off for the whole
    take: the beats walk off the singer's. Most songs, and every take sung to a backing
    track, keep one clock; the comb measures it over the whole take."""
    period = 60.0 * FRAME_RATE_HZ / tempo_bpm
    n = len(env)
    if n < 4 * period:
        return tempo_bpm
    best, best_score = period, -np.inf
    for candidate in period * (1.0 + np.arange(-REFINE_SPAN, REFINE_SPAN + 1e-9, REFINE_STEP)):
        if not MIN_BPM <= 60.0 * FRAME_RATE_HZ / candidate <= MAX_BPM:
            continue  # never past the range searched (no reading at a clamp's edge)
        ticks = np.arange(0.0, n - 1, candidate)
        phases = np.arange(0.0, candidate, 1.0)
        score = np.interp(phases[:, None] + ticks[None, :-1], np.arange(n), env).mean(axis=1).max()
        # a slight pull toward the autocorrelation's own reading
        score *= 1.0 - 0.5 * abs(candidate / period - 1.0)
        if score > best_score:
            best, best_score = candidate, score
    return 60.0 * FRAME_RATE_HZ / best


def _pairs_beats(notes: tuple[Note, ...], env: np.ndarray, tempo_bpm: float) -> bool:
    """Whether the beats at tempo_bpm group in twos: every other one more accented."""
    accents = beat_accents(notes, track_beats(env, tempo_bpm=tempo_bpm))
    if len(accents) < 4:
        return True
    return max(_contrast(accents, phase, 2) for phase in range(2)) >= MIN_PAIRING_CONTRAST


def _refine(score: np.ndarray, lags: np.ndarray, best: int) -> float:
    """Tempo in bpm at lag index `best`, refined by a parabola through its neighbours."""
    lag = float(lags[best])
    if 0 < best < len(lags) - 1:
        a, b, c = score[best - 1], score[best], score[best + 1]
        denom = a - 2 * b + c
        if denom < 0:
            lag += 0.5 * (a - c) / denom
    return 60.0 * FRAME_RATE_HZ / lag


def _tempo_plausibility(
    tempo_bpm: float, onsets: np.ndarray, spacing_seconds: float, *, density_weight: float = 1.0
) -> float:
    """How well intervals between nearby onsets fit whole, half and quarter beats at
    tempo_bpm, times the tempo prior and the notes-per-beat prior (raised to
    density_weight: 0 leaves it out)."""
    period = 60.0 / tempo_bpm
    fits = []
    for step in (1, 2, 3):
        ratio = (onsets[step:] - onsets[:-step]) / period
        ratio = ratio[ratio < 4.5]
        if not len(ratio):
            continue
        half = np.abs(ratio * 2 - np.round(ratio * 2)) / 2
        quarter = np.abs(ratio * 4 - np.round(ratio * 4)) / 4
        fits.append(np.mean(np.maximum(np.exp(-0.5 * (half / 0.04) ** 2), 0.6 * np.exp(-0.5 * (quarter / 0.03) ** 2))))
    fit = float(np.mean(fits)) if fits else 0.5
    prior = np.exp(-0.5 * (np.log2(tempo_bpm / PRIOR_CENTER_BPM) / PRIOR_OCTAVE_WIDTH) ** 2)
    density = np.exp(-0.5 * (np.log2(period / (NOTES_PER_BEAT * spacing_seconds)) / DENSITY_WIDTH) ** 2)
    return fit**FIT_POWER * prior * density**density_weight


def track_beats(env: np.ndarray, *, tempo_bpm: float, tightness: float = TIGHTNESS) -> np.ndarray:
    """Beat times in seconds by dynamic programming over the onset envelope; higher
    tightness holds the period closer to tempo_bpm."""
    period = 60.0 * FRAME_RATE_HZ / tempo_bpm
    n = len(env)
    norm = env / (env.std() + 1e-9)
    # local score: the envelope smoothed at a beat's width
    local = np.convolve(norm, np.exp(-0.5 * (np.arange(-period, period + 1) * 32.0 / period) ** 2), "same")
    window = np.arange(-int(round(2 * period)), -int(round(period / 2)) + 1)
    txwt = -tightness * np.log(-window / period) ** 2
    cumscore = np.zeros(n)
    backlink = -np.ones(n, dtype=int)
    for i in range(n):
        z = i + window
        valid = z >= 0
        if np.any(valid):
            candidates = txwt[valid] + cumscore[z[valid]]
            j = int(np.argmax(candidates))
            cumscore[i] = local[i] + candidates[j]
            backlink[i] = z[valid][j]
        else:
            cumscore[i] = local[i]
    # end at the best beat in the last period
    tail = max(0, n - int(period))
    i = tail + int(np.argmax(cumscore[tail:]))
    beats = []
    while i >= 0:
        beats.append(i)
        i = backlink[i]
    frames = np.array(beats[::-1], dtype=float)
    return _fill_edges(frames / FRAME_RATE_HZ, period / FRAME_RATE_HZ, n / FRAME_RATE_HZ)


def _fill_edges(beats: np.ndarray, period_seconds: float, end_seconds: float) -> np.ndarray:
    """Extend the beat list at the edges so it spans the whole recording."""
    head = []
    t = beats[0] - period_seconds
    while t >= -0.02:
        head.append(t)
        t -= period_seconds
    tail = []
    t = beats[-1] + period_seconds
    while t <= end_seconds:
        tail.append(t)
        t += period_seconds
    return np.concatenate([np.array(head[::-1]), beats, np.array(tail)])


def beat_accents(notes: tuple[Note, ...], beats: np.ndarray, *, tolerance: float = 0.2) -> np.ndarray:
    """Accent per beat [shape=(beats,)]: the weight of notes starting near it; long notes
    and notes after a rest (phrase starts) count more."""
    accents = np.zeros(len(beats))
    if len(beats) < 2:
        return accents
    period = float(np.median(np.diff(beats)))
    previous_end = -10.0
    for note in notes:
        i = int(np.argmin(np.abs(beats - note.start_seconds)))
        weight = min(note.duration_seconds / period, 3.0) + 0.3
        if note.start_seconds - previous_end > period:
            weight += 0.5  # a phrase start
        if abs(beats[i] - note.start_seconds) <= tolerance * period:
            accents[i] += weight * note.velocity / 100.0
        elif OFFBEAT_SHARE:
            # a syncopated note (short-long on the off-beat) leans on the beat before it
            j = int(np.searchsorted(beats, note.start_seconds)) - 1
            if j >= 0:
                accents[j] += OFFBEAT_SHARE * weight * note.velocity / 100.0
        previous_end = note.end_seconds
    return accents


def estimate_meter(accents: np.ndarray, *, bias: dict[int, float] | None = None) -> tuple[int, int]:
    """(beats_per_bar, first_downbeat_index) from the accent pattern: the beats a bar
    that `bias` offers, with its bonus (default SIMPLE_METER_BIAS: 4 or 3, and 4 folded
    into 2 when its halves are equals, see _folds_in_two; for 6/8, 9/8, 12/8
    COMPOUND_METER_BIAS: 2, 3 or 4 dotted quarters), phase where accents concentrate."""
    bias_by_count = SIMPLE_METER_BIAS if bias is None else bias
    best: tuple[float, int, int] = (-np.inf, next(iter(bias_by_count)), 0)
    for beats_per_bar, bonus in bias_by_count.items():
        usable = len(accents) - len(accents) % beats_per_bar
        if usable < 2 * beats_per_bar:
            continue
        for phase in range(beats_per_bar):
            on = accents[phase::beats_per_bar]
            contrast = on.mean() - accents.mean()
            score = contrast / (accents.mean() + 1e-9) + bonus
            if score > best[0]:
                best = (score, beats_per_bar, phase)
    if bias is None and best[1] == 4 and _folds_in_two(accents, best[2]):
        return 2, best[2] % 2
    return best[1], best[2]


def _folds_in_two(accents: np.ndarray, phase: int) -> bool:
    """Whether a 4/4 reading with its downbeat at `phase` is 2/4: the third beat about
    as accented as the first, and the beats between them weak."""
    if len(accents) < MIN_TWO_FOUR_BEATS:
        return False
    first, third = _contrast(accents, phase, 4), _contrast(accents, (phase + 2) % 4, 4)
    return _contrast(accents, phase % 2, 2) >= MIN_TWO_FOUR_CONTRAST and third >= TWO_FOUR_THIRD_BEAT_SHARE * first


def analyze_rhythm(
    notes: tuple[Note, ...], *, duration_seconds: float, tempo_bpm: float | None = None,
    voice: VoiceFrames | None = None,
) -> BeatGrid:
    """The beat grid of a melody. tempo_bpm, when given, overrides the estimate; voice
    adds the voice's own syllable onsets to the notes' (see onset_envelope)."""
    env = onset_envelope(notes, duration_seconds=duration_seconds)
    # the voice's own onsets say how fast the line moves (the tempo); where the beat
    # falls is read from the notes alone, whose starts a singer places (the voice's
    # loudness rises also mark consonants and breaths off the beat)
    tempo_env = with_voice_onsets(env, voice)
    if len(notes) < 4 or env.max() <= 0:
        tempo = tempo_bpm or PRIOR_CENTER_BPM
        period = 60.0 / tempo
        beats = np.arange(0.0, max(duration_seconds, 2 * period) + 1e-9, period)
        return BeatGrid(tuple(float(b) for b in beats), 4, 4, 0)
    tempo = tempo_bpm or refine_tempo(env, estimate_tempo(tempo_env, notes))
    # a tempo the caller gave is held firmly; an estimated one may drift with the singer
    beats = track_beats(env, tempo_bpm=tempo, tightness=TIGHTNESS * (6 if tempo_bpm else 1))
    if len(beats) < 2:
        beats = np.array([0.0, 60.0 / tempo])

    beats_per_bar, phase = estimate_meter(beat_accents(notes, beats))
    compound = None if tempo_bpm else compound_beats(notes, beats)
    if compound is not None:
        beats_per_bar, phase = estimate_meter(beat_accents(notes, compound), bias=COMPOUND_METER_BIAS)
        return BeatGrid(tuple(float(b) for b in compound), beats_per_bar, 8, phase)
    return BeatGrid(tuple(float(b) for b in beats), beats_per_bar, 4, phase)


def compound_beats(notes: tuple[Note, ...], beats: np.ndarray) -> np.ndarray | None:
    """Dotted-quarter beat times when the line moves in threes (6/8, 9/8, 12/8), else None.

    Two ways a compound tune is misheard: the tracked beat is already the dotted quarter,
    with notes on its thirds rather than its halves; or it is a quarter note (three of
    them span two dotted quarters, the 3:2 trap), with notes on its halves that group in
    threes. The first shows as more note weight on a thirds grid than on a halves grid;
    the second as accents (long notes, phrase starts) recurring every three eighths more
    than every two."""
    if len(notes) < 12 or len(beats) < 8:
        return None
    halves, thirds = _subdivide(beats, 2), _subdivide(beats, 3)
    on_halves, on_thirds = _grid_capture(notes, halves), _grid_capture(notes, thirds)
    if on_thirds >= MIN_GRID_CAPTURE and on_thirds > on_halves + COMPOUND_MARGIN and _off_beat_share(notes, beats) > 0.15:
        return beats
    if _moves_in_beats(notes, beats):
        # the tracked beat is the line's eighth (running eighths of a slow 6/8): the
        # accents of the beats themselves group in twos or threes
        accents = beat_accents(notes, beats)
        twos = max(_contrast(accents, phase, 2) for phase in range(2))
        best, phase = max((_contrast(accents, phase, 3), phase) for phase in range(3))
        dotted_bpm = 60.0 / (3 * float(np.median(np.diff(beats))))
        if best > twos + COMPOUND_ACCENT_MARGIN and MIN_COMPOUND_BPM <= dotted_bpm <= MAX_COMPOUND_BPM:
            return beats[phase::3]
        return None
    if on_halves < MIN_GRID_CAPTURE:
        return None
    accents = beat_accents(notes, halves, tolerance=0.25)
    twos = max(_contrast(accents, phase, 2) for phase in range(2))
    threes = [(_contrast(accents, phase, 3), phase) for phase in range(3)]
    best, phase = max(threes)
    dotted_bpm = 60.0 / (3 * float(np.median(np.diff(halves))))
    if best > twos + COMPOUND_ACCENT_MARGIN and MIN_COMPOUND_BPM <= dotted_bpm <= MAX_COMPOUND_BPM:
        return halves[phase::3]
    return None


def _moves_in_beats(notes: tuple[Note, ...], beats: np.ndarray) -> bool:
    """Whether the line moves in the tracked beats: nearly every beat starts a note and
    nearly no note starts between beats (the tracker found the line's tatum)."""
    if _grid_capture(notes, beats) < MIN_GRID_CAPTURE:
        return False
    onsets = np.array([n.start_seconds for n in notes])
    inside = (beats >= onsets[0]) & (beats <= onsets[-1])
    step = float(np.median(np.diff(beats)))
    struck = np.min(np.abs(beats[inside][:, None] - onsets[None, :]), axis=1) < 0.2 * step
    return bool(struck.mean() >= MIN_GRID_CAPTURE)


def _subdivide(beats: np.ndarray, parts: int) -> np.ndarray:
    """The beat grid cut into `parts` equal steps per beat."""
    steps = [beats[:-1] + (beats[1:] - beats[:-1]) * k / parts for k in range(parts)]
    return np.append(np.stack(steps, axis=1).ravel(), beats[-1])


def _grid_capture(notes: tuple[Note, ...], grid: np.ndarray) -> float:
    """Share of notes starting within a quarter step of a grid point."""
    onsets = np.array([n.start_seconds for n in notes])
    step = float(np.median(np.diff(grid)))
    idx = np.clip(np.searchsorted(grid, onsets), 1, len(grid) - 1)
    distance = np.minimum(np.abs(onsets - grid[idx - 1]), np.abs(onsets - grid[idx]))
    return float(np.mean(distance < 0.2 * step))


def _off_beat_share(notes: tuple[Note, ...], beats: np.ndarray) -> float:
    """Share of notes starting away from any beat."""
    return 1.0 - _grid_capture(notes, beats)


def _contrast(accents: np.ndarray, phase: int, period: int) -> float:
    usable = len(accents) - len(accents) % period
    on = accents[phase:usable:period]
    return float((on.mean() - accents[:usable].mean()) / (accents[:usable].mean() + 1e-9))
