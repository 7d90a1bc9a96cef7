"""style: tags and negative tags -> StyleSpec (the band, the groove, the feel).

The vocabulary is data (vocabulary.json). Tags are matched by name, alias, plural and
close misspelling; multi-word tags that match nothing whole are read word by word.
Tags that match nothing are kept in `unmatched_tags` so the brief can say so.

Negative tags, and what each form means:
- an instrument ("piano", "saxophone"): that instrument never sounds; its role falls
  back to the genre's alternate instrument, or is dropped.
- a family word ("guitar", "drums", "strings", "synths", "arpeggiator", "backing
  vocals"...): every instrument of that family stays silent; "drums" means no drum part,
  "strings" every bowed string (the contrabass and the violin too).
- a genre ("heavy metal"): never chosen as the genre, and its signature never sounds:
  the instruments only its band uses, and the patterns and feel its `signature` names
  (no walking bass without jazz, no skank without reggae).
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
    "arpeggiator": "arp", "arp": "arp", "arps": "arp", "arpeggios": "arp", "backing vocals": "vocals",
    "vocals": "vocals", "choirs": "vocals", "brass": "brass", "horns": "brass", "lead": "lead",
}  # fmt: skip
#: negative words that name a family across roles
_FAMILY_WORDS = {
    "synth": ("synth pad", "saw lead", "square lead", "synth bass", "synth brass"),
    "synths": ("synth pad", "saw lead", "square lead", "synth bass", "synth brass"),
    "electronic": ("synth pad", "saw lead", "square lead", "synth bass", "synth brass", "electronic kit"),
}


@dataclass(frozen=True)
class PartChoice:
    """One instrument of the band: its role, GM program and name."""

    role: str
    instrument: str
    program: int
    is_drum: bool = False
    pattern: str | None = None  # colour parts: a pattern of patterns.json "colour"


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
    excluded_elements: frozenset[str] = frozenset()  # patterns and feels of excluded genres
    matched_tags: tuple[str, ...] = ()
    unmatched_tags: tuple[str, ...] = ()
    unmatched_negative_tags: tuple[str, ...] = ()
    tagged_roles: frozenset[str] = frozenset()  # roles whose instrument the tags named (both takes keep it)

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


def _choice(role: str, instrument: str, pattern: str | None = None) -> PartChoice:
    entry = vocabulary()["instruments"][instrument]
    return PartChoice(role, instrument, int(entry["program"]), bool(entry.get("drum", False)), pattern)


#: the order parts are listed (and mixed) in
ROLE_ORDER = ("drums", "bass", "keys", "guitar", "strings", "pad", "brass", "arp", "lead", "swells", "vocals")
#: core roles keep a player when their instrument is excluded: the first allowed of these
_ROLE_FALLBACK = {
    "drums": ("standard kit",),
    "bass": ("electric bass", "acoustic bass", "synth bass"),
    "keys": ("piano", "electric piano", "organ"),
    "guitar": ("acoustic guitar", "electric guitar", "nylon guitar"),
}
#: what an excluded pattern falls back to
_FALLBACK = {
    "groove": ("pop", "ballad", "folk", "none"),
    "bass_pattern": ("root_fifth", "root_whole"),
    "harmony_pattern": ("pop_comp", "sustained", "arpeggio"),
}


def style_from_tags(tags: str, negative_tags: str = "", *, style_weight: float = 0.5) -> StyleSpec:
    """Read the tags into a StyleSpec. style_weight (0..1) scales how far the moods move
    energy and density away from the genre's own."""
    vocab = vocabulary()
    found, unmatched = parse_tags(tags)
    negative_found, negative_unmatched = _parse_negative(negative_tags)
    excluded_genres = {name for kind, name, _ in negative_found if kind == "genre"}
    excluded_instruments = {name for kind, name, _ in negative_found if kind == "instrument"}
    sparse_roles = {name for kind, name, _ in negative_found if kind == "sparse"}
    excluded_elements: set[str] = set()
    for genre in excluded_genres:  # an excluded genre's signature never sounds
        signature = set(vocab["genres"][genre].get("signature", ()))
        excluded_instruments |= _signature_instruments(genre) | (signature & set(vocab["instruments"]))
        excluded_elements |= signature - set(vocab["instruments"])
    no_drums = "standard kit" in excluded_instruments

    genres = [name for _, kind, name in found if kind == "genre" and name not in excluded_genres]
    genre = genres[0] if genres else _fallback_genre(excluded_genres)
    g = vocab["genres"][genre]
    parts = {role: _choice(role, inst, _default_colour_pattern(role)) for role, inst in g["parts"].items()}
    alternates = {role: _choice(role, inst) for role, inst in g.get("alternates", {}).items()}
    for colour in g.get("colour", ()):
        parts.setdefault(colour["role"], _choice(colour["role"], colour["instrument"], colour["pattern"]))
    for role, pattern in g.get("part_patterns", {}).items():  # a part the genre plays its own way
        if role in parts:
            parts[role] = _choice(role, parts[role].instrument, pattern)
    tagged_roles: set[str] = set()

    # instruments named in the tags join the band (or take their role's seat)
    for tag, kind, name in found:
        if kind != "instrument" or name in excluded_instruments:
            continue
        entry = vocab["instruments"][name]
        role = entry["role"]
        if role == "drums" and name == "standard kit":
            continue  # "drums" asks for drums, which the genre already has
        if role in parts and parts[role].instrument in entry.get("generic_for", ()) and _normal(tag) in entry.get("generic_words", ()):
            tagged_roles.add(role)  # "electric guitar" in a rock band: the band's own (overdriven) electric
            continue
        if role in parts and parts[role].instrument != name:
            alternates.setdefault(role, parts[role])  # the genre's own becomes the alternate
        pattern = _default_colour_pattern(role)
        parts[role] = _choice(role, name, parts[role].pattern if role in parts else pattern)
        tagged_roles.add(role)

    # negative tags remove instruments (falling back to the alternate) and whole roles
    for role in list(parts):
        if parts[role].instrument in excluded_instruments or (parts[role].pattern in excluded_elements):
            alt = alternates.get(role)
            if alt and alt.instrument not in excluded_instruments:
                parts[role] = _choice(role, alt.instrument, parts[role].pattern)
            elif fallback := next((i for i in _ROLE_FALLBACK.get(role, ()) if i not in excluded_instruments), None):
                parts[role] = _choice(role, fallback, parts[role].pattern)  # the band keeps its core
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
    chosen = {key: _allowed(g[key], key, excluded_elements) for key in _FALLBACK}
    feel = g.get("feel", "straight")
    if feel == "swing" and "swing feel" in excluded_elements:
        feel = "straight"
    return StyleSpec(
        genre=genre,
        parts=tuple(parts[r] for r in ROLE_ORDER if r in parts),
        groove=chosen["groove"],
        bass_pattern=chosen["bass_pattern"],
        harmony_pattern=chosen["harmony_pattern"],
        feel=feel,
        energy=float(min(max(energy, 0.05), 1.0)),
        density=float(min(max(density, 0.05), 1.0)),
        extensions=bool(g.get("extensions", False)),
        intro_bars=int(g.get("intro_bars", 1)),
        moods=moods,
        alternates=alternates,
        sparse_roles=frozenset(sparse_roles),
        excluded_instruments=frozenset(excluded_instruments),
        excluded_genres=frozenset(excluded_genres),
        excluded_elements=frozenset(excluded_elements),
        matched_tags=tuple(tag for tag, _, _ in found),
        unmatched_tags=tuple(unmatched),
        unmatched_negative_tags=tuple(negative_unmatched),
        tagged_roles=frozenset(r for r in tagged_roles if r in parts and parts[r].instrument not in excluded_instruments),
    )


def _allowed(value: str, key: str, excluded: set[str]) -> str:
    if value not in excluded:
        return value
    return next((v for v in _FALLBACK[key] if v not in excluded), _FALLBACK[key][-1])


def _default_colour_pattern(role: str) -> str | None:
    """The pattern a colour role plays when a tag brings it in."""
    return {"arp": "arp_eighths", "brass": "stabs", "lead": "answers", "swells": "swell", "vocals": "oohs"}.get(role)


def _parse_negative(text: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Negative tags -> [(kind, name, tag)], kind in genre|instrument|mood|sparse."""
    out: list[tuple[str, str, str]] = []
    unmatched: list[str] = []
    for tag in split_tags(text):
        words = _normal(tag).split()
        if _normal(tag) in _FAMILY_WORDS:
            out.extend(("instrument", name, tag) for name in _FAMILY_WORDS[_normal(tag)])
            continue
        if _normal(tag) in _ROLE_WORDS:
            role = _ROLE_WORDS[_normal(tag)]
            out.extend(
                ("instrument", name, tag)
                for name, entry in vocabulary()["instruments"].items()
                # "strings" also means every bowed string, whatever its role (contrabass, violin)
                if entry["role"] == role or (role == "strings" and entry.get("bowed"))
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
