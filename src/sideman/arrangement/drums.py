"""The drum part: a groove per bar (kept as data), shaped by the arc (arc.py).

The intro counts in on the cymbals alone (earlier intro bars stay silent), a verse
plays the groove's lighter table, a chorus the full one with an open hat at the end of
each four-bar phrase and a crash where each section (and, in the last chorus, each
eight-bar phrase) starts; a breakdown keeps only the cymbals; the second bar of two answers with a kick on the last
off-beat; a fill ends each section and eight-bar phrase, a build rolls into a chorus
where the groove asks for it, and one closing hit ends the song."""

from __future__ import annotations

from sideman.arrangement.arc import CHORUS, INTRO, LAST_CHORUS, VERSE
from sideman.arrangement.context import PartContext
from sideman.arrangement.patterns import for_meter, patterns
from sideman.music import Note

STEPS_PER_BEAT = 4
#: the voices that keep time without kick or snare (an intro's count-in, a breakdown)
CYMBALS = ("hat", "pedal_hat", "ride", "shaker")
#: base velocity (0..1) of a ghost note ('o'), of a hit on the beat and off it
GHOST_LEVEL, ON_BEAT_LEVEL, OFF_BEAT_LEVEL = 0.32, 0.8, 0.62


def write_drums(ctx: PartContext, *, groove: str, sparse: bool, answer_gaps: bool = False) -> tuple[Note, ...]:
    """The groove in every bar but the last (one closing hit); fills at section and
    phrase ends, and with answer_gaps also in bars where the voice rests (the drummer
    answers). `sparse` keeps to the sparse table, with no fills and no extra hits."""
    data = patterns()
    notes_by_drum = data["drum_notes"]
    spec = data["grooves"][groove]
    beats_per_bar = ctx.form.grid.beats_per_bar
    full = _bar_grooves(spec["sparse" if sparse else "full"], beats_per_bar)
    light = _bar_grooves(spec["sparse" if sparse or spec.get("verse", "sparse") == "sparse" else "full"], beats_per_bar)
    count_in = _bar_grooves(spec["sparse"], beats_per_bar)
    fill_pattern = for_meter(data["fills"], beats_per_bar)
    build_pattern = for_meter(data["build"], beats_per_bar) if spec.get("build") else None
    steps_per_bar = beats_per_bar * STEPS_PER_BEAT
    fill_bars = {b for b in range(len(ctx.form.bars) - 1) if ctx.role(b).phrase_end}
    if answer_gaps:
        beat = 60.0 / ctx.form.grid.tempo_bpm
        gaps = ctx.gaps(min_beats=1.5)
        for b, (_, bar_end) in enumerate(ctx.form.bars[1:-2], start=1):
            # the fill takes the bar's last beat: only where the voice rests through it
            if ctx.role(b).level >= VERSE and any(a <= bar_end - 1.05 * beat and e >= bar_end - 0.05 for a, e in gaps):
                fill_bars.add(b)
    notes: list[Note] = []
    n_bars = len(ctx.form.bars)

    def hit(b: int, step: float, drum: str, base: float, *, length: float = 0.1, accent: float = 0.0) -> None:
        t = ctx.time(b, step / STEPS_PER_BEAT)
        notes.append(Note(t, t + length, notes_by_drum[drum], ctx.velocity(b, base, accent=accent)))

    for b in range(n_bars):
        role = ctx.role(b)
        if b == n_bars - 1:  # the closing bar: one hit with the final chord, cymbal ringing
            hit(b, 0, "kick", 0.8, length=1.5)
            hit(b, 0, "crash", 0.7, length=2.5)
            continue
        cycle = (b - ctx.form.intro_bars) % len(full)  # a groove spanning bars starts over with the voice
        if role.level == INTRO:
            if b == ctx.form.intro_bars - 1:  # the count-in: the cymbals of the light groove
                groove_bar = {d: s for d, s in count_in[cycle].items() if d in CYMBALS}
            else:
                continue
        elif role.breakdown:  # the drums down to the cymbals until the build
            groove_bar = {d: s for d, s in light[cycle].items() if d in CYMBALS}
        else:
            groove_bar = dict((light if role.level == VERSE else full)[cycle])
        if build_pattern is not None and role.build and not sparse:
            for drum, steps in build_pattern.items():
                for s, mark in enumerate(steps):
                    if mark != ".":  # a roll that swells into the drop
                        hit(b, s, drum, 0.5 + 0.4 * s / steps_per_bar)
            continue
        use_fill = not sparse and b in fill_bars and role.level >= VERSE
        lifted = role.level >= CHORUS and not sparse
        if lifted and role.turnaround and not use_fill and "hat" in groove_bar:
            groove_bar = _open_hat_on_last_offbeat(groove_bar, steps_per_bar)
        if role.answer and not sparse and "kick" in groove_bar and not use_fill and spec.get("answer_kick", True):
            kick = list(groove_bar["kick"])
            kick[steps_per_bar - 2] = "x"  # the second bar answers: a kick on the last off-beat
            groove_bar["kick"] = "".join(kick)
        for drum, steps in groove_bar.items():
            for s, mark in enumerate(steps):
                if mark == "." or (use_fill and _fill_covers(fill_pattern, s)):
                    continue
                base = GHOST_LEVEL if mark == "o" else (ON_BEAT_LEVEL if s % STEPS_PER_BEAT == 0 else OFF_BEAT_LEVEL)
                hit(b, s, drum, base, accent=0.06 if s == 0 and role.bar_in_phrase == 0 else 0.0)
        if use_fill:
            for drum, steps in fill_pattern.items():
                for s, mark in enumerate(steps):
                    if mark != ".":
                        hit(b, s, drum, 0.7, accent=0.05)
        phrase_start = role.bar_in_phrase == 0 and role.level == LAST_CHORUS
        if role.section_start or phrase_start or (b > 0 and ctx.role(b - 1).stop):
            hit(b, 0, "crash", 0.65 if role.level < CHORUS else 0.78, length=1.5)
    return tuple(sorted(notes, key=lambda n: (n.start_seconds, n.pitch_midi)))


def _open_hat_on_last_offbeat(groove_bar: dict, steps_per_bar: int) -> dict:
    """The phrase's last bar opens the hat on its last off-beat eighth."""
    out = dict(groove_bar)
    step = steps_per_bar - 2
    hat = list(out["hat"])
    if hat[step] == ".":
        return out
    hat[step] = "."
    out["hat"] = "".join(hat)
    open_hat = list(out.get("open_hat", "." * steps_per_bar))
    open_hat[step] = "x"
    out["open_hat"] = "".join(open_hat)
    return out


def _bar_grooves(table: dict, beats_per_bar: int) -> list[dict]:
    """The groove of each bar, taken in turn. A groove written only for four beats
    spans two bars of 2/4 (its halves in turn), so what it plays on beat 3 (a
    half-time backbeat, a reggae drop) still sounds; otherwise one pattern a bar."""
    source = table.get("4")
    if beats_per_bar == 2 and "2" not in table and isinstance(source, dict):
        steps = 2 * STEPS_PER_BEAT
        return [{drum: s[k * steps : (k + 1) * steps] for drum, s in source.items() if s} for k in (0, 1)]
    return [for_meter(table, beats_per_bar)]


def _fill_covers(fill: dict, step: int) -> bool:
    """The fill replaces the groove from its first hit to the end of the bar."""
    first = min(s.find("x") for s in fill.values() if "x" in s)
    return step >= first
