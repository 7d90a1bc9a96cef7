"""Score -> one stereo stem per role, with a SoundFont (tinysoundfont).

The loaded synthesizer is cached per (font path, sample rate) for the process: loading
FluidR3_GM costs ~0.5-0.8 s and ~440 MB (tinysoundfont decodes every sample to float32),
so it is loaded once and shared. A tinysoundfont ``Synth`` holds voice state and is not
thread-safe, so a lock lets one score render at a time in a process; and it holds the
GIL while it renders. The pipeline therefore synthesizes in worker processes that share
one loaded font (`sideman.render.synth_pool`); this module is what each of them runs,
and what renders in the calling process where there are none.

Events are placed at exact sample positions: the synthesizer renders in blocks from one
event to the next (tinysoundfont starts a voice at the first sample of the next render
call), note-offs before note-ons at the same sample.
"""

from __future__ import annotations

import logging
import math
import threading
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import tinysoundfont

from sideman.errors import InvalidField
from sideman.music.model import SUSTAIN_PEDAL, ControlChange, Note, Score, Track
from sideman.render.soundfonts import SoundFont
from sideman.render.spool import SpooledAudio, should_spool

__all__ = ["preload", "render_stems", "render_track"]

logger = logging.getLogger(__name__)

#: how long before the window a note may end and still be rendered (its release tail)
_PREROLL_TAIL_SECONDS = 3.0
#: a note that began longer ago than this before the window starts here (no attack)
_MAX_PREROLL_SECONDS = 10.0
#: MIDI channels: one melodic, one drum (the GM drum channel, 10 counted from 1)
_MELODIC_CHANNEL = 0
_DRUM_CHANNEL = 9
#: the GM percussion bank as tinysoundfont expects it with is_drums=True
_DRUM_BANK = 128
#: samples rendered and thrown away after sounds_off, so quick-released voices die
_FLUSH_SAMPLES = 2048
#: simultaneous voices (one note may use several)
_MAX_VOICES = 256

_cache: dict[tuple[Path, int], _Loaded] = {}
_cache_lock = threading.Lock()


def render_stems(
    score: Score,
    *,
    soundfont: SoundFont,
    sample_rate_hz: int,
    origin_seconds: float,
    duration_seconds: float,
    spool: bool | None = None,
) -> dict[str, np.ndarray | SpooledAudio]:
    """Render every track of a score; tracks that share a role are summed.

    Parameters
    ----------
    score : the arrangement; note times are seconds on the input's clock.
    soundfont : the font to render with (see `find_soundfont`).
    sample_rate_hz : output sample rate.
    origin_seconds : the score time of output sample 0 (negative for an intro that
        starts before the voice).
    duration_seconds : the output length; n = round(duration_seconds * sample_rate_hz).
    spool : keep each finished stem in a temporary file (`SpooledAudio`) instead of in
        memory; None decides by length (`should_spool`: longer than 150 s).

    Returns
    -------
    dict role -> np.ndarray [shape=(n, 2), dtype=float32] (or its `SpooledAudio`),
    stereo, unscaled synth output (peaks may pass 1.0). Notes sounding before `origin_seconds` are rendered
    from their start so that they sound at sample 0; release tails past n are cut.

    Raises
    ------
    InvalidField
        if sample_rate_hz or duration_seconds is out of range.

    Examples
    --------
    >>> stems = render_stems(score, soundfont=find_soundfont(), sample_rate_hz=44100,
    ...                      origin_seconds=-2.0, duration_seconds=30.0)
    >>> stems["bass"].shape
    (1323000, 2)
    """
    if not 8000 <= sample_rate_hz <= 192000:
        raise InvalidField(
            f"sample_rate_hz {sample_rate_hz} is out of range [8000, 192000]",
            param="sample_rate_hz",
            value=sample_rate_hz,
        )
    if not duration_seconds > 0:
        raise InvalidField(
            f"duration_seconds must be > 0, got {duration_seconds}",
            param="duration_seconds",
            value=duration_seconds,
        )
    n = round(duration_seconds * sample_rate_hz)
    if spool is None:
        spool = should_spool(n, sample_rate_hz=sample_rate_hz)
    by_role: dict[str, list[Track]] = {}
    for track in score.tracks:
        by_role.setdefault(track.role, []).append(track)
    stems: dict[str, np.ndarray | SpooledAudio] = {}
    loaded = _synth(soundfont, sample_rate_hz)
    with loaded.lock:  # one score at a time through the shared synthesizer
        for role, tracks in by_role.items():
            audio = None
            for track in tracks:
                part = render_track(
                    track,
                    soundfont=soundfont,
                    sample_rate_hz=sample_rate_hz,
                    origin_seconds=origin_seconds,
                    n_samples=n,
                )
                if audio is None:
                    audio = part
                else:
                    audio += part
                del part
            stems[role] = SpooledAudio.write(audio) if spool else audio
            del audio
    return stems


def render_track(
    track: Track,
    *,
    soundfont: SoundFont,
    sample_rate_hz: int,
    origin_seconds: float,
    n_samples: int,
) -> np.ndarray:
    """One track -> np.ndarray [shape=(n_samples, 2), dtype=float32]; sample 0 is
    score time `origin_seconds`. See `render_stems`.

    A drum track plays on the font's sampled acoustic kit (`SoundFont.drum_kit_for`)
    where there is one for its program. The track's controls are sent as they come
    (expression swells); the sustain pedal, which tinysoundfont does not implement, is
    played by holding each note released under a pressed pedal until the pedal lifts."""
    notes = _pedalled(track.notes, track.controls) if track.controls else track.notes
    events = _events(
        notes,
        sample_rate_hz=sample_rate_hz,
        origin_seconds=origin_seconds,
        n_samples=n_samples,
    )
    if not events:
        return np.zeros((n_samples, 2), dtype=np.float32)
    events += _control_events(track.controls, events[0][0], sample_rate_hz=sample_rate_hz,
                              origin_seconds=origin_seconds, n_samples=n_samples)
    events.sort()
    kit = soundfont.drum_kit_for(track.program) if track.is_drum else None
    loaded = _synth(kit or soundfont, sample_rate_hz)
    with loaded.lock:  # re-entrant: render_stems holds it already
        return _render_locked(loaded, track, events, n_samples, kit_bank=0 if kit else None)


def _render_locked(
    loaded: _Loaded, track: Track, events: list[tuple[int, int, int, int]], n_samples: int,
    *, kit_bank: int | None = None,
) -> np.ndarray:
    synth = loaded.synth
    channel = _select_program(loaded, track, kit_bank=kit_bank)
    # the singer's reference pitch (set every time: the synthesizer is shared by tracks)
    synth.set_tuning(channel, 0.0 if track.is_drum else track.tuning_cents / 100.0)
    start = min(0, events[0][0])  # pre-roll for notes that began before sample 0
    out = np.zeros((n_samples - start, 2), dtype=np.float32)
    cursor = start
    try:
        for sample, kind, a, b in events:
            if sample > cursor:
                synth.generate_simple(sample - cursor, buffer=out[cursor - start : sample - start])
                cursor = sample
            if kind == _ON:
                synth.noteon(channel, a, b)
            elif kind == _OFF:
                synth.noteoff(channel, a)
            else:
                synth.control_change(channel, a, b)
        if n_samples > cursor:
            synth.generate_simple(n_samples - cursor, buffer=out[cursor - start :])
    finally:
        _silence(synth)
    return out[-start:] if start else out


#: event kinds, in the order they apply at one sample: note-offs, controls, note-ons
_OFF, _CONTROL, _ON = 0, 1, 2
#: controllers tinysoundfont plays (the pedal is played by `_pedalled` instead)
_PLAYED_CONTROLLERS = frozenset({7, 10, 11})


def _pedalled(notes: tuple[Note, ...], controls: tuple[ControlChange, ...]) -> tuple[Note, ...]:
    """Notes as the sustain pedal (controller 64) holds them: a note released while
    the pedal is down sounds on until the pedal lifts."""
    downs: list[tuple[float, float]] = []  # (pressed, lifted) spans
    pressed_at: float | None = None
    for c in controls:
        if c.controller != SUSTAIN_PEDAL:
            continue
        if c.value >= 64 and pressed_at is None:
            pressed_at = c.time_seconds
        elif c.value < 64 and pressed_at is not None:
            downs.append((pressed_at, c.time_seconds))
            pressed_at = None
    if pressed_at is not None:
        downs.append((pressed_at, math.inf))
    if not downs:
        return notes
    starts = [d[0] for d in downs]
    out = []
    for note in notes:
        i = bisect_right(starts, note.end_seconds) - 1
        if i >= 0 and downs[i][0] <= note.end_seconds < downs[i][1] and math.isfinite(downs[i][1]):
            note = replace(note, end_seconds=downs[i][1])
        out.append(note)
    return tuple(out)


def _control_events(
    controls: tuple[ControlChange, ...], first_sample: int, *, sample_rate_hz: int, origin_seconds: float,
    n_samples: int,
) -> list[tuple[int, int, int, int]]:
    """The played controllers as events from the render's first sample on; each
    controller's last value before it is sent at that first sample, so that a slice
    starts where the whole render would be."""
    events: list[tuple[int, int, int, int]] = []
    before: dict[int, int] = {}
    for c in controls:
        if c.controller not in _PLAYED_CONTROLLERS:
            continue
        sample = round((c.time_seconds - origin_seconds) * sample_rate_hz)
        if sample >= n_samples:
            break
        if sample <= first_sample:
            before[c.controller] = c.value
        else:
            events.append((sample, _CONTROL, c.controller, c.value))
    events += [(first_sample, _CONTROL, controller, value) for controller, value in before.items()]
    return events


def _events(
    notes: tuple[Note, ...], *, sample_rate_hz: int, origin_seconds: float, n_samples: int
) -> list[tuple[int, int, int, int]]:
    """Notes -> sorted (sample, kind, pitch_midi, velocity) within the window.

    Overlapping notes of one pitch are made monophonic per pitch: the earlier note is
    re-struck at the later onset and the sound holds to the later of the two ends, so
    no note-off meant for one cuts another short and no voices pile up."""
    by_pitch: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    first_allowed = -round(_PREROLL_TAIL_SECONDS * sample_rate_hz)
    earliest_on = -round(_MAX_PREROLL_SECONDS * sample_rate_hz)
    for note in notes:
        on = round((note.start_seconds - origin_seconds) * sample_rate_hz)
        off = max(on + 1, round((note.end_seconds - origin_seconds) * sample_rate_hz))
        if on >= n_samples or off < first_allowed:
            continue
        by_pitch[note.pitch_midi].append((max(on, earliest_on), off, note.velocity))
    events: list[tuple[int, int, int, int]] = []
    for pitch, spans in by_pitch.items():
        spans.sort()
        sounding_until: int | None = None
        for on, off, velocity in spans:
            if sounding_until is not None:
                if on < sounding_until:  # overlap: re-strike, hold to the later end
                    off = max(off, sounding_until)
                events.append((min(on, sounding_until), _OFF, pitch, 0))
            events.append((on, _ON, pitch, velocity))
            sounding_until = off
        if sounding_until is not None and sounding_until < n_samples:
            events.append((sounding_until, _OFF, pitch, 0))
    events.sort()  # by sample, note-offs before note-ons
    return events


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A synthesizer with one font loaded, and that font's id in it."""

    synth: tinysoundfont.Synth
    sfid: int
    lock: threading.RLock


def _synth(soundfont: SoundFont, sample_rate_hz: int) -> _Loaded:
    """The process's loaded synthesizer for the font and rate (loaded once; hold its
    lock while rendering)."""
    key = (Path(soundfont.path), int(sample_rate_hz))
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is None:
            logger.info("loading SoundFont %s at %d Hz", soundfont.path, sample_rate_hz)
            synth = tinysoundfont.Synth(gain=0.0, samplerate=int(sample_rate_hz))
            sfid = synth.sfload(str(soundfont.path), max_voices=_MAX_VOICES)
            loaded = _cache[key] = _Loaded(synth=synth, sfid=sfid, lock=threading.RLock())
    return loaded


def preload(soundfont: SoundFont, sample_rate_hz: int) -> None:
    """Load the font, and its drum kits, into this process's synthesizers now
    (processes forked later share them, page for page, instead of loading their own)."""
    _synth(soundfont, sample_rate_hz)
    for kit in soundfont.drum_kits:
        _synth(kit, sample_rate_hz)


def _select_program(loaded: _Loaded, track: Track, *, kit_bank: int | None = None) -> int:
    """Select the track's GM program (or drum kit) on its channel; returns the channel.
    A program the font lacks falls back to program 0 (kit 0 for drums), logged.
    kit_bank: a drum-kit font's own bank (its one kit is preset 0 there)."""
    synth, sfid = loaded.synth, loaded.sfid
    if track.is_drum:
        channel, bank = _DRUM_CHANNEL, _DRUM_BANK if kit_bank is None else kit_bank
    else:
        channel, bank = _MELODIC_CHANNEL, 0
    program = min(max(int(track.program), 0), 127) if kit_bank is None else 0
    synth.control_change(channel, 121, 0)  # reset controllers: volume, pan, pitch wheel
    try:
        synth.program_select(channel, sfid, bank, program, is_drums=track.is_drum)
    except RuntimeError:
        logger.warning(
            "SoundFont has no %s %d for role %r; using 0",
            "kit" if track.is_drum else "program",
            program,
            track.role,
        )
        synth.program_select(channel, sfid, bank, 0, is_drums=track.is_drum)
    return channel


def _silence(synth: tinysoundfont.Synth) -> None:
    """Stop every voice and let the quick release run out, ready for the next track."""
    synth.notes_off()
    synth.sounds_off()
    scratch = np.empty((_FLUSH_SAMPLES, 2), dtype=np.float32)
    synth.generate_simple(_FLUSH_SAMPLES, buffer=scratch)
