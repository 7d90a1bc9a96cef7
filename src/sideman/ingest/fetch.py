"""Download a remote `upload_url` safely: size cap, time cap, no private addresses.

The guard resolves the host and refuses the request when any address it resolves to is
not a public unicast address (loopback, RFC 1918 private, link-local and the cloud
metadata address 169.254.169.254, CGNAT 100.64.0.0/10, IPv6 unique-local, multicast,
reserved, unspecified). An IPv6 address that carries an IPv4 address is also judged by
that address, in every transition form: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
(::a.b.c.d), 6to4 (2002:AABB:CCDD::/48), NAT64 (64:ff9b::/96 and the local-use
64:ff9b:1::/48) and Teredo (2001::/32, its server and its client). Redirects are
followed by hand, at most `max_redirects`, and every hop goes through the same guard.

Slow hosts: `deadline_seconds` caps a whole download and `min_bytes_per_second` gives
up a body that trickles (averaged over `rate_window_seconds`), so a host that sends a
byte a second holds a download thread for seconds, not minutes. `check_url_literal` is
the part of the guard that needs no DNS (scheme, port, a literal address, localhost):
the API runs it at submit, so a bad URL is a 422 then, not a failed task later.

The connection goes to the address that was checked: `guarded_transport()` gives httpx
a network backend that resolves the host itself, checks every address, and connects to
a checked one, while the URL (and so the Host header and the TLS SNI / certificate
check) keeps the host name. A DNS-rebinding host that answers a public address to the
check and a private one to the connect therefore cannot slip through. Proxies from the
environment are not used (they would move the connect elsewhere).

Downloaded bytes are sniffed: what is not audio (by its first bytes, or failing that an
``audio/*`` content type) is refused with `UnreadableAudio` (HTTP 415).

    >>> check_url("http://127.0.0.1/x.wav", allow_private=False)
    Traceback (most recent call last):
    ...
    sideman.errors.FetchError: upload_url points at a private or local address (127.0.0.1), which is not allowed
"""

from __future__ import annotations

import ipaddress
import logging
import mimetypes
import socket
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from sideman.errors import FetchError, UnreadableAudio

log = logging.getLogger(__name__)

__all__ = [
    "Resolver",
    "check_url",
    "check_url_literal",
    "fetch_to_file",
    "guarded_transport",
    "is_forbidden_address",
    "pick_address",
    "sniff_audio",
]

#: host name, port -> the IP addresses it resolves to
Resolver = Callable[[str, int], list[str]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac",
                   ".webm", ".aif", ".aiff", ".wma"}


def fetch_to_file(
    url: str,
    *,
    dest_dir: Path,
    max_bytes: int,
    timeout_seconds: float,
    allow_private: bool = False,
    max_redirects: int = 5,
    what: str = "upload_url",
    transport: httpx.BaseTransport | None = None,
    resolver: Resolver | None = None,
    require_audio: bool = True,
    deadline_seconds: float | None = None,
    min_bytes_per_second: int = 0,
    rate_window_seconds: float = 10.0,
) -> Path:
    """Download `url` into `dest_dir` and return the file's path.

    max_bytes: refuse bodies larger than this (announced or actually sent).
    timeout_seconds: for each network step (connect, each read).
    deadline_seconds: for the whole download, redirects included (default:
    timeout_seconds).
    min_bytes_per_second: give up a body that arrives slower than this, averaged over
    each `rate_window_seconds` (0: no minimum).
    what: the field name used in error messages.
    transport: for tests; by default `guarded_transport()` (connects only to checked
    addresses).
    require_audio: refuse (UnreadableAudio, 415) a body that does not sniff as audio.

    Raises FetchError with a message fit for an API `error_message`.
    """
    total_seconds = timeout_seconds if deadline_seconds is None else deadline_seconds
    deadline = time.monotonic() + total_seconds
    dest_dir.mkdir(parents=True, exist_ok=True)
    if transport is None:
        transport = guarded_transport(allow_private=allow_private, resolver=resolver, what=what)
    with httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout_seconds),
        transport=transport,
        trust_env=False,
        headers={"user-agent": "sideman/0.1 (+fetch)"},
    ) as client:
        current = url
        for _hop in range(max_redirects + 1):
            if time.monotonic() > deadline:
                raise FetchError(f"{what} took longer than {total_seconds:g} s to download")
            check_url(current, allow_private=allow_private, what=what, resolver=resolver)
            try:
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError(f"{what} answered a redirect without a Location")
                        current = urljoin(current, location)
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"{what} answered HTTP {response.status_code}")
                    saved = _save(response, url=current, dest_dir=dest_dir, max_bytes=max_bytes,
                                  deadline=deadline, total_seconds=total_seconds, what=what,
                                  min_bytes_per_second=min_bytes_per_second,
                                  rate_window_seconds=rate_window_seconds)
                    if require_audio:
                        _require_audio(saved, response.headers.get("content-type"), what=what)
                    return saved
            except httpx.TimeoutException as exc:
                raise FetchError(f"{what} did not answer within {timeout_seconds:g} s") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{what} could not be downloaded ({type(exc).__name__})") from exc
        raise FetchError(f"{what} redirected more than {max_redirects} times")


def check_url(
    url: str, *, allow_private: bool, what: str = "upload_url", resolver: Resolver | None = None
) -> None:
    """Refuse a URL that is not http(s) or that resolves to a non-public address.

    Raises FetchError. With allow_private only the scheme and host are checked.
    """
    host, port = check_url_literal(url, allow_private=allow_private, what=what)
    if allow_private:
        return
    pick_address(host, port, allow_private=False, what=what, resolver=resolver)


def check_url_literal(url: str, *, allow_private: bool, what: str = "upload_url") -> tuple[str, int]:
    """The checks that need no DNS: an http(s) URL with a host, a port in 1..65535 and,
    unless allow_private, no literal private address nor `localhost`. Returns (host,
    port). Raises FetchError.

    >>> check_url_literal("http://example.com:99999/a.wav", allow_private=False)
    Traceback (most recent call last):
    ...
    sideman.errors.FetchError: upload_url has an invalid port (1 to 65535)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{what} must be an http(s) URL, got {url[:200]!r}")
    try:
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"{what} has an invalid port (1 to 65535)") from exc
    if not 1 <= port <= 65535:
        raise FetchError(f"{what} has an invalid port (1 to 65535)")
    host = parts.hostname.strip("[]")
    if allow_private:
        return host, port
    literal = _literal_address(host)
    if literal is not None and is_forbidden_address(literal):
        raise FetchError(f"{what} points at a private or local address ({literal}), which is not allowed")
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise FetchError(f"{what} points at a private or local address ({host}), which is not allowed")
    return host, port


def _literal_address(host: str) -> str | None:
    """The address a literal host names, in any form the resolver would accept
    (``127.1``, ``0x7f000001``, ``2130706433``), or None for a name."""
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))  # the short and numeric IPv4 forms
    except OSError:
        return None


def pick_address(
    host: str, port: int, *, allow_private: bool, what: str = "upload_url",
    resolver: Resolver | None = None,
) -> str:
    """The address to connect to for `host`: resolved once, every address checked (any
    forbidden one refuses the host, unless allow_private), the first one returned.

    Raises FetchError.
    """
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        addresses = [host]
    except ValueError:
        try:
            addresses = (resolver or _resolve)(host, port)
        except OSError as exc:
            raise FetchError(f"{what} host {host!r} could not be resolved") from exc
    if not addresses:
        raise FetchError(f"{what} host {host!r} could not be resolved")
    if not allow_private:
        for address in addresses:
            if is_forbidden_address(address):
                raise FetchError(
                    f"{what} points at a private or local address ({address}), which is not allowed"
                )
    return addresses[0]


def guarded_transport(
    *, allow_private: bool, what: str = "upload_url", resolver: Resolver | None = None
) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes to an address `pick_address`
    checked (see the module docstring). Host header and SNI keep the host name."""
    transport = httpx.HTTPTransport(retries=0)
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):  # pragma: no cover
        raise RuntimeError("this httpx/httpcore version does not take a network backend")
    pool._network_backend = _PinnedBackend(allow_private=allow_private, what=what,
                                           resolver=resolver)
    return transport


class _PinnedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting to a checked address instead of the name."""

    def __init__(self, *, allow_private: bool, what: str, resolver: Resolver | None) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private
        self._what = what
        self._resolver = resolver

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:  # noqa: ANN001
        address = pick_address(host, port, allow_private=self._allow_private, what=self._what,
                               resolver=self._resolver)
        return self._inner.connect_tcp(address, port, timeout=timeout,
                                       local_address=local_address,
                                       socket_options=socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options=None) -> httpcore.NetworkStream:  # noqa: ANN001
        raise FetchError(f"{self._what} may not use a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def sniff_audio(head: bytes) -> str | None:
    """The audio MIME type the first bytes announce, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:3] == b"ID3":
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "audio/webm"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "audio/x-ms-wma"
    return None


def is_forbidden_address(address: str) -> bool:
    """True for any address that is not public unicast (see the module docstring)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif any(_forbidden_ip(inner) for inner in _embedded_ipv4(ip)):
            return True
    return _forbidden_ip(ip)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 transition address carries (see the module docstring)."""
    inner: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        inner.append(ip.sixtofour)
    if ip.teredo is not None:
        inner.extend(ip.teredo)
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in network for network in _NAT64) or ip in _IPV4_COMPATIBLE:
        inner.append(low32)
    return inner


def _forbidden_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _save(
    response: httpx.Response,
    *,
    url: str,
    dest_dir: Path,
    max_bytes: int,
    deadline: float,
    total_seconds: float,
    what: str,
    min_bytes_per_second: int = 0,
    rate_window_seconds: float = 10.0,
) -> Path:
    announced = response.headers.get("content-length")
    if announced and announced.isdigit() and int(announced) > max_bytes:
        raise FetchError(f"{what} is {int(announced)} bytes; at most {max_bytes} bytes are accepted")
    target = dest_dir / f"input{_suffix(url, response.headers.get('content-type'))}"
    written = 0
    window_start, window_bytes = time.monotonic(), 0
    try:
        with open(target, "wb") as handle:
            for chunk in response.iter_bytes():
                written += len(chunk)
                window_bytes += len(chunk)
                if written > max_bytes:
                    raise FetchError(f"{what} is larger than the {max_bytes} byte limit")
                now = time.monotonic()
                if now > deadline:
                    raise FetchError(f"{what} took longer than {total_seconds:g} s to download")
                if min_bytes_per_second and now - window_start >= rate_window_seconds:
                    rate = window_bytes / (now - window_start)
                    if rate < min_bytes_per_second:
                        raise FetchError(
                            f"{what} is sending too slowly ({rate:.0f} bytes/s over "
                            f"{now - window_start:.0f} s; at least {min_bytes_per_second} "
                            "bytes/s is needed)"
                        )
                    window_start, window_bytes = now, 0
                handle.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    log.info("fetched %d bytes from %s", written, urlsplit(url).hostname)
    return target


def _require_audio(path: Path, content_type: str | None, *, what: str) -> None:
    with open(path, "rb") as handle:
        head = handle.read(64)
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if sniff_audio(head) is None and not declared.startswith("audio/"):
        path.unlink(missing_ok=True)
        raise UnreadableAudio(
            f"{what} is not audio (its first bytes are no audio format we know and its "
            f"content type is {declared or 'missing'!r})"
        )


def _suffix(url: str, content_type: str | None) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix in _AUDIO_SUFFIXES:
        return suffix
    if content_type:
        guessed = mimetypes.guess_extension(content_type.split(";", 1)[0].strip())
        if guessed:
            return guessed
    return ".bin"
