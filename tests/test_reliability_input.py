"""Bad input gets a precise answer (issue 16): audio that is wrong in known ways fails
with a message that says what is wrong (never "internal error", never a traceback),
loose JSON types are refused, what can be known at submit is refused at submit (private
or malformed URLs in every IPv6 transition form, another key's upload), the sniffed
type beats the client's file name, Range follows RFC 9110 and manifests hide server
paths. Loopback only; no real pipeline run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from reliability_support import encoded, raw_wav, reliability_settings, tone, wav_bytes
from sideman import cli
from sideman.api import create_app
from sideman.errors import InvalidInput, SilentAudio, TooShort, UnreadableAudio
from sideman.ingest import load
from sideman.ingest.fetch import is_forbidden_address
from sideman.tasks.db import TaskRow
from sideman.tasks.testing import fake_generate

LIMITS = {"sample_rate_hz": 16000, "min_duration_seconds": 2.0, "max_duration_seconds": 480.0,
          "silence_threshold_dbfs": -60.0}


def _nan(count: int) -> np.ndarray:
    samples = tone()
    samples[1000:1000 + count] = np.nan
    return samples


def _flac(tmp: Path) -> bytes:
    return encoded(tmp / "ok.flac", tone(4.0, sample_rate_hz=44100))


def _ogg(tmp: Path) -> bytes:
    return encoded(tmp / "ok.ogg", tone(4.0, sample_rate_hz=44100))


# name -> (file bytes from a temp folder, expected error (None: decodes), words in the message)
BAD_AUDIO = {
    "nan-samples": (lambda t: raw_wav(_nan(1000), sample_rate_hz=16000, float32=True),
                    UnreadableAudio, "1000 samples that are not numbers"),
    "one-infinity": (lambda t: raw_wav(np.where(np.arange(48000) == 5, np.inf, tone()),
                                       sample_rate_hz=16000, float32=True),
                     UnreadableAudio, "1 samples that are not numbers"),
    "all-nan": (lambda t: raw_wav(np.full(48000, np.nan), sample_rate_hz=16000, float32=True),
                UnreadableAudio, "not numbers (NaN or infinity)"),
    "0-channels": (lambda t: raw_wav(tone(), sample_rate_hz=16000, channels=0),
                   UnreadableAudio, "declares 0 audio channels"),
    "65535-channels": (lambda t: raw_wav(tone(), sample_rate_hz=16000, channels=65535),
                       UnreadableAudio, "declares 65535 audio channels"),
    "32-channels": (lambda t: raw_wav(np.tile(tone()[:, None], (1, 32)), sample_rate_hz=16000),
                    None, ""),
    "stereo": (lambda t: raw_wav(np.stack([tone(), 0.5 * tone()], 1), sample_rate_hz=16000),
               None, ""),
    "cancelling-channels": (lambda t: raw_wav(np.stack([tone(), -tone()], 1), sample_rate_hz=16000),
                            InvalidInput, "channels cancel each other"),
    "1-hz": (lambda t: raw_wav(np.sin(np.arange(10)), sample_rate_hz=1),
             UnreadableAudio, "sample rate is 1 Hz"),
    "8-hz": (lambda t: raw_wav(0.5 * np.sin(np.arange(240) * 2.0), sample_rate_hz=8),
             UnreadableAudio, "sample rate is 8 Hz"),
    "pure-dc": (lambda t: raw_wav(np.full(48000, 0.5), sample_rate_hz=16000),
                InvalidInput, "constant offset (DC"),
    "unknown-codec": (lambda t: raw_wav(tone(), sample_rate_hz=16000, format_tag=0x1234),
                      UnreadableAudio, "WAV format tag 0x1234"),
    "ogg-cut-before-audio": (lambda t: _ogg(t)[:60], UnreadableAudio, "cut short"),
    "flac-cut-before-audio": (lambda t: _flac(t)[:60], UnreadableAudio, "FLAC file but its data is damaged"),
    "flac-cut-mid-stream": (lambda t: _flac(t)[: len(_flac(t)) // 2], UnreadableAudio,
                            "cut short or damaged: its audio stops at"),
    "empty": (lambda t: b"", UnreadableAudio, "empty (0 bytes)"),
    "text": (lambda t: b"hello, not audio " * 50, UnreadableAudio, "not audio"),
    "silent": (lambda t: raw_wav(np.full(48000, 1e-5) * np.sin(np.arange(48000)),
                                 sample_rate_hz=16000), SilentAudio, "silent"),
    "too-short": (lambda t: raw_wav(tone(1.0), sample_rate_hz=16000), TooShort, "1.00 s long"),
}


@pytest.mark.parametrize("name", sorted(BAD_AUDIO))
def test_bad_audio_gets_a_message_that_says_what_is_wrong(tmp_path: Path, name: str) -> None:
    make, error, words = BAD_AUDIO[name]
    path = tmp_path / "input.bin"
    path.write_bytes(make(tmp_path))
    if error is None:
        audio = load(path, **LIMITS)
        assert audio.duration_seconds == pytest.approx(3.0, abs=0.01)
        assert np.isfinite(audio.samples).all() and np.abs(audio.samples).max() > 0.1
        return
    with pytest.raises(error) as caught:
        load(path, **LIMITS)
    assert words in str(caught.value)
    assert str(tmp_path) not in str(caught.value)  # no server path in a client's message


def test_silence_check_is_not_fooled_by_nan() -> None:
    from sideman.ingest.decode import Audio
    from sideman.ingest.validate import validate

    samples = np.full(48000, np.nan, dtype=np.float32)
    with pytest.raises(InvalidInput, match="not numbers"):
        validate(Audio(samples, 16000), min_duration_seconds=2, max_duration_seconds=480,
                 silence_threshold_dbfs=-60)


def test_cli_prints_one_line_for_nan_audio(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "nan.wav"
    path.write_bytes(raw_wav(_nan(10), sample_rate_hz=16000, float32=True))
    assert cli.main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "not numbers" in err


# --- through the service ----------------------------------------------------------------


def ingesting_generate(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
    """The real ingest (decode + validate), then the fake rest of the pipeline."""
    load(request.audio_path, sample_rate_hz=16000, min_duration_seconds=settings.min_duration_seconds,
         max_duration_seconds=settings.max_duration_seconds,
         silence_threshold_dbfs=settings.silence_threshold_dbfs)
    manifest = fake_generate(request, out_dir=out_dir, settings=settings, on_stage=on_stage)
    manifest["soundfont"] = {"name": "FluidR3_GM", "path": str(Path(__file__).resolve()),
                             "license": "MIT", "drum_kits": [{"name": "k", "path": "/usr/x.sf2"}]}
    (out_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


@pytest.fixture
def client(tmp_path: Path):
    settings = reliability_settings(tmp_path, allow_private_urls=False)
    with TestClient(create_app(settings, generate=ingesting_generate)) as test_client:
        yield test_client


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def key_of(client: TestClient) -> str:
    return client.app.state.services.local_key.plain


def upload(client: TestClient, key: str, data: bytes, name: str = "take.wav",
           content_type: str = "audio/wav") -> dict:
    response = client.post("/api/common/upload/stream", headers=auth(key),
                           files={"file": (name, data, content_type)})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def submit(client: TestClient, key: str, upload_url: str, *, suno: bool = False, **fields: object):
    if suno:
        payload = {"uploadUrl": upload_url, "title": "t", "tags": "piano", **fields}
        return client.post("/api/v1/generate/add-instrumental", headers=auth(key), json=payload)
    top = {k: fields.pop(k) for k in ("callback_url",) if k in fields}
    payload = {"model": "add-instrumental", **top,
               "input": {"upload_url": upload_url, "title": "t", "tags": "piano",
                         "negative_tags": "", "variations": 1, **fields}}
    return client.post("/api/generate/submit", headers=auth(key), json=payload)


def wait_done(client: TestClient, key: str, task_id: str) -> dict:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        data = client.get(f"/api/generate/status/{task_id}", headers=auth(key)).json()["data"]
        if data["status"] in ("finished", "failed"):
            return data
        time.sleep(0.02)
    raise AssertionError(data)


def test_nan_audio_fails_its_task_with_the_reason(client: TestClient) -> None:
    key = key_of(client)
    stored = upload(client, key, raw_wav(_nan(1000), sample_rate_hz=16000, float32=True))
    data = wait_done(client, key, submit(client, key, stored["file_url"]).json()["data"]["task_id"])
    assert data["status"] == "failed"
    assert "1000 samples that are not numbers" in data["error_message"]


# (field, value, param): each must answer 422 naming the field
LOOSE_TYPES = [
    ("style_weight", "0.5", "input.style_weight"),
    ("style_weight", True, "input.style_weight"),
    ("audio_weight", "1", "input.audio_weight"),
    ("seed", "7", "input.seed"),
    ("seed", 7.0, "input.seed"),
    ("variations", True, "input.variations"),
    ("variations", "2", "input.variations"),
    ("title", 5, "input.title"),
    ("tags", ["piano"], "input.tags"),
    ("vocal_gender", 1, "input.vocal_gender"),
]


@pytest.mark.parametrize(("field", "value", "param"), LOOSE_TYPES,
                         ids=[f"{f}={v!r}" for f, v, _ in LOOSE_TYPES])
def test_loose_types_are_refused(client: TestClient, field: str, value: object, param: str) -> None:
    response = submit(client, key_of(client), "https://example.com/a.wav", **{field: value})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param


def test_strict_types_still_take_an_integer_for_a_number(client: TestClient) -> None:
    response = submit(client, key_of(client), "https://example.com/a.wav", style_weight=1,
                      seed=7, variations=1)
    assert response.status_code == 200, response.text


def test_suno_body_types_are_strict_too(client: TestClient) -> None:
    response = submit(client, key_of(client), "https://example.com/a.wav", suno=True,
                      styleWeight="0.5")
    assert response.status_code == 422 and response.json()["error"]["param"] == "styleWeight"


# every IPv6 form that carries a private IPv4 address, and the plain private forms
TRANSITION_FORMS = [
    "2002:7f00:1::",                           # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",                        # 6to4 of 169.254.169.254
    "2002:a00:1::1",                           # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1",                         # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",                      # NAT64 of the metadata address
    "64:ff9b:1::a00:1",                        # local-use NAT64 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",    # Teredo, client 127.0.0.1 (obfuscated)
    "2001:0:a9fe:a9fe::1",                     # Teredo, server 169.254.169.254
    "::127.0.0.1",                             # IPv4-compatible
    "::a9fe:a9fe",                             # IPv4-compatible metadata
    "::ffff:127.0.0.1",                        # IPv4-mapped
    "::ffff:a9fe:a9fe",                        # IPv4-mapped metadata
]


@pytest.mark.parametrize("address", TRANSITION_FORMS)
def test_ipv6_transition_forms_are_judged_by_their_ipv4(client: TestClient, address: str) -> None:
    assert is_forbidden_address(address)
    response = submit(client, key_of(client), f"http://[{address}]/a.wav")
    assert response.status_code == 422, response.text
    assert "private or local address" in response.json()["error"]["message"]


def test_a_public_6to4_address_is_allowed() -> None:
    assert not is_forbidden_address("2002:5db8:d822::")  # 6to4 of 93.184.216.34


SUBMIT_REFUSALS = [
    ({"callback_url": "http://169.254.169.254/latest/meta-data/"}, "callback_url", "private"),
    ({"callback_url": "http://127.0.0.1:8080/hook"}, "callback_url", "private"),
    ({"callback_url": "http://[2002:7f00:1::]/hook"}, "callback_url", "private"),
    ({"callback_url": "http://example.com:99999/hook"}, "callback_url", "invalid port"),
    ({"upload_url": "http://10.1.2.3/a.wav"}, "input.upload_url", "private"),
    ({"upload_url": "http://localhost/a.wav"}, "input.upload_url", "private"),
    ({"upload_url": "http://example.com:99999/a.wav"}, "input.upload_url", "invalid port"),
    ({"upload_url": "http://example.com:0/a.wav"}, "input.upload_url", "invalid port"),
]


@pytest.mark.parametrize(("fields", "param", "words"), SUBMIT_REFUSALS,
                         ids=[str(f) for f, _, _ in SUBMIT_REFUSALS])
def test_bad_urls_are_refused_at_submit(client: TestClient, fields: dict, param: str, words: str) -> None:
    fields = dict(fields)
    upload_url = fields.pop("upload_url", "https://example.com/a.wav")
    response = submit(client, key_of(client), upload_url, **fields)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
    assert words in response.json()["error"]["message"]
    with client.app.state.services.db.sessions() as session:  # no task was made
        assert session.scalar(select(func.count()).select_from(TaskRow)) == 0


def test_suno_private_callback_is_refused_at_submit(client: TestClient) -> None:
    response = submit(client, key_of(client), "https://example.com/a.wav", suno=True,
                      callBackUrl="http://169.254.169.254/")
    assert response.status_code == 422 and response.json()["error"]["param"] == "callBackUrl"


def test_another_keys_upload_cannot_be_used(client: TestClient) -> None:
    key_a = key_of(client)
    key_b = client.app.state.services.keys.create(name="b").key
    stored = upload(client, key_a, wav_bytes())
    response = submit(client, key_b, stored["file_url"])
    assert response.status_code == 403
    assert "belongs to another key" in response.json()["error"]["message"]
    assert submit(client, key_a, stored["file_url"]).status_code == 200


def test_the_sniffed_type_beats_the_file_name(client: TestClient) -> None:
    stored = upload(client, key_of(client), wav_bytes(), name="take.MP3", content_type="audio/mpeg")
    assert stored["mime_type"] == "audio/wav" and stored["file_name"].endswith(".wav")
    served = client.get(f"/files/uploads/{stored['file_name']}")
    assert served.headers["content-type"] == "audio/wav"


@pytest.mark.parametrize(("header", "status", "length"), [
    ("bytes=5-2", 200, None),        # last < first: not a valid range, ignored
    ("bytes=abc", 200, None),
    ("items=0-1", 200, None),        # another unit: ignored
    ("bytes=0-3", 206, 4),
    ("bytes=-4", 206, 4),
    ("bytes=99999999-", 416, None),  # valid, but past the end
])
def test_range_follows_rfc_9110(client: TestClient, header: str, status: int, length: int | None) -> None:
    stored = upload(client, key_of(client), wav_bytes())
    response = client.get(f"/files/uploads/{stored['file_name']}", headers={"Range": header})
    assert response.status_code == status
    if status == 200:
        assert len(response.content) == stored["file_size"]
    if length is not None:
        assert len(response.content) == length
    if status == 416:
        assert response.headers["content-range"] == f"bytes */{stored['file_size']}"


def test_manifest_shows_no_server_path(client: TestClient) -> None:
    key = key_of(client)
    stored = upload(client, key, wav_bytes())
    task_id = submit(client, key, stored["file_url"]).json()["data"]["task_id"]
    assert wait_done(client, key, task_id)["status"] == "finished"
    served = client.get(f"/files/results/{task_id}/manifest.json")
    detail = client.get(f"/api/generate/detail/music?task_id={task_id}", headers=auth(key))
    for text in (served.text, detail.text, json.dumps(client.app.state.services.tasks.get(task_id).manifest)):
        assert str(Path(__file__).resolve()) not in text and "/usr/x.sf2" not in text
    assert served.json()["soundfont"] == {"name": "FluidR3_GM", "license": "MIT",
                                         "drum_kits": [{"name": "k"}]}


def test_a_manifest_written_mid_run_is_cleaned_at_its_stage_event(tmp_path: Path) -> None:
    from sideman.pipeline import StageEvent

    seen: list[dict] = []

    def writes_as_it_goes(request, *, out_dir, settings, on_stage=None):  # noqa: ANN001
        manifest = {"title": "t", "variations": [],
                    "soundfont": {"name": "F", "path": "/usr/share/sounds/sf2/F.sf2"}}
        (out_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        on_stage(StageEvent("first", 40, manifest))
        seen.append(json.loads((out_dir / "manifest.json").read_text(encoding="utf-8")))
        return fake_generate(request, out_dir=out_dir, settings=settings, on_stage=on_stage)

    settings = reliability_settings(tmp_path)
    with TestClient(create_app(settings, generate=writes_as_it_goes)) as client:
        key = key_of(client)
        stored = upload(client, key, wav_bytes())
        task_id = submit(client, key, stored["file_url"]).json()["data"]["task_id"]
        assert wait_done(client, key, task_id)["status"] == "finished"
    assert seen == [{"title": "t", "variations": [], "soundfont": {"name": "F"}}]
