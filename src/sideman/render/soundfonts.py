"""Which SoundFont renders the stems: the configured one, else the best one installed.

Order of search (`find_soundfont`):

1. the path configured by the operator (an error if it does not exist);
2. ``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (Debian ``fluid-soundfont-gm``, MIT);
3. ``TimGM6mb.sf2``, the small GM font pretty_midi ships inside its package (GPL-2.0).

Acoustic drum kits come from their own fonts where installed (`DRUM_KITS`): the AVL
Drumkits of Debian ``avldrums.lv2-soundfont`` (Black Pearl and Red Zeppelin, CC-BY-SA-3.0,
sampled with real velocity layers on the GM drum map), about 45 MB more in memory. The
GM standard, room and power kits play Black Pearl, the jazz kit Red Zeppelin; the
electronic, 808 and brush kits stay on the GM font. Without the package every kit plays
from the GM font, and `find_soundfont` logs that once.

MuseScore General (Debian ``musescore-general-soundfont*``) sounds better but is never
picked on its own: measured, it takes ~1.4 GB resident in tinysoundfont (which decodes
every sample to float32 when it loads a font) against ~440 MB for FluidR3_GM; the
process loads one copy (see synth.py) and the whole of it must stay under 1.5 GB on an
eight-minute input. Configure it explicitly where memory allows.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from sideman.errors import SidemanError

__all__ = ["CANDIDATES", "DRUM_KITS", "DrumKit", "SoundFont", "SoundFontNotFound", "find_soundfont",
           "installed_drum_kits"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DrumKit:
    """A one-kit SoundFont (its kit is preset 0 of bank 0) that plays the GM drum
    programs in `programs` instead of the GM font's kits."""

    path: Path
    name: str
    license: str
    programs: frozenset[int]


@dataclass(frozen=True, slots=True)
class SoundFont:
    """A General MIDI SoundFont file on disk, and the sampled drum kits that play
    beside it.

    path: the .sf2/.sf3 file; name: a short display name (the file stem for a
    configured font); license: its SPDX-style license, ``"unknown"`` when not known;
    drum_kits: kit fonts that replace some of its drum programs (installed ones).
    """

    path: Path
    name: str
    license: str
    drum_kits: tuple[DrumKit, ...] = ()

    def drum_kit_for(self, program: int) -> DrumKit | None:
        """The kit font that plays GM drum program `program`, or None (the GM font)."""
        return next((k for k in self.drum_kits if program in k.programs), None)

    def credits(self) -> dict[str, object]:
        """What rendered, with licences, for the manifest."""
        entry: dict[str, object] = {"name": self.name, "path": str(self.path), "license": self.license}
        if self.drum_kits:
            entry["drum_kits"] = [{"name": k.name, "path": str(k.path), "license": k.license,
                                   "gm_programs": sorted(k.programs)} for k in self.drum_kits]
        return entry


class SoundFontNotFound(SidemanError):
    """No usable SoundFont: the configured file is missing, or none is installed.

    A server configuration problem, not the caller's fault (HTTP 500).
    """

    def __init__(self, message: str, *, searched: tuple[Path, ...]) -> None:
        self.searched = searched
        super().__init__(message)


def _pretty_midi_font() -> Path | None:
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def _default_candidates() -> tuple[SoundFont, ...]:
    candidates = [SoundFont(Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "FluidR3_GM", "MIT")]
    tim = _pretty_midi_font()
    if tim is not None:
        candidates.append(SoundFont(tim, "TimGM6mb", "GPL-2.0"))
    return tuple(candidates)


#: the fonts tried, in order, when none is configured (tests may replace this)
CANDIDATES: tuple[SoundFont, ...] = _default_candidates()

_AVL = Path("/usr/share/sounds/sf2")
#: acoustic kits played from their own fonts where installed (tests may replace this):
#: GM 0 standard, 8 room, 16 power -> Black Pearl (a modern rock/pop kit); 32 jazz ->
#: Red Zeppelin (a vintage kit)
DRUM_KITS: tuple[DrumKit, ...] = (
    DrumKit(_AVL / "Black_Pearl_4_LV2.sf2", "AVL Drumkits Black Pearl", "CC-BY-SA-3.0", frozenset({0, 8, 16})),
    DrumKit(_AVL / "Red_Zeppelin_4_LV2.sf2", "AVL Drumkits Red Zeppelin", "CC-BY-SA-3.0", frozenset({32})),
)
_told_no_kits = False


def installed_drum_kits() -> tuple[DrumKit, ...]:
    """The `DRUM_KITS` present on this machine (logs once when none is)."""
    global _told_no_kits
    kits = tuple(k for k in DRUM_KITS if k.path.is_file())
    if not kits and not _told_no_kits:
        _told_no_kits = True
        logger.warning("no sampled drum kits installed (Debian: avldrums.lv2-soundfont); "
                       "the drums play from the General MIDI font")
    return kits

#: licenses of fonts we know by file stem, for a configured path
_KNOWN_LICENSES = {
    "fluidr3_gm": "MIT",
    "fluidr3_gs": "MIT",
    "timgm6mb": "GPL-2.0",
    "musescore_general": "MIT",
    "musescore_general_full": "MIT",
    "musescore_general_hq": "MIT",
}


def find_soundfont(configured: Path | None = None) -> SoundFont:
    """The SoundFont to render with.

    Parameters
    ----------
    configured : the operator's choice (``Settings``); ``None`` to search `CANDIDATES`.

    Returns
    -------
    SoundFont with the resolved path, a display name and the license.

    Raises
    ------
    SoundFontNotFound
        if `configured` is given but is not a file, or if no candidate exists.

    Examples
    --------
    >>> font = find_soundfont()
    >>> font.path.suffix
    '.sf2'
    """
    if configured is not None:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise SoundFontNotFound(
                f"the configured SoundFont {str(path)!r} does not exist or is not a file",
                searched=(path,),
            )
        license_ = _KNOWN_LICENSES.get(path.stem.lower(), "unknown")
        return SoundFont(path.resolve(), path.stem, license_, installed_drum_kits())
    for candidate in CANDIDATES:
        if candidate.path.is_file():
            logger.debug("using SoundFont %s (%s)", candidate.path, candidate.license)
            return replace(candidate, drum_kits=installed_drum_kits())
    searched = tuple(c.path for c in CANDIDATES)
    raise SoundFontNotFound(
        "no SoundFont found; install fluid-soundfont-gm or configure a .sf2 path "
        f"(searched: {', '.join(str(p) for p in searched)})",
        searched=searched,
    )
