"""The page in a real browser: Debian's chromium driven by Playwright against `sideman
serve` (the real pipeline) on a free port. Uploads a 4-bar synthetic melody through the
page and waits for finished takes with playable audio; keeps a screenshot in
test-artifacts/.

Skipped when /usr/bin/chromium or the playwright package is missing, except on CI
(CI=true), where that is a failure: `make test` installs both.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from signals import sung_melody, write_audio

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SERVER_START_SECONDS = 30.0
RESULT_TIMEOUT_MS = 90_000


class Server(NamedTuple):
    base: str
    data_dir: Path


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian package chromium; `make test` installs it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def playwright():
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run on CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """`sideman serve` on a free loopback port with its own data dir; yields the base URL."""
    data_dir = tmp_path_factory.mktemp("serve-data")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDEMAN_")}
    log_path = data_dir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sideman.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, process, log_path)
            yield Server(base, data_dir)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_page_uploads_a_take_and_plays_the_result(browser, server: Server, tmp_path: Path) -> None:
    started = time.perf_counter()
    take = write_audio(tmp_path / "hum.wav", sung_melody(bars=4).samples)
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.base + "/")

    # loopback: the key is in the page, so the key row stays hidden
    assert page.locator("#key-row").is_hidden()
    # suggestions come from the tag vocabulary
    assert page.locator("#tags-suggestions button.suggestion", has_text="piano").count() >= 1

    page.set_input_files("#file", str(take))
    page.fill("#title", "Hum in G")
    page.locator("#tags").type("pop")
    page.keyboard.press("Enter")
    page.locator("#tags-suggestions button.suggestion", has_text="+ piano").first.click()
    page.locator("#negative-tags").type("heavy metal,")
    assert page.locator("#tags-chips .chip").count() == 2
    assert page.locator("#negative-chips .chip").count() == 1
    page.locator("#more summary").click()
    page.locator("#weirdness").fill("0.4")
    assert page.locator("#weirdness-out").text_content() == "0.40"
    page.check("input[name=gender][value=f]")

    # note the progress at the moment the brief appears: it must come before the end
    page.evaluate("""() => {
      const brief = document.getElementById("brief");
      new MutationObserver(() => {
        if (!brief.hidden && window.briefAtProgress === undefined) {
          window.briefAtProgress = Number(document.getElementById("bar").value);
          window.resultsWhenBrief = document.getElementById("results").childElementCount;
        }
      }).observe(brief, {attributes: true});
    }""")
    page.click("#submit")
    page.wait_for_selector("#brief:not([hidden])", timeout=RESULT_TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#progress").screenshot(path=str(ARTIFACTS / "web-progress.png"))
    page.wait_for_selector("body[data-results]", timeout=RESULT_TIMEOUT_MS)
    assert page.locator("#error").is_hidden(), page.locator("#error").text_content()

    assert page.evaluate("window.resultsWhenBrief") == 0
    assert page.evaluate("window.briefAtProgress") < 100
    assert "Take 1." in page.locator("#brief-text").text_content()

    cards = page.locator("article.variation")
    assert cards.count() == 2
    first = cards.nth(0)
    # the song element has a playable source: metadata loads and the file is served as audio
    page.wait_for_function(
        "() => { const a = document.querySelector('article.variation audio');"
        " return a.readyState >= 1 && a.duration > 2; }", timeout=20_000)
    fetched = page.evaluate("""async () => {
      const a = document.querySelector('article.variation audio');
      const r = await fetch(a.currentSrc);
      return {status: r.status, type: r.headers.get('content-type'), size: (await r.arrayBuffer()).byteLength};
    }""")
    assert fetched["status"] == 200 and fetched["type"].startswith("audio/") and fetched["size"] > 10_000
    page.wait_for_selector("article.variation canvas[data-decoded=true]", timeout=20_000)

    links = [a.text_content() for a in first.locator("a.download").all()]
    for label in ("Song MP3", "Instrumental MP3", "Instrumental WAV", "MIDI", "Chords JSON", "drums stem WAV"):
        assert label in links, links

    # the switch swaps the source to the instrumental
    song_src = first.locator("audio").get_attribute("src")
    first.locator(".switch button[data-mode=instrumental]").click()
    assert first.locator("audio").get_attribute("src") != song_src
    assert "instrumental" in first.locator("audio").get_attribute("src")
    first.locator(".switch button[data-mode=song]").click()
    assert first.locator("audio").get_attribute("src") == song_src

    assert not errors, errors
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "web-page-phone.png"), full_page=True)
    page.close()
    assert time.perf_counter() - started < 120


def test_an_exposed_page_asks_for_a_key_and_never_shows_the_local_one(browser, server: Server) -> None:
    local_key = (server.data_dir / "local-api-key").read_text().strip()
    # a request through a proxy is not a loopback request, whatever its peer address
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
    page = context.new_page()
    page.goto(server.base + "/")
    assert local_key not in page.content()
    assert page.locator("#key-row").is_visible()
    page.fill("#key", "sm_not-a-key")
    page.set_input_files("#file", {"name": "take.wav", "mimeType": "audio/wav", "buffer": b"RIFF" + bytes(64)})
    page.locator("#tags-suggestions button.suggestion").first.click()
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])", timeout=10_000)
    assert "refused" in page.locator("#error").text_content()
    context.close()


def test_recording_from_the_microphone_becomes_the_take(playwright, server: Server) -> None:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
    )
    try:
        page = browser.new_page()
        page.goto(server.base + "/")
        page.click("#record")
        page.wait_for_selector("#record.recording", timeout=5_000)
        page.wait_for_timeout(2500)
        page.click("#record")
        page.wait_for_selector("#take:not([hidden])", timeout=5_000)
        assert page.locator("#take-name").text_content().startswith("Recorded take")
        assert page.locator("#take-audio").get_attribute("src").startswith("blob:")
        # the recording goes through the upload endpoint like a chosen file
        page.locator("#tags-suggestions button.suggestion").first.click()
        with page.expect_response(lambda r: r.url.endswith("/api/common/upload/stream")) as upload:
            page.click("#submit")
        assert upload.value.status == 200, upload.value.text()
        body = upload.value.json()["data"]
        assert body["mime_type"] in ("audio/webm", "audio/ogg", "audio/mp4"), body
    finally:
        browser.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sideman serve exited ({process.returncode}):\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"sideman serve did not answer in {SERVER_START_SECONDS} s:\n{log_path.read_text()[-2000:]}")




def _manifest(server: Server, task_id: str) -> dict:
    import json

    return json.loads((server.data_dir / "results" / task_id / "manifest.json").read_text())


def test_the_singer_corrects_tempo_and_a_chord_and_plays_it_again(browser, server: Server, tmp_path: Path) -> None:
    take = write_audio(tmp_path / "hum.wav", sung_melody(bars=4).samples)
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.base + "/")
    page.set_input_files("#file", str(take))
    page.locator("#tags-suggestions button.suggestion", has_text="+ pop").first.click()
    page.locator("#more summary").click()
    page.select_option("#variations", "1")
    page.click("#submit")
    page.wait_for_selector("body[data-results]", timeout=RESULT_TIMEOUT_MS)
    assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
    first_task = page.evaluate("document.body.dataset.taskId")

    # what was heard is shown, and editable
    page.wait_for_selector("#heard:not([hidden])")
    heard = page.locator("#heard-text").text_content()
    # "We heard 120 bpm (or 60) in 4/4, G major (or E minor)": a close rival reading is named
    assert re.match(r"We heard \d+ bpm( \(or \d+\))? in \d+/\d+", heard), heard
    chart = page.locator("#fix-chords").input_value()
    assert "|" in chart and "Bar 1 is where the voice comes in" in chart
    page.fill("#fix-tempo", "120")
    # change the chord of bar 2 to B minor
    lines = chart.splitlines()
    rows = [i for i, line in enumerate(lines) if "|" in line]
    row = next(i for i in rows if lines[i].split("|")[0].strip() in ("1", "-1", "0"))
    number = int(lines[row].split("|")[0])
    cells = lines[row].split("|")
    cells[1 + (2 - number)] = " Bm "
    lines[row] = "|".join(cells)
    page.fill("#fix-chords", "\n".join(lines))
    with page.expect_response(lambda r: r.url.endswith("/api/generate/rerender")) as rerender:
        page.click("#again")
    assert rerender.value.status == 200, rerender.value.text()
    sent = rerender.value.request.post_data_json
    assert sent["task_id"] == first_task and sent["input"]["bpm"] == 120 and "Bm" in sent["input"]["chords"]
    page.wait_for_function(f"() => document.body.dataset.results && document.body.dataset.taskId !== '{first_task}'",
                           timeout=RESULT_TIMEOUT_MS)
    assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
    again = page.evaluate("document.body.dataset.taskId")

    manifest = _manifest(server, again)
    take1 = manifest["variations"][0]
    assert abs(take1["tempo_bpm"] - 120) < 0.5
    assert "B:min" in [c["label"] for c in take1["chords"]]
    assert manifest["overrides"]["tempo_bpm"] == 120
    assert manifest["timings_seconds"]["analysis"] < 0.2  # not listened to again
    assert page.locator("#heard-text").text_content().startswith("Played as you said: 120 bpm")
    assert "120 bpm" in page.locator("article.variation .meta").first.text_content()

    # again, from the re-render: tap the beat along with take 1 (a tap every 0.6 s)
    page.wait_for_function("() => document.querySelector('article.variation audio').readyState >= 2",
                           timeout=20_000)
    # from where the voice comes in (the song file starts with the band's intro)
    page.evaluate("""() => {
      const card = document.querySelector('article.variation');
      card.querySelector('audio').currentTime = Number(card.dataset.offsetSeconds) + 0.3;
    }""")
    for _ in range(6):
        page.click("#tap")
        page.wait_for_timeout(600)
    assert page.locator("#tap-info").text_content().startswith("6 taps"), page.locator("#tap-info").text_content()
    with page.expect_response(lambda r: r.url.endswith("/api/generate/rerender")) as rerender:
        page.click("#again")
    sent = rerender.value.request.post_data_json
    assert sent["task_id"] == again and len(sent["input"]["tap_times_seconds"]) == 6
    assert "bpm" not in sent["input"] and "chords" not in sent["input"]
    page.wait_for_function(f"() => document.body.dataset.results && document.body.dataset.taskId !== '{again}'",
                           timeout=RESULT_TIMEOUT_MS)
    assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
    third = _manifest(server, page.evaluate("document.body.dataset.taskId"))
    assert third["overrides"]["tap_times_seconds"] == sent["input"]["tap_times_seconds"]
    assert "tempo_bpm" not in third["overrides"]  # the taps replace the typed tempo
    assert "B:min" in [c["label"] for c in third["variations"][0]["chords"]]  # the chart still stands
    beats = third["analysis"]["beats_seconds"]
    for tap in sent["input"]["tap_times_seconds"]:
        assert min(abs(b - tap) for b in beats) < 0.002
    assert not errors, errors
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-play-again.png"), full_page=True)
    page.close()


def test_recording_to_a_click_carries_its_tempo_and_grid(playwright, server: Server) -> None:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              "--autoplay-policy=no-user-gesture-required"],
    )
    try:
        page = browser.new_page()
        page.goto(server.base + "/")
        page.check("#click-on")
        page.fill("#click-tempo", "120")
        page.select_option("#click-meter", "3/4")
        page.select_option("#click-count-in", "1")
        page.click("#record")
        page.wait_for_selector("#record.recording", timeout=5_000)
        page.wait_for_timeout(3000)
        page.click("#record")
        page.wait_for_selector("#take:not([hidden])", timeout=5_000)
        assert "to a click at 120 bpm in 3/4" in page.locator("#take-name").text_content()
        recording = page.evaluate("window.sidemanRecording")
        # the metronome counted in and kept going; only the microphone was recorded
        assert recording["click"]["clicks"] >= 4, recording
        assert len(recording["recordedTracks"]) == 1, recording
        page.locator("#tags-suggestions button.suggestion").first.click()
        with page.expect_request(lambda r: r.url.endswith("/api/generate/submit")) as submitted:
            page.click("#submit")
        sent = submitted.value.post_data_json["input"]
        assert sent["bpm"] == 120 and sent["meter"] == "3/4"
        assert 0.2 <= sent["first_downbeat_seconds"] < 1.0, sent
    finally:
        browser.close()
