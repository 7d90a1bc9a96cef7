"""The singer's word (sideman.overrides): parsing with errors that say where, applying
to an Analysis, and the three doors: `sideman add/render` (CLI), the HTTP `input` of
both route families, and POST /api/generate/rerender from the stored analysis."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sideman.analysis import Analysis
from sideman.deliver.stored import decode_value, encode_value
from sideman.errors import InvalidField
from sideman.music import BeatGrid, Chord, ChordSpan, Key, Note, Section
from sideman.overrides import (
    apply_overrides,
    chart_spans,
    merge_overrides,
    parse_chart,
    parse_chord_symbol,
    parse_key_label,
    parse_overrides,
)
from signals import sung_melody, write_audio

SIDEMAN = [sys.executable, "-m", "sideman.cli"]


def _analysis(*, tempo_bpm: float = 120.0, seconds: float = 16.0) -> Analysis:
    """An Analysis with a known answer: 4/4 at tempo_bpm, a note on every beat from 1 s."""
    period = 60.0 / tempo_bpm
    beats = tuple(float(b) for b in np.arange(0.0, seconds + 1e-9, period))
    notes = tuple(Note(b, b + 0.8 * period, 67 + (i % 3) * 2) for i, b in enumerate(beats) if 1.0 <= b < seconds - 1)
    grid = BeatGrid(beats, 4, 4, 0)
    bars = len(grid.downbeats_seconds)
    return Analysis(
        duration_seconds=seconds, grid=grid, key=Key(7, "major"), notes=notes,
        chords=(ChordSpan(1.0, seconds - 1, Chord(7, "maj")),), sections=(Section(0.0, seconds, "A"),),
        phrases=((1.0, seconds - 1),), energy_per_bar=tuple(0.5 for _ in range(bars)),
        vocal_range_midi=(67, 71), vocal_register="f",
    )


# ---- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "root", "quality", "bass"), [
    ("C", 0, "maj", None), ("F#m", 6, "min", None), ("Bb7", 10, "7", None), ("Gmaj7", 7, "maj7", None),
    ("Am7", 9, "min7", None), ("E♭m", 3, "min", None), ("Bm7b5", 11, "hdim7", None), ("G/B", 7, "maj", 11),
    ("Dsus4", 2, "sus4", None), ("C6", 0, "maj6", None), ("A:min", 9, "min", None), ("Caug", 0, "aug", None),
])
def test_chord_symbols(symbol: str, root: int, quality: str, bass: int | None) -> None:
    chord = parse_chord_symbol(symbol)
    assert (chord.root_pitch_class, chord.quality, chord.bass_pitch_class) == (root, quality, bass)


def test_no_chord_and_keys() -> None:
    assert parse_chord_symbol("N.C.") is None
    assert parse_key_label("E♭ minor") == Key(3, "minor")
    assert parse_key_label("F#m") == Key(6, "minor")
    assert parse_key_label("f major") == Key(5, "major")


def test_lead_sheet_bars_holds_and_repeats() -> None:
    chart = parse_chart("My song\nKey: G major   Meter: 4/4\n\n  0 | G | G . . D7 | % | Em  C |\n  4 | N.C. |\n")
    positions = [(c.bar, round(c.fraction_of_bar, 3), c.chord.label if c.chord else "N") for c in chart.chords]
    # bar 0 (the intro) is left to the band; '.' holds G for three of four slots; '%' repeats
    assert positions == [(0, 0.0, "G:maj"), (0, 0.75, "D:7"), (1, 0.0, "G:maj"), (1, 0.75, "D:7"),
                         (2, 0.0, "E:min"), (2, 0.5, "C:maj"), (3, 0.0, "N")]
    assert chart.bars == 4


@pytest.mark.parametrize(("chart", "where"), [
    ("| F | Bb | Hm7 | F |", "line 1, bar 3, column 12: 'Hm7' is not a chord"),
    ("title\n| F | Bb |\n| C | Fadd11 |", "line 3, bar 4, column 7: 'Fadd11' is not a chord: unknown quality"),
    ("| F |  | C |", "line 1, bar 2, column 6: an empty bar"),
    ("| % | F |", "line 1, bar 1, column 3: '%' repeats the bar before"),
    ("x | F |", "line 1, column 1: 'x' before the first '|' is not a bar number"),
    ("just words", "no bars found"),
    ('{"chords": [{"bar": 1, "symbol": "F"}, {"bar": 2, "symbol": "Q7"}]}', "input.chords.chords[1]: 'Q7'"),
    ('{"chords": [{"bar": 2, "symbol": "F"}, {"bar": 1, "symbol": "C"}]}', "input.chords.chords[1]: bar 1 comes"),
    ('{"chords": [{"bar": 1, ', "line 1, column 23: not valid JSON"),
])
def test_a_chart_that_does_not_parse_says_where(chart: str, where: str) -> None:
    with pytest.raises(InvalidField) as error:
        parse_chart(chart)
    assert error.value.param == "input.chords"
    assert where in str(error.value), str(error.value)


@pytest.mark.parametrize(("fields", "param", "text"), [
    ({"tempo_bpm": 0}, "input.bpm", "0 bpm is out of range [30, 300]"),
    ({"tempo_bpm": 1000}, "input.bpm", "1000 bpm is out of range [30, 300]"),
    ({"key": "H major"}, "input.key", "'H major' is not a key"),
    ({"meter": "4/3"}, "input.meter", "'4/3' is not a meter"),
    ({"tuning_cents": 80}, "input.tuning_cents", "80 cents is out of range [-50, 50]"),
    ({"tap_times_seconds": [0.0, 0.5, 1.0]}, "input.tap_times_seconds", "3 taps given"),
    ({"tap_times_seconds": [0.0, 0.5, 1.0, 9.0]}, "input.tap_times_seconds", "[3]: 9 s is 8.000 s after"),
])
def test_bad_overrides_name_the_field(fields: dict, param: str, text: str) -> None:
    with pytest.raises(InvalidField) as error:
        parse_overrides(**fields)
    assert error.value.param == param
    assert text in str(error.value)


def test_overrides_round_trip_through_the_manifest_and_merge() -> None:
    given = parse_overrides(tempo_bpm=92, key="F major", meter="3/4", tuning_cents=-12,
                            chords="| F | Bb  C7 |")
    again = parse_overrides(**{("tempo_bpm" if k == "tempo_bpm" else k): v for k, v in given.to_json().items()})
    assert again == given
    later = merge_overrides(given, parse_overrides(tap_times_seconds=[1.0, 1.5, 2.0, 2.5]))
    assert later.tempo_bpm is None and later.tap_times_seconds == (1.0, 1.5, 2.0, 2.5)
    assert later.key == Key(5, "major") and later.chart == given.chart


def test_a_new_tempo_replaces_earlier_taps() -> None:
    taps = parse_overrides(tap_times_seconds=[1.0, 1.5, 2.0, 2.5], meter="3/4")
    later = merge_overrides(taps, parse_overrides(tempo_bpm=100))
    assert later.tap_times_seconds is None and later.tempo_bpm == 100 and later.meter == "3/4"


def test_a_rerender_takes_the_earlier_settings_but_not_its_overrides() -> None:
    from sideman.api.routes.rerender import rerender_fields

    earlier = {"upload_url": "https://x/v.mp3", "title": "Hum", "tags": "folk", "negative_tags": "", "bpm": 90,
               "tap_times_seconds": [1.0, 1.5, 2.0, 2.5], "chords": "| G |", "variations": 2}
    fields = rerender_fields(earlier, {"bpm": 100, "variations": 1}, seed=77)
    assert fields == {"title": "Hum", "tags": "folk", "negative_tags": "", "variations": 1, "seed": 77, "bpm": 100}


# ---- applying ----------------------------------------------------------------------------


def test_tempo_and_downbeat_make_a_metronomic_grid() -> None:
    heard = _analysis(tempo_bpm=120.0)
    fixed = apply_overrides(heard, parse_overrides(tempo_bpm=90.0, first_downbeat_seconds=1.0, meter="3/4"))
    beats = np.asarray(fixed.grid.beats_seconds)
    assert np.allclose(np.diff(beats), 60 / 90)
    assert fixed.grid.meter == "3/4"
    assert 1.0 in [round(d, 6) for d in fixed.grid.downbeats_seconds]
    assert beats[0] >= 0 and beats[-1] >= heard.duration_seconds - 60 / 90
    # the chords are heard again on the new grid; energy follows the new bars
    assert fixed.chords and fixed.chords != heard.chords
    assert len(fixed.energy_per_bar) == len(fixed.grid.downbeats_seconds)


def test_taps_are_the_grid() -> None:
    heard = _analysis(tempo_bpm=120.0)
    taps = [2.0, 2.7, 3.4, 4.1, 4.8]
    fixed = apply_overrides(heard, parse_overrides(tap_times_seconds=taps))
    beats = fixed.grid.beats_seconds
    for tap in taps:
        assert tap in beats
    assert 2.0 in fixed.grid.downbeats_seconds
    assert abs(fixed.grid.tempo_bpm - 60 / 0.7) < 0.5


def test_key_and_chart_override() -> None:
    heard = _analysis()
    fixed = apply_overrides(heard, parse_overrides(key="E minor", chords="| Em | C  D | Em |"))
    assert fixed.key == Key(4, "minor")
    labels = [c.label for c in fixed.chords]
    assert labels == ["E:min", "C:maj", "D:maj", "E:min"]
    # bar 1 is the bar of the first note (1.0 s, on beat 2 of the grid's first bar at 0 s)
    assert fixed.chords[0].start_seconds == pytest.approx(0.0)
    assert fixed.chords[1].start_seconds == pytest.approx(2.0)
    assert fixed.chords[2].start_seconds == pytest.approx(3.0)
    # a chart ending before the recording: the last chord lasts to the end
    assert fixed.chords[-1].end_seconds >= heard.duration_seconds


def test_a_chart_follows_a_new_meter() -> None:
    heard = _analysis()
    fixed = apply_overrides(heard, parse_overrides(meter="3/4", chords="| G | C | D |"))
    spans = chart_spans(parse_chart("| G | C | D |"), grid=fixed.grid, notes=heard.notes, duration_seconds=16.0)
    assert [round(s.end_seconds - s.start_seconds, 3) for s in spans[:2]] == [1.5, 1.5]  # 3 beats at 120
    assert fixed.chords == spans


def test_tuning_override_is_set_on_the_analysis() -> None:
    heard = _analysis()
    fixed = apply_overrides(heard, parse_overrides(tuning_cents=-20))
    assert fixed.tuning_cents == pytest.approx(-20)
    assert fixed.notes == heard.notes  # within half a semitone of what was heard: the same notes


def test_a_told_tuning_reads_the_notes_in_it() -> None:
    """A voice 40 cents sharp in G is the same pitches as one 60 cents flat in Ab: told
    -45, the notes, key and chords are read in that reference, both at the first
    listening and when a stored analysis is played again."""
    from sideman.analysis import analyze
    from sideman.ingest import Audio

    melody = sung_melody(bars=8, cents=40.0)
    heard = analyze(Audio(melody.samples, 44100))
    assert heard.key.label == "G major" and heard.tuning_cents == pytest.approx(40.0, abs=10.0)
    told = analyze(Audio(melody.samples, 44100), tuning_cents=-45.0)
    assert told.tuning_cents == -45.0 and told.key.label == "Ab major"
    assert [n.pitch_midi for n in told.notes] == [n.pitch_midi + 1 for n in heard.notes]
    again = apply_overrides(heard, parse_overrides(tuning_cents=-45))
    assert again.key.label == "Ab major" and again.tuning_cents == -45.0
    assert [n.pitch_midi for n in again.notes] == [n.pitch_midi for n in told.notes]
    assert all(c.chord is None or c.chord.root_pitch_class in (8, 1, 3, 10, 5, 0) for c in again.chords)


def test_a_downbeat_past_the_end_is_refused() -> None:
    with pytest.raises(InvalidField, match="after the end of the recording"):
        apply_overrides(_analysis(), parse_overrides(first_downbeat_seconds=99.0))


def test_the_stored_analysis_round_trips_exactly() -> None:
    heard = _analysis()
    heard = replace(heard, grid=BeatGrid(heard.grid.beats_seconds, 2, 8, 1))
    back = decode_value(Analysis, json.loads(json.dumps(encode_value(heard))))
    assert back == heard


def _changes(chords: list[dict]) -> list[str]:
    """The chart's labels, a chord held over a bar line counted once."""
    labels = [c["label"] for c in chords]
    return [label for i, label in enumerate(labels) if i == 0 or label != labels[i - 1]]


# ---- the CLI -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_audio(tmp_path_factory.mktemp("take") / "hum.wav", sung_melody(bars=4).samples)


def test_cli_add_with_overrides_then_render_from_the_manifest(take: Path, tmp_path: Path) -> None:
    chart = tmp_path / "chords.txt"
    chart.write_text("| G | Em | C | D7 |\n")
    out = tmp_path / "out"
    run = subprocess.run([*SIDEMAN, "add", str(take), "--tags", "pop, piano", "--seed", "3", "--variations", "1",
                          "--tempo", "100", "--key", "G major", "--meter", "4/4", "--chords", str(chart),
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overrides"]["key"] == "G major"
    assert _changes(manifest["variations"][0]["chords"])[:4] == ["G:maj", "E:min", "C:maj", "D:7"]
    assert (out / manifest["stored"]["voice_npy"]).is_file()

    # the singer's word: 3/4, E minor, another chart; nothing is listened to again
    chart.write_text("| Em | C | D | Em |\n")
    again = tmp_path / "again"
    run = subprocess.run([*SIDEMAN, "render", "--from", str(out / "manifest.json"), "--meter", "3/4", "--key",
                          "E minor", "--chords", str(chart), "--out", str(again), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rendered = json.loads(run.stdout)
    take1 = rendered["variations"][0]
    assert take1["meter"] == "3/4" and take1["key"] == "E minor"
    assert _changes(take1["chords"])[:4] == ["E:min", "C:maj", "D:maj", "E:min"]
    assert rendered["seed"] == manifest["seed"]  # the same band
    assert rendered["overrides"]["tempo_bpm"] == 100  # the earlier overrides stand
    assert rendered["timings_seconds"]["analysis"] < 0.2  # no listening
    assert (again / take1["files"]["song_mp3"]).stat().st_size > 10_000

    # in place (no --out): two takes, then one; the second take's folder does not linger
    for variations in ("2", "1"):
        run = subprocess.run([*SIDEMAN, "render", "--from", str(again), "--variations", variations, "--tempo", "110"],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
    in_place = json.loads((again / "manifest.json").read_text())
    assert len(in_place["variations"]) == 1 and not (again / "v2").exists()
    assert in_place["variations"][0]["tempo_bpm"] == pytest.approx(110, abs=0.5)
    assert in_place["variations"][0]["key"] == "E minor"  # the earlier corrections stand


def test_cli_taps_and_downbeat_make_the_grid(take: Path, tmp_path: Path) -> None:
    taps = [1.2 + 0.6 * i for i in range(8)]
    out = tmp_path / "out"
    run = subprocess.run([*SIDEMAN, "add", str(take), "--tags", "pop", "--seed", "1", "--variations", "1",
                          "--taps", ",".join(f"{t:.1f}" for t in taps), "--downbeat", "2.4", "--meter", "3/4",
                          "--tuning", "-15", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    analysis = manifest["analysis"]
    for tap in taps:
        assert min(abs(b - tap) for b in analysis["beats_seconds"]) < 0.002
    assert 2.4 in analysis["downbeats_seconds"] and analysis["meter"] == "3/4"
    assert analysis["tempo_bpm"] == pytest.approx(100, abs=0.5)
    assert manifest["overrides"]["tuning_cents"] == -15
    if "tuning_cents" in analysis:
        assert analysis["tuning_cents"] == pytest.approx(-15)


@pytest.mark.parametrize(("args", "text"), [
    (["--tempo", "0"], "--tempo: 0 bpm is out of range [30, 300]"),
    (["--key", "H major"], "--key: 'H major' is not a key"),
])
def test_cli_refuses_a_bad_override_before_any_work(take: Path, tmp_path: Path, args: list[str], text: str) -> None:
    run = subprocess.run([*SIDEMAN, "add", str(take), "--tags", "pop", "--out", str(tmp_path / "o"), *args],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert text in run.stderr


def test_cli_names_the_bar_of_a_bad_chart(take: Path, tmp_path: Path) -> None:
    chart = tmp_path / "bad.txt"
    chart.write_text("Song\n| G | Em |\n| C | Xm |\n")
    run = subprocess.run([*SIDEMAN, "add", str(take), "--tags", "pop", "--out", str(tmp_path / "o"), "--chords",
                          str(chart)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "--chords: line 3, bar 4, column 7: 'Xm' is not a chord" in run.stderr


# ---- HTTP ------------------------------------------------------------------------------------


def _settings(tmp_path: Path):
    from sideman.settings import Settings

    return Settings(_env_file=None, data_dir=tmp_path / "data", task_lease_seconds=60.0, rate_limit_per_minute=0,
                    submit_rate_limit_per_minute=0, callback_backoff_seconds=())


def _auth(client: TestClient) -> dict:
    return {"Authorization": f"Bearer {client.app.state.services.local_key.plain}"}


def _upload(client: TestClient, path: Path) -> str:
    response = client.post("/api/common/upload/stream", headers=_auth(client),
                           files={"file": (path.name, path.read_bytes(), "audio/wav")})
    assert response.status_code == 200, response.text
    return response.json()["data"]["file_url"]


def _wait(client: TestClient, task_id: str, timeout_seconds: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        data = client.get(f"/api/generate/status/{task_id}", headers=_auth(client)).json()["data"]
        if data["status"] in ("finished", "failed"):
            return data
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} not done: {data}")


@pytest.fixture(scope="module")
def real_client(tmp_path_factory: pytest.TempPathFactory):
    from sideman.api import create_app

    with TestClient(create_app(_settings(tmp_path_factory.mktemp("api")))) as client:
        yield client


@pytest.mark.parametrize(("path", "body", "param", "text"), [
    ("/api/generate/submit", {"bpm": 0}, "input.bpm", "0 bpm is out of range [30, 300]"),
    ("/api/generate/submit", {"bpm": 1000}, "input.bpm", "1000 bpm is out of range"),
    ("/api/generate/submit", {"key": "H major"}, "input.key", "'H major' is not a key"),
    ("/api/generate/submit", {"chords": "| G | C |\n| D | Q7 |"}, "input.chords",
     "line 2, bar 4, column 7: 'Q7' is not a chord"),
    ("/api/generate/submit", {"meter": "4/3"}, "input.meter", "'4/3' is not a meter"),
    ("/api/v1/generate/add-instrumental", {"bpm": 1000}, "bpm", "1000 bpm is out of range"),
    ("/api/v1/generate/add-instrumental", {"key": "X minor"}, "key", "'X minor' is not a key"),
    ("/api/v1/generate/add-instrumental", {"chords": {"chords": [{"bar": 1, "symbol": "G"}, {"bar": 2}]}},
     "chords", "chords[1]: needs a 'symbol'"),
    ("/api/v1/generate/add-instrumental", {"tuningCents": 99}, "tuningCents", "99 cents is out of range"),
])
def test_http_refuses_bad_overrides_with_a_precise_422(real_client: TestClient, path: str, body: dict, param: str,
                                                       text: str) -> None:
    if path.startswith("/api/v1"):
        payload = {"uploadUrl": "https://storage.example.com/v.mp3", "title": "T", "tags": "pop", **body}
    else:
        payload = {"model": "add-instrumental", "input": {"upload_url": "https://storage.example.com/v.mp3",
                                                          "title": "T", "tags": "pop", "negative_tags": "", **body}}
    response = real_client.post(path, headers=_auth(real_client), json=payload)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert text in error["message"], error["message"]


def test_http_overrides_on_both_families_and_a_rerender(real_client: TestClient, take: Path) -> None:
    file_url = _upload(real_client, take)
    response = real_client.post("/api/generate/submit", headers=_auth(real_client), json={
        "model": "add-instrumental",
        "input": {"upload_url": file_url, "title": "Hum", "tags": "pop, piano", "negative_tags": "",
                  "variations": 1, "seed": 2, "bpm": 100, "key": "G major", "chords": "| G | C | D | G |"}})
    assert response.status_code == 200, response.text
    first = response.json()["data"]["task_id"]
    suno = real_client.post("/api/v1/generate/add-instrumental", headers=_auth(real_client), json={
        "uploadUrl": _upload(real_client, take), "title": "Hum", "tags": "folk", "variations": 1, "seed": 2,
        "meter": "3/4", "key": "E minor", "tuningCents": -10})
    assert suno.status_code == 200, suno.text
    second = suno.json()["data"]["taskId"]

    assert _wait(real_client, first)["status"] == "finished"
    item = real_client.get("/api/generate/detail/music", params={"task_id": first},
                           headers=_auth(real_client)).json()["data"]["files"][0]
    assert item["key"] == "G major"
    assert _changes(item["chords"])[:4] == ["G:maj", "C:maj", "D:maj", "G:maj"]

    assert _wait(real_client, second)["status"] == "finished"
    record = real_client.get("/api/v1/generate/record-info", params={"taskId": second},
                             headers=_auth(real_client)).json()["data"]
    assert record["status"] == "SUCCESS"
    services = real_client.app.state.services
    manifest = services.tasks.get(second).manifest
    assert manifest["variations"][0]["meter"] == "3/4" and manifest["variations"][0]["key"] == "E minor"
    assert manifest["overrides"]["tuning_cents"] == -10

    # play the first one again: another tempo and a chord changed, from the stored analysis
    response = real_client.post("/api/generate/rerender", headers=_auth(real_client), json={
        "task_id": first, "input": {"bpm": 120, "chords": "| G | Am | D | G |"}})
    assert response.status_code == 200, response.text
    again = response.json()["data"]["task_id"]
    assert response.json()["data"]["rerender_of"] == first
    assert _wait(real_client, again)["status"] == "finished", _wait(real_client, again)
    manifest = services.tasks.get(again).manifest
    take1 = manifest["variations"][0]
    assert take1["tempo_bpm"] == pytest.approx(120, abs=0.5)
    assert "A:min" in [c["label"] for c in take1["chords"]]
    assert manifest["seed"] == services.tasks.get(first).manifest["seed"]
    assert manifest["timings_seconds"]["analysis"] < 0.2
    assert manifest["input"]["rerendered_from"] == first

    # a Suno-style task plays again as a Suno-style task (record-info, its callbacks' shape)
    response = real_client.post("/api/generate/rerender", headers=_auth(real_client), json={
        "task_id": second, "input": {"key": "G major"}})
    assert response.status_code == 200, response.text
    suno_again = response.json()["data"]["task_id"]
    assert _wait(real_client, suno_again)["status"] == "finished"
    record = real_client.get("/api/v1/generate/record-info", params={"taskId": suno_again},
                             headers=_auth(real_client)).json()["data"]
    assert record["status"] == "SUCCESS" and record["response"]["sunoData"]
    manifest = services.tasks.get(suno_again).manifest
    assert manifest["variations"][0]["key"] == "G major" and manifest["variations"][0]["meter"] == "3/4"
    assert manifest["overrides"]["tuning_cents"] == -10

    # a rerender of an unknown task, and a bad chart in a rerender
    missing = real_client.post("/api/generate/rerender", headers=_auth(real_client), json={"task_id": "nope"})
    assert missing.status_code == 404
    bad = real_client.post("/api/generate/rerender", headers=_auth(real_client),
                           json={"task_id": first, "input": {"chords": "| G | Zm |"}})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "input.chords"
    assert "bar 2, column 7: 'Zm'" in bad.json()["error"]["message"]
