"""SSRF protection over a table of addresses, the pinned connection (the address that
was checked is the one connected to, Host kept), redirects, download caps and content
sniffing. Network use: loopback only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sideman.errors import FetchError, UnreadableAudio
from sideman.ingest.fetch import check_url, fetch_to_file, pick_address

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)

# (url, why it must be refused)
REFUSED = [
    ("http://127.0.0.1/a.wav", "loopback"),
    ("http://127.1.2.3/a.wav", "loopback range"),
    ("http://[::1]/a.wav", "IPv6 loopback"),
    ("http://localhost/a.wav", "loopback by name"),
    ("http://10.0.0.7/a.wav", "RFC 1918"),
    ("http://172.16.5.4/a.wav", "RFC 1918"),
    ("http://172.31.255.255/a.wav", "RFC 1918"),
    ("http://192.168.0.10/a.wav", "RFC 1918"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://169.254.10.10/a.wav", "link-local"),
    ("http://[fe80::1]/a.wav", "IPv6 link-local"),
    ("http://100.64.0.1/a.wav", "CGNAT"),
    ("http://100.127.255.254/a.wav", "CGNAT"),
    ("http://[fd12:3456::1]/a.wav", "IPv6 unique-local"),
    ("http://[fc00::1]/a.wav", "IPv6 unique-local"),
    ("http://0.0.0.0/a.wav", "unspecified"),
    ("http://[::]/a.wav", "IPv6 unspecified"),
    ("http://[::ffff:127.0.0.1]/a.wav", "IPv4-mapped loopback"),
    ("http://[::ffff:169.254.169.254]/a.wav", "IPv4-mapped metadata"),
    ("http://224.0.0.1/a.wav", "multicast"),
    ("http://255.255.255.255/a.wav", "broadcast"),
    ("http://240.0.0.1/a.wav", "reserved"),
    ("http://198.18.0.1/a.wav", "benchmarking"),
    ("http://192.0.2.1/a.wav", "documentation"),
    ("http://2130706433/a.wav", "decimal-encoded loopback"),
    ("http://0x7f000001/a.wav", "hex-encoded loopback"),
    ("http://127.1/a.wav", "short-form loopback"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://example.com/", "scheme"),
    ("ftp://example.com/a.wav", "scheme"),
    ("http:///a.wav", "no host"),
]

PUBLIC_URLS = ["http://93.184.216.34/a.wav", "https://[2606:4700::1111]/a.wav",
               "https://8.8.8.8:8443/a.wav"]


@pytest.mark.parametrize(("url", "why"), REFUSED, ids=[f"{w}:{u}" for u, w in REFUSED])
def test_refused_addresses(url: str, why: str) -> None:
    with pytest.raises(FetchError):
        check_url(url, allow_private=False, what="upload_url")


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_addresses_pass(url: str) -> None:
    check_url(url, allow_private=False)


@pytest.mark.parametrize(
    ("answers", "refused"),
    [(["93.184.216.34"], False), (["10.0.0.1"], True), (["93.184.216.34", "127.0.0.1"], True),
     (["2606:4700::1111", "fd00::1"], True), (["169.254.169.254"], True), ([], True)],
)
def test_every_resolved_address_is_checked(answers: list[str], refused: bool) -> None:
    resolver = lambda _host, _port: list(answers)  # noqa: E731
    if refused:
        with pytest.raises(FetchError):
            check_url("https://media.example/a.wav", allow_private=False, resolver=resolver)
    else:
        check_url("https://media.example/a.wav", allow_private=False, resolver=resolver)


def test_pick_address_returns_a_checked_address() -> None:
    assert pick_address("media.example", 443, allow_private=False,
                        resolver=lambda h, p: ["93.184.216.34", "93.184.216.35"]) == "93.184.216.34"
    assert pick_address("[::1]", 80, allow_private=True) == "::1"


# --- a real loopback server -----------------------------------------------------------------

class Server:
    """Answers GET by path: /v.wav audio, /page.html text, /slow drips, /big streams."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                server.hosts.append(self.headers.get("host", ""))
                if self.path == "/v.wav":
                    self._send(200, WAV, "audio/wav")
                elif self.path == "/page.html":
                    self._send(200, b"<html>not audio</html>", "text/html")
                elif self.path == "/to-metadata":
                    self.send_response(302)
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/slow":
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/wav")
                    self.send_header("Content-Length", str(len(WAV) * 100))
                    self.end_headers()
                    for _ in range(100):
                        self.wfile.write(WAV)
                        self.wfile.flush()
                        time.sleep(0.05)
                elif self.path == "/big":  # no Content-Length: only the count can stop it
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/wav")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        for _ in range(200):
                            self.wfile.write(WAV * 10)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    self.close_connection = True
                else:
                    self._send(404, b"", "text/plain")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


def to_loopback(_host: str, _port: int) -> list[str]:
    return ["127.0.0.1"]


def fetch(url: str, tmp_path: Path, **options: object) -> Path:
    values: dict = {"dest_dir": tmp_path / "in", "max_bytes": 100_000, "timeout_seconds": 5.0}
    values.update(options)
    return fetch_to_file(url, **values)


def test_connects_to_the_resolved_address_and_keeps_the_host(server: Server, tmp_path: Path) -> None:
    # media.test does not exist: the only way to reach the server is the pinned address
    saved = fetch(f"http://media.test:{server.port}/v.wav", tmp_path, allow_private=True,
                  resolver=to_loopback)
    assert saved.read_bytes() == WAV
    assert server.hosts == [f"media.test:{server.port}"]


def test_dns_rebinding_is_refused_at_connect(server: Server, tmp_path: Path) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]])
    rebinding: Callable[[str, int], list[str]] = lambda _h, _p: next(answers)  # noqa: E731
    with pytest.raises(FetchError, match="private or local"):
        fetch(f"http://rebind.test:{server.port}/v.wav", tmp_path, allow_private=False,
              resolver=rebinding)
    assert server.hosts == []  # nothing ever reached the private address


def test_redirect_to_a_private_address_is_refused(server: Server, tmp_path: Path) -> None:
    # the first hop is allowed (a test setting); the hop it redirects to is checked again
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if request.url.host == "cdn.example.com":
            return httpx.Response(302, headers={"location": str(request.url.copy_with(
                host="127.0.0.1", port=server.port))})
        return httpx.Response(200, content=WAV)

    with pytest.raises(FetchError, match="private or local"):
        fetch("https://cdn.example.com/v.wav", tmp_path, transport=httpx.MockTransport(handler),
              resolver=lambda _h, _p: ["93.184.216.34"])
    assert calls["n"] == 1


@pytest.mark.parametrize("target", ["http://169.254.169.254/", "http://[::1]:8080/x",
                                    "http://10.1.1.1/x", "file:///etc/passwd"])
def test_every_redirect_hop_is_checked(tmp_path: Path, target: str) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(301, headers={"location": target})
                                    if r.url.host == "cdn.example.com" else httpx.Response(200, content=WAV))
    with pytest.raises(FetchError):
        fetch("https://cdn.example.com/v.wav", tmp_path, transport=transport,
              resolver=lambda _h, _p: ["93.184.216.34"])


def test_too_many_redirects(tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(302, headers={"location": "/again"}))
    with pytest.raises(FetchError, match="redirected more than 2"):
        fetch("https://cdn.example.com/v.wav", tmp_path, transport=transport, max_redirects=2,
              resolver=lambda _h, _p: ["93.184.216.34"])


def test_download_time_cap(server: Server, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="longer than|did not answer"):
        fetch(f"http://127.0.0.1:{server.port}/slow", tmp_path, allow_private=True,
              timeout_seconds=0.5, max_bytes=10**7)
    assert time.monotonic() - started < 3.0


def test_download_byte_cap_without_content_length(server: Server, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="byte limit"):
        fetch(f"http://127.0.0.1:{server.port}/big", tmp_path, allow_private=True,
              max_bytes=5_000)
    assert not list((tmp_path / "in").iterdir())


def test_not_audio_is_refused_as_unreadable(server: Server, tmp_path: Path) -> None:
    with pytest.raises(UnreadableAudio, match="not audio"):
        fetch(f"http://127.0.0.1:{server.port}/page.html", tmp_path, allow_private=True)
    assert not list((tmp_path / "in").iterdir())


def test_private_addresses_refused_by_default_for_real_connections(server: Server,
                                                                   tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="private or local"):
        fetch(f"http://127.0.0.1:{server.port}/v.wav", tmp_path)
    assert server.hosts == []
