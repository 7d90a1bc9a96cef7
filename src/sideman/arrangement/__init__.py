"""arrangement: Analysis + StyleSpec + knobs + seed -> Arrangement (a Score on the
input's clock, its chord chart, its form, its arc and a brief in words).

Same analysis, style, knobs and seed -> the same notes (one seeded Generator)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sideman.analysis import Analysis
from sideman.arrangement.arc import BarRole, arc_energy, plan_arc
from sideman.arrangement.bass import write_bass
from sideman.arrangement.brief import write_brief
from sideman.arrangement.colour import write_colour
from sideman.arrangement.context import PartContext
from sideman.arrangement.drums import write_drums
from sideman.arrangement.form import Form, plan_form
from sideman.arrangement.harmony import write_harmony
from sideman.arrangement.knobs import (
    blend_chords,
    colour_chords,
    implied_colours,
    reharmonise,
    repair_clashes,
    stock_chords,
    walk_bass,
)
from sideman.arrangement.patterns import patterns
from sideman.music import Note, Score, Track
from sideman.style import PartChoice, StyleSpec

__all__ = ["HELD_NOTE_SECONDS", "Arrangement", "Knobs", "arrange"]

#: a sung note this long is heard against the chord under it (the eval's "long note")
HELD_NOTE_SECONDS = 0.4


@dataclass(frozen=True)
class Knobs:
    """The request's knobs (0..1 each; see the HTTP contract) and what each one does.

    style_weight: how strongly the tags override what the voice suggests. 1 keeps the
        tags' density and energy (and the moods' full push); 0 takes the density and
        energy the voice suggests (notes per beat, loudness).
    audio_weight: how tightly harmony and dynamics follow the voice. 1 plays every chord
        the melody implies and dynamics that follow the voice's loudness bar by bar; 0
        plays the style's stock progression in the key at the style's own level (see
        knobs.py for the rule in between); also the depth of ducking under the voice.
    weirdness_constraint: 0 textbook triads and patterns; toward 1, substitutions
        (sevenths, sixths, sus, borrowed iv, tritone subs) that the melody still agrees with.
    model: "V4_5PLUS" richer tone: sevenths in the voicings, a pad layer where the band
        has none, full stereo spread, a longer reverb. "V5" more expressive: humanized timing and
        velocity, dynamics that follow the voice more closely, drum fills answering the
        voice's rests; narrower stereo.
    vocal_gender: "m" / "f": the register the harmony keeps clear and the register of
        wordless backing vocals; None infers it from the voice.
    """

    style_weight: float = 0.5
    weirdness_constraint: float = 0.3
    audio_weight: float = 0.7
    model: str = "V4_5PLUS"
    vocal_gender: str | None = None
    #: the singer gave a chord chart (sideman.overrides): the band plays analysis.chords
    #: as written, with no stock progression blended in, no colour and no clash repair
    chords_as_written: bool = False


@dataclass(frozen=True)
class Arrangement:
    """score: every part as notes (seconds on the input's clock);
    form: bars, chords and sections; brief: what was heard and what will be played;
    arc: what each bar of the form is for (intro, verse, chorus...; arc.py)."""

    score: Score
    form: Form
    style: StyleSpec
    seed: int
    variation: int
    brief: str
    arc: tuple[BarRole, ...] = ()

    @property
    def start_seconds(self) -> float:
        return self.form.start_seconds

    @property
    def end_seconds(self) -> float:
        return max(self.form.end_seconds, self.score.end_seconds)


#: the intro lasts at least this many counted beats: one bar of 2/4 (or 6/8, counted in
#: two) is too short a count-in for a singer, so those get two
MIN_INTRO_BEATS = 3


def arrange(analysis: Analysis, style: StyleSpec, *, knobs: Knobs, seed: int, variation: int = 0) -> Arrangement:
    """Write the band's parts for one variation (0, 1, ...) along the song's arc (arc.py):
    odd variations are another band (the style's alternate instruments, the neighbouring
    groove, bass line and harmony pattern, another progression where the melody allows)."""
    rng = np.random.default_rng(seed)
    style = _interpret(style, variation)
    style = _weigh_style_against_voice(style, analysis, knobs, variation=variation)
    if knobs.chords_as_written:
        chords = analysis.chords
    else:
        chords = blend_chords(analysis.chords, stock_chords(_sung_bars(analysis), analysis.key, style.genre),
                              analysis.notes, audio_weight=knobs.audio_weight)
        chords = colour_chords(chords, analysis.notes, analysis.key, weirdness=knobs.weirdness_constraint, rng=rng)
        if variation % 2 == 1:  # another band: its own progression where the melody allows one
            chords = reharmonise(chords, analysis.notes, analysis.key, long_seconds=HELD_NOTE_SECONDS)
        if knobs.weirdness_constraint > 0:  # the colours the melody sings (textbook triads at 0)
            chords = implied_colours(chords, analysis.notes, analysis.key, long_seconds=HELD_NOTE_SECONDS)
        chords = repair_clashes(chords, analysis.notes, analysis.key, long_seconds=HELD_NOTE_SECONDS)
        if knobs.weirdness_constraint > 0:
            chords = walk_bass(chords)
    intro_bars = max(style.intro_bars, 2 if analysis.grid.tempo_bpm < 70 else 1,
                     -(-MIN_INTRO_BEATS // max(analysis.grid.beats_per_bar, 1)))
    form = plan_form(
        grid=analysis.grid,
        key=analysis.key,
        chords=chords,
        sections=analysis.sections,
        first_note_seconds=analysis.first_note_seconds,
        last_note_end_seconds=analysis.last_note_end_seconds,
        duration_seconds=analysis.duration_seconds,
        intro_bars=intro_bars,
    )
    arc = plan_arc(form, sections=analysis.sections, melody=analysis.notes)
    # V5: dynamics follow the voice more closely
    follow = min(1.0, knobs.audio_weight * (1.4 if knobs.model == "V5" else 1.0))
    energy = np.clip(_energy_per_bar(analysis, form, style, follow) + arc_energy(arc), 0.05, 1.0)
    register = (analysis.vocal_range_midi if knobs.vocal_gender is None
                else ((57, 76) if knobs.vocal_gender == "f" else (45, 64)))
    ctx = PartContext(
        form=form, key=analysis.key, style=style, energy_per_bar=energy,
        swing=0.16 if style.feel == "swing" else 0.0, rng=rng,
        humanize=1.0 if knobs.model == "V5" else 0.0, vocal_range_midi=register,
        variation=variation, fuller_voicings=knobs.model == "V4_5PLUS",
        melody=analysis.notes, vocal_gender=knobs.vocal_gender or analysis.vocal_register, arc=arc,
    )
    mix = patterns()["mix"]
    stereo_width = 1.0 if knobs.model == "V4_5PLUS" else 0.6
    tracks = []
    for part in style.parts:
        sparse = part.role in style.sparse_roles or style.density < 0.3
        notes = _write_part(ctx, part, style, sparse)
        if notes:
            level = mix.get(part.role, {"gain_db": -6.0, "pan": 0.0})
            tracks.append(Track(part.role, part.instrument, part.program, part.is_drum, notes,
                                gain_db=float(level["gain_db"]),
                                pan=float(level["pan"]) * stereo_width * (-1 if variation % 2 else 1)))
    tracks = _keep_sustain_off_others(tracks)
    # V4_5PLUS: a longer reverb tail for the richer tone
    room = 0.62 if knobs.model == "V4_5PLUS" else 0.45
    # every part plays at the singer's reference pitch, not at A440
    tracks = [replace(t, tuning_cents=analysis.tuning_cents) for t in tracks]
    score = Score(tuple(tracks), form.grid, analysis.key, form.chords, form.sections, reverb_room_size=room,
                  tuning_cents=analysis.tuning_cents)
    brief = write_brief(analysis, style, form, tracks=score.tracks, variation=variation, arc=arc)
    return Arrangement(score, form, style, seed, variation, brief, arc)


def _write_part(ctx: PartContext, part: PartChoice, style: StyleSpec, sparse: bool):
    if part.role == "drums":
        return write_drums(ctx, groove=style.groove, sparse=sparse, answer_gaps=ctx.humanize > 0)
    if part.role == "bass":
        return write_bass(ctx, pattern=style.bass_pattern, sparse=sparse)
    if part.pattern is not None:
        return write_colour(ctx, role=part.role, pattern=part.pattern, sparse=sparse)
    pattern, arc = "sustained", "comp"
    if part.role == "guitar" or (part.role == "keys" and style.part("guitar") is None):
        pattern = style.harmony_pattern  # the part that carries the style's comping
    elif part.role == "keys":
        pattern, arc = patterns()["companion_harmony"].get(style.harmony_pattern, "sustained"), "companion"
    elif style.part("keys") is not None or style.part("guitar") is not None:
        arc = "sustain"  # pads and strings over a comping part come in for the choruses
    return write_harmony(ctx, role=part.role, pattern=pattern, sparse=sparse, arc=arc)


#: roles that hold chords over the band: they move off (or drop) any note another part plays
#: (wordless backing vocals keep the register of the voice they back)
_SUSTAIN_ROLES = ("pad", "strings", "swells")


def _keep_sustain_off_others(tracks: list[Track]) -> list[Track]:
    """A pad (strings, swells) never doubles another part: a note that another pitched part
    sounds at the same time moves up an octave, or is left out when that doubles too."""
    taken: dict[int, list[tuple[float, float]]] = {}
    for track in tracks:
        if not track.is_drum and track.role not in _SUSTAIN_ROLES:
            for note in track.notes:
                taken.setdefault(note.pitch_midi, []).append((note.start_seconds, note.end_seconds))

    def doubles(pitch: int, note: Note) -> bool:
        return any(a < note.end_seconds and b > note.start_seconds for a, b in taken.get(pitch, ()))

    out = []
    for track in tracks:
        if track.is_drum or track.role not in _SUSTAIN_ROLES:
            out.append(track)
            continue
        kept = []
        for note in track.notes:
            pitch = note.pitch_midi
            if doubles(pitch, note):
                pitch = pitch + 12 if pitch + 12 <= 100 and not doubles(pitch + 12, note) else -1
            if pitch >= 0:
                kept.append(Note(note.start_seconds, note.end_seconds, pitch, note.velocity))
                taken.setdefault(pitch, []).append((note.start_seconds, note.end_seconds))
        out.append(replace(track, notes=tuple(kept)))
    return [t for t in out if t.notes]


def _sung_bars(analysis: Analysis) -> list[tuple[float, float]]:
    """The analysed bars that the heard chords cover."""
    if not analysis.chords:
        return []
    start, end = analysis.chords[0].start_seconds, analysis.chords[-1].end_seconds
    downbeats = list(analysis.grid.downbeats_seconds)
    bar = analysis.grid.beats_per_bar * 60.0 / analysis.grid.tempo_bpm
    edges = [d for d in downbeats if start - 1e-6 <= d < end - 1e-3]
    if not edges or edges[0] > start + 1e-6:
        edges.insert(0, start)
    bars = [(a, b) for a, b in zip(edges, edges[1:], strict=False)]
    bars.append((edges[-1], max(end, edges[-1] + min(bar, end - edges[-1]))))
    return [(a, b) for a, b in bars if b - a > 1e-3]


def _weigh_style_against_voice(style: StyleSpec, analysis: Analysis, knobs: Knobs, *, variation: int = 0) -> StyleSpec:
    """style_weight 1 keeps the tags' density and energy; 0 takes what the voice
    suggests (a busy, loud line asks for a busier band); V4_5PLUS adds a pad layer."""
    beats = max(1.0, analysis.duration_seconds * analysis.grid.tempo_bpm / 60.0)
    notes_per_beat = len(analysis.notes) / beats
    heard_energy = float(np.mean(analysis.energy_per_bar)) if analysis.energy_per_bar else style.energy
    voice_density = float(np.clip(0.5 * min(notes_per_beat / 1.5, 1.0) + 0.5 * heard_energy, 0.05, 1.0))
    w = knobs.style_weight
    density = w * style.density + (1 - w) * voice_density
    energy = w * style.energy + (1 - w) * heard_energy
    if "drums" in style.sparse_roles:
        density = min(density, 0.45)
    parts = style.parts
    roles = {p.role for p in parts}
    # the pad layer: each take its own sound (a warm pad, a string pad), never an excluded one
    layers = [(name, program) for name, program in patterns()["pad_layer"] if name not in style.excluded_instruments]
    if (knobs.model == "V4_5PLUS" and not roles & {"pad", "strings", "swells", "vocals"} and density >= 0.35
            and style.genre in patterns()["pad_layer_genres"] and layers and "pad" not in style.excluded_elements):
        name, program = layers[variation % len(layers)]
        parts = (*parts, PartChoice("pad", name, int(program)))
    return replace(style, density=float(density), energy=float(np.clip(energy, 0.05, 1.0)), parts=parts)


def _interpret(style: StyleSpec, variation: int) -> StyleSpec:
    """Variation 0 plays the tags as read; odd variations are another band: the alternate
    harmony instrument (never in place of one the tags named), the neighbouring groove,
    bass line and harmony pattern (never one the negative tags keep out)."""
    if variation % 2 == 0:
        return style
    data = patterns()
    parts = tuple(style.alternates.get(p.role, p)
                  if p.role in ("keys", "guitar", "strings") and p.role not in style.tagged_roles else p
                  for p in style.parts)
    # a pad without an alternate takes the other pad sound (a string pad for a warm one)
    layers = [PartChoice("pad", name, int(program), pattern=None) for name, program in data["pad_layer"]
              if name not in style.excluded_instruments]
    parts = tuple(
        style.alternates.get("pad") or next((replace(layer, pattern=p.pattern) for layer in layers
                                            if layer.instrument != p.instrument), p)
        if p.role == "pad" and p.role not in style.tagged_roles else p
        for p in parts)

    def other(table: str, value: str) -> str:
        chosen = data[table].get(value, value)
        return value if chosen in style.excluded_elements else chosen

    return replace(
        style,
        parts=parts,
        groove=other("variation_groove", style.groove) if style.energy < 0.9 else style.groove,
        bass_pattern=other("variation_bass", style.bass_pattern),
        harmony_pattern=other("variation_harmony", style.harmony_pattern),
    )


#: energy added per new section label (A, then B lifts, C lifts more), and to the last section
_SECTION_LIFT = 0.06
_FINAL_SECTION_LIFT = 0.05


def _energy_per_bar(analysis: Analysis, form: Form, style: StyleSpec, audio_weight: float) -> np.ndarray:
    """0..1 per bar: the style's energy, moved toward the voice's energy by audio_weight;
    later sections lift, the intro is a little softer and the outro fades."""
    voice = np.asarray(analysis.energy_per_bar) if analysis.energy_per_bar else np.zeros(1)
    downbeats = np.asarray(analysis.grid.downbeats_seconds)
    sung = [s for s in form.sections if s.label not in ("intro", "outro")]
    labels = sorted({s.label for s in sung})
    values = []
    for i, (a, b) in enumerate(form.bars):
        j = int(np.clip(np.searchsorted(downbeats, a + 1e-3) - 1, 0, len(voice) - 1))
        in_song = form.intro_bars <= i < len(form.bars) - form.outro_bars
        heard = float(voice[j]) if in_song else style.energy * 0.8
        value = (1 - audio_weight) * style.energy + audio_weight * (0.3 * style.energy + 0.7 * heard)
        section = next((s for s in sung if s.start_seconds <= (a + b) / 2 < s.end_seconds), None)
        if in_song and section is not None:
            value += _SECTION_LIFT * labels.index(section.label)
            value += _FINAL_SECTION_LIFT if section is sung[-1] and len(sung) > 1 else 0.0
        if i >= len(form.bars) - form.outro_bars:
            value *= 0.85 ** (i - (len(form.bars) - form.outro_bars) + 1)  # the outro fades
        values.append(value)
    return np.clip(np.array(values), 0.05, 1.0)
