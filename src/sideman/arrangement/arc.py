"""The song's form and energy arc: what each bar of the band is for.

From the analysed sections: a sparse intro that builds into the voice, a lighter first
verse, a lift into the chorus (fuller groove, more parts), a last-chorus lift where the
song is long enough (and before it, in a long song, a breakdown: the drums down to the
cymbals, the bass holding roots), and an ending that lands (a fill into one closing hit). Inside each section the parts vary the
way players do, by position, never at random: the second bar of each two answers the
first, the fourth bar of each four turns around, the last bar of a section before a
rest in the voice drops out and lets the drums fill.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sideman.arrangement.form import Form
from sideman.music import Note, Section

#: arc levels: the intro and the closing bar, a verse, a chorus, the last chorus
INTRO, VERSE, CHORUS, LAST_CHORUS = 0, 1, 2, 3
#: energy added to each bar's 0..1 energy at each level (the velocities follow it)
LEVEL_ENERGY = {INTRO: -0.15, VERSE: -0.14, CHORUS: 0.1, LAST_CHORUS: 0.18}
#: energy added to the first bar of a four-bar phrase (the player leans into it)
PHRASE_ACCENT = 0.04
#: a sung stretch this long (bars) and all of one section is split into verse and chorus
SPLIT_MIN_BARS = 8
#: a section shorter than this (bars) joins the one before it
MIN_SECTION_BARS = 2
#: songs with this many sung bars and three sections or more get a last-chorus lift
LAST_CHORUS_MIN_BARS = 16
#: songs with this many sung bars and four sections or more break down before the last chorus
BREAKDOWN_MIN_BARS = 24


@dataclass(frozen=True)
class BarRole:
    """What one bar of the form is for.

    section: "intro", "verse", "chorus", "breakdown", "last chorus" or "outro".
    level: INTRO (0) .. LAST_CHORUS (3); the parts thin out below CHORUS.
    bar_in_phrase: 0..3, counted from the start of the section in four-bar phrases.
    section_start / section_end: the first / last sung bar of a section.
    phrase_end: the last bar of an eight-bar phrase or of a section.
    build: the last bar before the level rises (a pre-chorus build).
    rest: the voice rests through the bar's last beat (room for a fill or a drop-out).
    varies: the parts may answer and turn around (not in a compound meter, whose
        eighths the answers' straight sixteenths would miss).
    """

    section: str
    level: int
    bar_in_phrase: int = 0
    section_start: bool = False
    section_end: bool = False
    phrase_end: bool = False
    build: bool = False
    rest: bool = False
    varies: bool = True

    @property
    def breakdown(self) -> bool:
        return self.section == "breakdown"

    @property
    def answer(self) -> bool:
        """The second bar of a two-bar unit: the part answers the first."""
        return self.varies and self.level >= VERSE and self.bar_in_phrase % 2 == 1

    @property
    def turnaround(self) -> bool:
        """The fourth bar of a phrase: the part turns around into the next one."""
        return self.varies and self.level >= VERSE and self.bar_in_phrase == 3

    @property
    def stop(self) -> bool:
        """The band drops out after the downbeat and the drums fill (a section ends
        while the voice rests)."""
        return self.section_end and self.rest


def plan_arc(form: Form, *, sections: tuple[Section, ...], melody: tuple[Note, ...]) -> tuple[BarRole, ...]:
    """One BarRole per bar of `form` (see the module docstring)."""
    n = len(form.bars)
    sung = list(range(form.intro_bars, n - form.outro_bars))
    blocks = _blocks(form, sections, sung)
    levels = _levels(blocks, len(sung))
    lifted = sum(b - a + 1 for (a, b), level in zip(blocks, levels, strict=True) if level >= CHORUS)
    if len(sung) >= SPLIT_MIN_BARS and lifted < len(sung) / 4:
        blocks, levels = _lift_the_longest(blocks, levels)
    names = [_NAMES[level] for level in levels]
    if len(sung) >= BREAKDOWN_MIN_BARS and len(blocks) >= 4 and LAST_CHORUS in levels:
        before = levels.index(LAST_CHORUS) - 1
        if before >= 2 and levels[before] == VERSE:
            names[before] = "breakdown"
    beat = 60.0 / form.grid.tempo_bpm
    roles: list[BarRole] = [BarRole("intro", INTRO, bar_in_phrase=(i - form.intro_bars) % 4)
                            for i in range(form.intro_bars)]
    for k, ((first, last), level, name) in enumerate(zip(blocks, levels, names, strict=True)):
        rising = k + 1 < len(levels) and levels[k + 1] > level
        for b in range(first, last + 1):
            offset = b - first
            end = b == last and b != sung[-1]
            roles.append(BarRole(
                section=name, level=level, bar_in_phrase=offset % 4,
                section_start=offset == 0, section_end=end,
                # a fill ends each eight-bar phrase and section, and leads into the closing hit
                phrase_end=end or b == sung[-1] or offset % 8 == 7,
                build=end and rising,
                rest=_rests_through_end(form.bars[b][1], beat, melody),
                varies=form.grid.beat_unit != 8,
            ))
    roles += [BarRole("outro", INTRO) for _ in range(n - len(roles))]
    return tuple(roles)


def arc_energy(roles: tuple[BarRole, ...]) -> np.ndarray:
    """Energy offset per bar: the level's, a lean into each phrase, a crescendo in a build."""
    out = []
    for role in roles:
        value = LEVEL_ENERGY[role.level]
        value += PHRASE_ACCENT if role.level >= VERSE and role.bar_in_phrase == 0 else 0.0
        value += 0.06 if role.build else 0.0
        out.append(value)
    return np.array(out)


def arranged_sections(form: Form, roles: tuple[BarRole, ...]) -> tuple[Section, ...]:
    """The sections as the band plays them (intro, verse, chorus, ..., outro), on the bars."""
    out: list[Section] = []
    for (a, b), role in zip(form.bars, roles, strict=True):
        if out and out[-1].label == role.section and not role.section_start:
            out[-1] = Section(out[-1].start_seconds, b, role.section)
        else:
            out.append(Section(a, b, role.section))
    return tuple(out)


_NAMES = {INTRO: "intro", VERSE: "verse", CHORUS: "chorus", LAST_CHORUS: "last chorus"}


def _blocks(form: Form, sections: tuple[Section, ...], sung: list[int]) -> list[tuple[int, int]]:
    """(first bar, last bar) of each sung section on the form's bars; short sections
    join the one before, one long section splits at the four-bar phrase nearest its middle."""
    if not sung:
        return []
    starts = {sung[0]}
    for section in sections:
        bar = _bar_at(form, section.start_seconds)
        if sung[0] < bar <= sung[-1]:
            starts.add(bar)
    ordered = sorted(starts)
    blocks = [(a, b - 1) for a, b in zip(ordered, [*ordered[1:], sung[-1] + 1], strict=True)]
    merged: list[tuple[int, int]] = []
    for a, b in blocks:
        if merged and b - a + 1 < MIN_SECTION_BARS:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    if len(merged) > 1 and merged[0][1] - merged[0][0] + 1 < MIN_SECTION_BARS:
        merged[0:2] = [(merged[0][0], merged[1][1])]
    if len(merged) == 1 and len(sung) >= SPLIT_MIN_BARS:
        half = max(4, int(round(len(sung) / 8.0)) * 4)
        half = min(half, len(sung) - 4)
        merged = [(sung[0], sung[0] + half - 1), (sung[0] + half, sung[-1])]
    return merged


def _levels(blocks: list[tuple[int, int]], sung_bars: int) -> list[int]:
    """Verse, chorus, verse, chorus...; a last section of four bars or fewer never drops
    below the one before it (it tags it);
    the last chorus of a long song lifts."""
    if not blocks:
        return []
    if len(blocks) == 1:
        return [CHORUS]
    levels = [VERSE if i % 2 == 0 else CHORUS for i in range(len(blocks))]
    last = blocks[-1]
    if last[1] - last[0] + 1 <= 4:  # a short last section never drops below the one before
        levels[-1] = max(levels[-1], levels[-2])
    if sung_bars >= LAST_CHORUS_MIN_BARS and len(blocks) >= 3:
        final = max(i for i, level in enumerate(levels) if level == CHORUS)
        for i in range(final, len(levels)):
            if levels[i] == CHORUS:
                levels[i] = LAST_CHORUS
    return levels


def _lift_the_longest(blocks: list[tuple[int, int]], levels: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """A song heard (almost) as verses only: its longest verse splits at the four-bar
    phrase nearest its middle, and the second half (with any short tail after it) is a chorus."""
    verses = [i for i, level in enumerate(levels) if level == VERSE]
    if not verses:
        return blocks, levels
    k = max(verses, key=lambda i: blocks[i][1] - blocks[i][0])
    first, last = blocks[k]
    length = last - first + 1
    if length < SPLIT_MIN_BARS:
        return blocks, levels
    half = min(max(4, int(round(length / 8.0)) * 4), length - 4)
    blocks = [*blocks[:k], (first, first + half - 1), (first + half, last), *blocks[k + 1 :]]
    levels = [*levels[:k], VERSE, CHORUS, *levels[k + 1 :]]
    for i in range(k + 2, len(blocks)):
        if blocks[i][1] - blocks[i][0] + 1 < 4:
            levels[i] = CHORUS
    return blocks, levels


def _bar_at(form: Form, time_seconds: float) -> int:
    """The bar nearest to a time (a section cut lands on a downbeat, give or take)."""
    starts = np.array([a for a, _ in form.bars])
    return int(np.argmin(np.abs(starts - time_seconds)))


def _rests_through_end(bar_end: float, beat: float, melody: tuple[Note, ...]) -> bool:
    """No sung note sounds in the bar's last beat."""
    a, b = bar_end - beat + 0.05 * beat, bar_end - 0.02
    return not any(n.start_seconds < b and n.end_seconds > a for n in melody)
