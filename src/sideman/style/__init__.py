"""style: tags and negative tags -> StyleSpec (the band, the groove, the feel).

The vocabulary is data (vocabulary.json). Tags are matched by name, alias, plural and
close misspelling; multi-word tags that match nothing whole are read word by word.
Tags that match nothing are kept in `unmatched_tags` so the brief can say so.

Negative tags, and what each form means:
- an instrument ("piano", "saxophone"): that instrument never sounds; its role falls
  back to the genre's alternate instrument, or is dropped.
- "drums" / "percussion" (any drum-kit alias): no drum part at all.
- a genre ("heavy metal"): never chosen as the genre, and its signature instruments
  (the ones in its band) never sound.
- "fast|busy|dense|heavy <role>" ("fast drums", "busy bass"): that role keeps to its
  sparse patterns (no eighth-note or faster subdivisions, no fills).
- a mood or texture word ("energetic"): pushes energy and density the other way.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

__all__ = ["PartChoice", "StyleSpec", "parse_tags", "style_from_tags", "vocabulary"]

_DENSITY_WORDS = ("fast", "busy", "dense", "heavy", "loud", "quick")
#: negative words that name a whole family of instruments: "no guitar" means no guitar at all
_ROLE_WORDS = {
    "guitar": "guitar", "guitars": "guitar", "bass": "bass", "basses": "bass", "drums": "drums",
    "drum": "drums", "percussion": "drums", "beat": "drums", "beats": "drums", "strings": "strings",
    "string": "strings", "pad": "pad", "pads": "pad", "keys": "keys", "keyboards": "keys",
}  # fmt: skip


@dataclass(frozen=True)
class PartChoice:
    """One instrument of the band: its role, GM program and name."""

    role: str
    instrument: str
    program: int
    is_drum: bool = False


@dataclass(frozen=True)
class StyleSpec:
    """What the tags ask of the band. energy and density are 0..1."""

    genre: str
    parts: tuple[PartChoice, ...]
    groove: str
    bass_pattern: str
    harmony_pattern: str
    feel: str = "straight"  # or "swing"
    energy: float = 0.5
    density: float = 0.5
    extensions: bool = False
    intro_bars: int = 1
    moods: tuple[str, ...] = ()
    alternates: dict[str, PartChoice] = field(default_factory=dict)
    sparse_roles: frozenset[str] = frozenset()
    excluded_instruments: frozenset[str] = frozenset()
    excluded_genres: frozenset[str] = frozenset()
    matched_tags: tuple[str, ...] = ()
    unmatched_tags: tuple[str, ...] = ()
    unmatched_negative_tags: tuple[str, ...] = ()

    def part(self, role: str) -> PartChoice | None:
        return next((p for p in self.parts if p.role == role), None)


@lru_cache(maxsize=1)
def vocabulary() -> dict:
    text = resources.files("sideman.style").joinpath("vocabulary.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, tuple[str, str]]:
    """surface form -> (kind, canonical name), kind in genre|instrument|mood."""
    vocab = vocabulary()
    lexicon: dict[str, tuple[str, str]] = {}
    for kind, table in (("instrument", vocab["instruments"]), ("mood", vocab["moods"]), ("genre", vocab["genres"])):
        for name, entry in table.items():
            for form in (name, *entry.get("aliases", [])):
                lexicon[_normal(form)] = (kind, name)
    return lexicon


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9&+#]+", " ", text.lower()).strip()


def split_tags(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,;/|\n]+", text or "") if t.strip()]


def _lookup(phrase: str) -> tuple[str, str] | None:
    lexicon = _lexicon()
    form = _normal(phrase)
    if not form:
        return None
    if form in lexicon:
        return lexicon[form]
    for singular in (form[:-1] if form.endswith("s") else None, form[:-2] if form.endswith("es") else None):
        if singular and singular in lexicon:
            return lexicon[singular]
    if len(form) >= 4:
        close = difflib.get_close_matches(form, list(lexicon), n=1, cutoff=0.84)
        if close:
            return lexicon[close[0]]
    return None


def parse_tags(text: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Tags -> ([(tag, kind, canonical)], [unmatched tags]). A tag that does not match
    whole is read as its longest matching word groups ("relaxing piano" -> mood +
    instrument)."""
    found: list[tuple[str, str, str]] = []
    unmatched: list[str] = []
    for tag in split_tags(text):
        hit = _lookup(tag)
        if hit:
            found.append((tag, *hit))
            continue
        words = _normal(tag).split()
        i, parts, leftover = 0, [], []
        while i < len(words):
            for j in range(len(words), i, -1):
                hit = _lookup(" ".join(words[i:j]))
                if hit:
                    parts.append((" ".join(words[i:j]), *hit))
                    i = j
                    break
            else:
                leftover.append(words[i])
                i += 1
        found.extend(parts)
        if not parts:
            unmatched.append(tag)
        elif leftover:
            unmatched.append(" ".join(leftover))  # the words of the tag that matched nothing
    return found, unmatched


def _choice(role: str, instrument: str) -> PartChoice:
    entry = vocabulary()["instruments"][instrument]
    return PartChoice(role, instrument, int(entry["program"]), bool(entry.get("drum", False)))


def style_from_tags(tags: str, negative_tags: str = "", *, style_weight: float = 0.5) -> StyleSpec:
    """Read the tags into a StyleSpec. style_weight (0..1) scales how far the moods move
    energy and density away from the genre's own."""
    vocab = vocabulary()
    found, unmatched = parse_tags(tags)
    negative_found, negative_unmatched = _parse_negative(negative_tags)
    excluded_genres = {name for kind, name, _ in negative_found if kind == "genre"}
    excluded_instruments = {name for kind, name, _ in negative_found if kind == "instrument"}
    sparse_roles = {name for kind, name, _ in negative_found if kind == "sparse"}
    no_drums = "standard kit" in excluded_instruments
    for genre in excluded_genres:  # an excluded genre's signature instruments never sound
        excluded_instruments |= _signature_instruments(genre)

    genres = [name for _, kind, name in found if kind == "genre" and name not in excluded_genres]
    genre = genres[0] if genres else _fallback_genre(excluded_genres)
    g = vocab["genres"][genre]
    parts = {role: _choice(role, inst) for role, inst in g["parts"].items()}
    alternates = {role: _choice(role, inst) for role, inst in g.get("alternates", {}).items()}

    # instruments named in the tags join the band (or take their role's seat)
    for _, kind, name in found:
        if kind != "instrument" or name in excluded_instruments:
            continue
        entry = vocab["instruments"][name]
        role = entry["role"]
        if role == "drums" and name == "standard kit":
            continue  # "drums" asks for drums, which the genre already has
        if role in parts and role in ("keys", "guitar") and parts[role].instrument != name:
            # a named harmony instrument leads; the genre's own becomes the alternate
            alternates.setdefault(role, parts[role])
        parts[role] = _choice(role, name)

    # negative tags remove instruments (falling back to the alternate) and whole roles
    for role in list(parts):
        if parts[role].instrument in excluded_instruments:
            alt = alternates.get(role)
            if alt and alt.instrument not in excluded_instruments:
                parts[role] = alt
            else:
                del parts[role]
    alternates = {r: a for r, a in alternates.items() if a.instrument not in excluded_instruments}
    if no_drums:
        parts.pop("drums", None)
        excluded_instruments |= {n for n, e in vocab["instruments"].items() if e.get("drum")}

    moods = tuple(dict.fromkeys(name for _, kind, name in found if kind == "mood"))
    energy, density = float(g["energy"]), float(g["energy"])
    for mood in moods:
        energy += style_weight * 2 * vocab["moods"][mood]["energy"]
        density += style_weight * 2 * vocab["moods"][mood]["density"]
    for _, kind, name in negative_found:
        if kind == "mood":
            energy -= 0.5 * vocab["moods"][name]["energy"]
            density -= 0.5 * vocab["moods"][name]["density"]
    if "drums" in sparse_roles:
        density = min(density, 0.45)
    return StyleSpec(
        genre=genre,
        parts=tuple(parts[r] for r in ("drums", "bass", "keys", "guitar", "strings", "pad") if r in parts),
        groove=g["groove"],
        bass_pattern=g["bass_pattern"],
        harmony_pattern=g["harmony_pattern"],
        feel=g.get("feel", "straight"),
        energy=float(min(max(energy, 0.05), 1.0)),
        density=float(min(max(density, 0.05), 1.0)),
        extensions=bool(g.get("extensions", False)),
        intro_bars=int(g.get("intro_bars", 1)),
        moods=moods,
        alternates=alternates,
        sparse_roles=frozenset(sparse_roles),
        excluded_instruments=frozenset(excluded_instruments),
        excluded_genres=frozenset(excluded_genres),
        matched_tags=tuple(tag for tag, _, _ in found),
        unmatched_tags=tuple(unmatched),
        unmatched_negative_tags=tuple(negative_unmatched),
    )


def _parse_negative(text: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Negative tags -> [(kind, name, tag)], kind in genre|instrument|mood|sparse."""
    out: list[tuple[str, str, str]] = []
    unmatched: list[str] = []
    for tag in split_tags(text):
        words = _normal(tag).split()
        if _normal(tag) in _ROLE_WORDS:
            role = _ROLE_WORDS[_normal(tag)]
            out.extend(
                ("instrument", name, tag)
                for name, entry in vocabulary()["instruments"].items()
                if entry["role"] == role
            )
            continue
        if len(words) >= 2 and words[0] in _DENSITY_WORDS:
            hit = _lookup(" ".join(words[1:]))
            if hit and hit[0] == "instrument":
                out.append(("sparse", vocabulary()["instruments"][hit[1]]["role"], tag))
                continue
        hit = _lookup(tag)
        if hit:
            out.append((hit[0], hit[1], tag))
            continue
        found, missing = parse_tags(tag)
        if found and not missing:
            out.extend((kind, name, t) for t, kind, name in found)
        else:
            unmatched.append(tag)
    return out, unmatched


def _signature_instruments(genre: str) -> set[str]:
    """Instruments of a genre's band that no other genre's band uses."""
    genres = vocabulary()["genres"]
    own = set(genres[genre]["parts"].values()) | set(genres[genre].get("alternates", {}).values())
    others: set[str] = set()
    for name, g in genres.items():
        if name != genre:
            others |= set(g["parts"].values()) | set(g.get("alternates", {}).values())
    return own - others


def _fallback_genre(excluded: set[str]) -> str:
    default = vocabulary()["default_genre"]
    if default not in excluded:
        return default
    return next(g for g in vocabulary()["genres"] if g not in excluded)
