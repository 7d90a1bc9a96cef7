"""Loopback helpers for the reliability suite (tests/test_reliability_*.py): the app
under a real uvicorn server, a host that trickles bytes, a callback receiver that
records or hangs, and audio files that are wrong in known ways."""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from sideman.settings import Settings


def reliability_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict = {"data_dir": tmp_path / "data", "task_lease_seconds": 30.0,
                    "callback_retry_delays_seconds": (0.05,), "callback_backoff_seconds": (),
                    "rate_limit_per_minute": 0, "submit_rate_limit_per_minute": 0,
                    "allow_private_urls": True, "min_free_disk_bytes": 0}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(app) -> Iterator[str]:  # noqa: ANN001
    """`app` under uvicorn on a loopback port (its lifespan runs); yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Receiver:
    """Records the callbacks it gets (path, time); paths under /hang/ wait `hang_seconds`."""

    hang_seconds: float = 0.0
    got: list[tuple[str, float, bytes]] = field(default_factory=list)
    url: str = ""


@contextmanager
def callback_receiver(*, hang_seconds: float = 0.0) -> Iterator[Receiver]:
    receiver = Receiver(hang_seconds=hang_seconds)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path.startswith("/hang/"):
                time.sleep(receiver.hang_seconds)
            receiver.got.append((self.path, time.monotonic(), body))
            try:
                self.send_response(200)
                self.end_headers()
            except OSError:
                pass

        def log_message(self, *_args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def slow_host(*, bytes_per_second: float = 1.0, total_bytes: int = 4096) -> Iterator[str]:
    """A host that announces `total_bytes` of WAV and sends them at `bytes_per_second`;
    yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            payload = wav_bytes(seconds=total_bytes / 16000)[:total_bytes]
            try:
                self.send_response(200)
                self.send_header("content-type", "audio/wav")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                for byte in payload:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(1.0 / bytes_per_second)
            except OSError:  # the client gave up on us: that is the point
                pass

        def log_message(self, *_args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- audio that is wrong in known ways --------------------------------------------------


def wav_bytes(*, seconds: float = 3.0, sample_rate_hz: int = 16000, frequency_hz: float = 220.0) -> bytes:
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    samples = (0.3 * np.sin(2 * np.pi * frequency_hz * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate_hz)
        handle.writeframes(samples.tobytes())
    return buffer.getvalue()


def raw_wav(samples: np.ndarray, *, sample_rate_hz: int, float32: bool = False,
            channels: int | None = None, format_tag: int | None = None) -> bytes:
    """A WAV file written by hand, so its header may say anything (0 channels, 65535
    channels, a 1 Hz rate, an unknown codec). samples: [shape=(n,) or (n, channels)]."""
    data = np.asarray(samples, dtype=np.float64)
    count = channels if channels is not None else (data.shape[1] if data.ndim == 2 else 1)
    if float32:
        raw, bits, tag = data.astype("<f4").tobytes(), 32, 3
    else:
        raw, bits, tag = (np.clip(data, -1, 1) * 32767).astype("<i2").tobytes(), 16, 1
    tag = format_tag if format_tag is not None else tag
    block = min(65535, max(count, 1) * bits // 8)
    header = (b"RIFF" + struct.pack("<I", 36 + len(raw)) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, tag, min(count, 65535), sample_rate_hz,
                            sample_rate_hz * block, block, bits)
              + b"data" + struct.pack("<I", len(raw)))
    return header + raw


def tone(seconds: float = 3.0, *, sample_rate_hz: int = 16000, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    return level * np.sin(2 * np.pi * 220.0 * t)


def encoded(path: Path, samples: np.ndarray, *, sample_rate_hz: int = 44100) -> bytes:
    """`samples` encoded by the suffix of `path` (flac, ogg) with PyAV."""
    from signals import write_audio

    write_audio(path, samples.astype(np.float32), sample_rate_hz=sample_rate_hz)
    return path.read_bytes()
