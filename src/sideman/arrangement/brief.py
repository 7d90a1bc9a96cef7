"""The arrangement brief: what was heard and what will be played, in words (the API's
`prompt` field and the text-stage callback)."""

from __future__ import annotations

from sideman.analysis import Analysis
from sideman.arrangement.arc import BarRole
from sideman.arrangement.form import Form
from sideman.music import Track
from sideman.style import StyleSpec


def write_brief(analysis: Analysis, style: StyleSpec, form: Form, *, tracks: tuple[Track, ...], variation: int,
                arc: tuple[BarRole, ...] = ()) -> str:
    chords = _progression(form)
    rival = analysis.confidence.alternatives  # close second readings: the singer can say which
    tempo = f"{analysis.grid.tempo_bpm:.0f} bpm" + (f" (or {rival['tempo_bpm']:.0f})" if "tempo_bpm" in rival else "")
    meter = analysis.grid.meter + (f" (or {rival['meter']})" if "meter" in rival else "")
    key = analysis.key.label + (f" (or {rival['key']})" if "key" in rival else "")
    tuning = f", sung {analysis.tuning_cents:+.0f} cents from A440" if abs(analysis.tuning_cents) >= 5 else ""
    heard = (
        f"Heard: {tempo} in {meter}, {key}{tuning}, "
        f"{len(analysis.notes)} sung notes over {analysis.duration_seconds:.1f} s "
        f"(range MIDI {analysis.vocal_range_midi[0]}-{analysis.vocal_range_midi[1]}), "
        f"sections {' '.join(s.label for s in analysis.sections) or 'A'}."
    )
    band = ", ".join(f"{t.name} ({t.role})" for t in tracks) or "no instruments"
    mood = f" {', '.join(style.moods)}" if style.moods else ""
    played = (
        f"Take {variation + 1}: a{mood} {style.genre} arrangement with {band}; "
        f"{style.groove.replace('_', ' ')} groove, {style.feel} feel, "
        f"energy {style.energy:.2f}; {form.intro_bars}-bar intro, closing on the tonic after "
        f"{form.outro_bars} bar(s).{_form_in_words(arc)} Chords: {chords}."
    )
    notes = []
    if style.unmatched_tags:
        notes.append(f"Tags not understood: {', '.join(style.unmatched_tags)}.")
    if style.unmatched_negative_tags:
        notes.append(f"Negative tags not understood: {', '.join(style.unmatched_negative_tags)}.")
    if style.excluded_instruments or style.excluded_genres or style.sparse_roles:
        kept_out = sorted(style.excluded_genres) + sorted(f"busy {r}" for r in style.sparse_roles)
        instruments = sorted(style.excluded_instruments)
        if instruments:
            kept_out.append(", ".join(instruments[:8]) + (f" and {len(instruments) - 8} more" if len(instruments) > 8 else ""))
        notes.append(f"Kept out: {', '.join(kept_out)}.")
    return " ".join([heard, played, *notes])


def _form_in_words(arc: tuple[BarRole, ...]) -> str:
    """The arc in words: " Form: intro 1, verse 8, chorus 8, outro 1 (bars)."."""
    runs: list[list] = []
    for role in arc:
        if runs and runs[-1][0] == role.section and not role.section_start:
            runs[-1][1] += 1
        else:
            runs.append([role.section, 1])
    return f" Form: {', '.join(f'{name} {bars}' for name, bars in runs)} (bars)." if runs else ""


def _progression(form: Form, limit: int = 16) -> str:
    labels = [c.symbol for c in form.chords]
    shown = " | ".join(labels[:limit])
    return shown + (" | ..." if len(labels) > limit else "")
