from __future__ import annotations

import pytest

from sideman.style import style_from_tags, vocabulary

GENRE_TAGS = {
    "pop": "pop", "rock": "rock", "indie": "indie", "ballad": "ballad", "jazz": "jazz", "swing": "swing",
    "bossa nova": "bossa nova", "latin": "latin", "funk": "funk", "r&b": "rnb", "soul": "rnb",
    "hip hop": "hip hop", "lofi": "lofi", "trap": "trap", "house": "edm", "EDM": "edm",
    "synthwave": "synthwave", "ambient": "ambient", "cinematic": "cinematic", "orchestral": "cinematic",
    "folk": "folk", "acoustic": "folk", "country": "country", "blues": "blues", "reggae": "reggae",
    "gospel": "gospel", "classical piano": "classical piano", "metal": "metal", "punk": "punk",
    "piano ballad": "ballad",
}  # fmt: skip


@pytest.mark.parametrize(("tag", "genre"), GENRE_TAGS.items())
def test_every_genre_is_understood(tag: str, genre: str) -> None:
    style = style_from_tags(tag)
    assert style.genre == genre
    assert style.parts
    assert style.unmatched_tags == ()


def test_vocabulary_size() -> None:
    vocab = vocabulary()
    assert len(vocab["genres"]) >= 20
    assert len([n for n, e in vocab["instruments"].items() if not e.get("drum")]) >= 25


def test_synonyms_plurals_case_and_misspellings() -> None:
    assert style_from_tags("Jazzy").genre == "jazz"
    assert style_from_tags("lo-fi").genre == "lofi"
    assert style_from_tags("ROCK").genre == "rock"
    assert style_from_tags("jaz").genre == "jazz"
    assert style_from_tags("pop, pianos").part("keys").instrument == "piano"


def test_tags_that_match_nothing_are_reported() -> None:
    assert style_from_tags("pop, zzyzx").unmatched_tags == ("zzyzx",)
    partly = style_from_tags("pop, zzyzx vibes")  # "vibes" is the vibraphone; "zzyzx" is reported
    assert partly.unmatched_tags == ("zzyzx",)
    assert "vibraphone" in {p.instrument for p in partly.parts}


def test_moods_lower_energy() -> None:
    calm = style_from_tags("pop, relaxing, soothing")
    plain = style_from_tags("pop")
    assert calm.energy < plain.energy and calm.density < plain.density


def test_negative_instrument_never_sounds() -> None:
    style = style_from_tags("pop, piano", "piano")
    assert all(p.instrument != "piano" for p in style.parts)
    assert all(a.instrument != "piano" for a in style.alternates.values())


def test_negative_drums_removes_the_drum_part() -> None:
    style = style_from_tags("rock", "drums")
    assert "drums" not in {p.role for p in style.parts}


def test_negative_guitar_removes_every_guitar() -> None:
    style = style_from_tags("rock, acoustic guitar", "guitar")
    guitars = {n for n, e in vocabulary()["instruments"].items() if e["role"] == "guitar"}
    assert not guitars & {p.instrument for p in style.parts}


def test_negative_genre_and_fast_drums() -> None:
    style = style_from_tags("relaxing, piano, soothing", "heavy metal, fast drums")
    assert style.genre != "metal"
    assert "distortion guitar" not in {p.instrument for p in style.parts}
    assert "drums" in style.sparse_roles
    assert style.density <= 0.45


def test_excluded_genre_is_not_chosen_even_when_asked() -> None:
    assert style_from_tags("metal", "metal").genre != "metal"
