"""The arrangement as a Standard MIDI File: one named track per part with its GM program,
the tempo map of the beat grid (a tempo event wherever the singer's pulse moves), and
key and time-signature events. MIDI time 0 is the band's first downbeat.

The file carries the performance (`sideman.perform`): notes at their played times and
velocities, the sustain pedal (controller 64) and expression swells (controller 11) as
control changes."""

from __future__ import annotations

from pathlib import Path

import mido

from sideman.music import Key, Score
from sideman.music.theory import pitch_class_name

TICKS_PER_BEAT = 480
_DRUM_CHANNEL = 9
_TEMPO_TOLERANCE = 0.003  # a new tempo event when the beat period moves by more than 0.3 %


def write_midi(score: Score, path: Path, *, origin_seconds: float, title: str = "") -> None:
    """Write `score` to `path`; `origin_seconds` is the input time at MIDI time 0."""
    midi = midi_file(score, origin_seconds=origin_seconds, title=title)
    midi.save(str(path))


def midi_file(score: Score, *, origin_seconds: float, title: str = "") -> mido.MidiFile:
    grid = score.grid
    origin_beat = grid.beat_position(origin_seconds)
    # a counted beat of 6/8 is a dotted quarter: 1.5 MIDI quarter notes
    quarters_per_beat = 1.5 if grid.beat_unit == 8 else 1.0

    def ticks(time_seconds: float) -> int:
        beats = grid.beat_position(time_seconds) - origin_beat
        return max(0, round(beats * quarters_per_beat * TICKS_PER_BEAT))

    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    midi.tracks.append(conductor)
    events: list[tuple[int, mido.MetaMessage]] = []
    if title:
        events.append((0, mido.MetaMessage("track_name", name=title[:100])))
    numerator = grid.beats_per_bar * (3 if grid.beat_unit == 8 else 1)
    events.append((0, mido.MetaMessage("time_signature", numerator=numerator, denominator=grid.beat_unit)))
    events.append((0, mido.MetaMessage("key_signature", key=_key_name(score.key))))
    end_beat = grid.beat_position(max(score.end_seconds, origin_seconds + 1.0))
    previous_period = None
    beat = origin_beat
    while beat <= end_beat + 1:
        period = grid.time_at(beat + 1) - grid.time_at(beat)
        if previous_period is None or abs(period / previous_period - 1) > _TEMPO_TOLERANCE:
            tick = round((beat - origin_beat) * quarters_per_beat * TICKS_PER_BEAT)
            tempo = round(period * 1e6 / quarters_per_beat)  # microseconds per quarter note
            events.append((tick, mido.MetaMessage("set_tempo", tempo=tempo)))
            previous_period = period
        beat += 1
    _append(conductor, events)

    channels = iter(c for c in range(16) if c != _DRUM_CHANNEL)
    for track in score.tracks:
        channel = _DRUM_CHANNEL if track.is_drum else next(channels, 0)
        messages: list[tuple[int, mido.Message | mido.MetaMessage]] = [
            (0, mido.MetaMessage("track_name", name=f"{track.role}: {track.name}")),
            (0, mido.Message("program_change", channel=channel, program=track.program)),
        ]
        if score.tuning_cents and not track.is_drum:
            # the singer's reference pitch: the wheel's default range is +-2 semitones
            bend = max(-8192, min(8191, round(score.tuning_cents / 200.0 * 8192)))
            messages.append((0, mido.Message("pitchwheel", channel=channel, pitch=bend)))
        for note in track.notes:
            on, off = ticks(note.start_seconds), ticks(note.end_seconds)
            off = max(off, on + 1)
            messages.append((on, mido.Message("note_on", channel=channel, note=note.pitch_midi, velocity=note.velocity)))
            messages.append((off, mido.Message("note_off", channel=channel, note=note.pitch_midi, velocity=0)))
        for control in track.controls:
            messages.append((ticks(control.time_seconds), mido.Message(
                "control_change", channel=channel, control=control.controller, value=control.value)))
        out = mido.MidiTrack()
        _append(out, messages)
        midi.tracks.append(out)
    return midi


def _append(track: mido.MidiTrack, events: list) -> None:
    """Events at absolute ticks -> delta times; at one tick, note-offs before note-ons."""
    order = {"note_off": 0, "note_on": 1}
    events.sort(key=lambda e: (e[0], order.get(getattr(e[1], "type", ""), -1)))
    now = 0
    for tick, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))


def _key_name(key: Key) -> str:
    """mido's key names ("Eb", "C#m"); every spelling pitch_class_name uses is one."""
    return pitch_class_name(key.tonic_pitch_class) + ("m" if key.mode == "minor" else "")
