"""Which SoundFont renders the stems: the configured one, else the best one installed.

Order of search (`find_soundfont`):

1. the path configured by the operator (an error if it does not exist);
2. ``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (Debian ``fluid-soundfont-gm``, MIT);
3. ``TimGM6mb.sf2``, the small GM font pretty_midi ships inside its package (GPL-2.0).

MuseScore General (Debian ``musescore-general-soundfont*``) sounds better but is never
picked on its own: measured, it takes ~1.4 GB resident in tinysoundfont (which decodes
every sample to float32 when it loads a font) against ~440 MB for FluidR3_GM; the
process loads one copy (see synth.py) and the whole of it must stay under 1.5 GB on an
eight-minute input. Configure it explicitly where memory allows.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from sideman.errors import SidemanError

__all__ = ["CANDIDATES", "SoundFont", "SoundFontNotFound", "find_soundfont"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SoundFont:
    """A General MIDI SoundFont file on disk.

    path: the .sf2/.sf3 file; name: a short display name (the file stem for a
    configured font); license: its SPDX-style license, ``"unknown"`` when not known.
    """

    path: Path
    name: str
    license: str


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
        return SoundFont(path.resolve(), path.stem, license_)
    for candidate in CANDIDATES:
        if candidate.path.is_file():
            logger.debug("using SoundFont %s (%s)", candidate.path, candidate.license)
            return candidate
    searched = tuple(c.path for c in CANDIDATES)
    raise SoundFontNotFound(
        "no SoundFont found; install fluid-soundfont-gm or configure a .sf2 path "
        f"(searched: {', '.join(str(p) for p in searched)})",
        searched=searched,
    )
