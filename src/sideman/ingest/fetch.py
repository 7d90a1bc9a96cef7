"""Download a remote `upload_url` safely: size cap, time cap, no private addresses.

The guard resolves the host and refuses the request when any address it resolves to is
not a public unicast address (loopback, RFC 1918 private, link-local and the cloud
metadata address 169.254.169.254, CGNAT 100.64.0.0/10, IPv6 unique-local, multicast,
reserved, unspecified; IPv4-mapped IPv6 is judged by its IPv4 address). Redirects are
followed by hand, at most `max_redirects`, and every hop goes through the same guard.

Known gap (kept for later): the address is checked at resolution time and httpx
resolves again when it connects, so a DNS-rebinding host could still slip through
between the two. Pinning the connection to the checked address closes that.

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

import httpx

from sideman.errors import FetchError

log = logging.getLogger(__name__)

__all__ = ["Resolver", "check_url", "fetch_to_file", "is_forbidden_address"]

#: host name, port -> the IP addresses it resolves to
Resolver = Callable[[str, int], list[str]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
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
) -> Path:
    """Download `url` into `dest_dir` and return the file's path.

    max_bytes: refuse bodies larger than this (announced or actually sent).
    timeout_seconds: for each network step and for the whole download.
    what: the field name used in error messages.

    Raises FetchError with a message fit for an API `error_message`.
    """
    deadline = time.monotonic() + timeout_seconds
    dest_dir.mkdir(parents=True, exist_ok=True)
    with httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout_seconds),
        transport=transport,
        headers={"user-agent": "sideman/0.1 (+fetch)"},
    ) as client:
        current = url
        for _hop in range(max_redirects + 1):
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
                    return _save(response, url=current, dest_dir=dest_dir, max_bytes=max_bytes,
                                 deadline=deadline, timeout_seconds=timeout_seconds, what=what)
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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{what} must be an http(s) URL, got {url[:200]!r}")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"{what} has an invalid port") from exc
    try:
        ipaddress.ip_address(parts.hostname)
        addresses = [parts.hostname]  # a literal address needs no lookup
    except ValueError:
        addresses = None
    try:
        addresses = addresses or (resolver or _resolve)(parts.hostname, port)
    except OSError as exc:
        raise FetchError(f"{what} host {parts.hostname!r} could not be resolved") from exc
    if not addresses:
        raise FetchError(f"{what} host {parts.hostname!r} could not be resolved")
    for address in addresses:
        if is_forbidden_address(address):
            raise FetchError(
                f"{what} points at a private or local address ({address}), which is not allowed"
            )


def is_forbidden_address(address: str) -> bool:
    """True for any address that is not public unicast (see the module docstring)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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
    timeout_seconds: float,
    what: str,
) -> Path:
    announced = response.headers.get("content-length")
    if announced and announced.isdigit() and int(announced) > max_bytes:
        raise FetchError(f"{what} is {int(announced)} bytes; at most {max_bytes} bytes are accepted")
    target = dest_dir / f"input{_suffix(url, response.headers.get('content-type'))}"
    written = 0
    try:
        with open(target, "wb") as handle:
            for chunk in response.iter_bytes():
                written += len(chunk)
                if written > max_bytes:
                    raise FetchError(f"{what} is larger than the {max_bytes} byte limit")
                if time.monotonic() > deadline:
                    raise FetchError(f"{what} took longer than {timeout_seconds:g} s to download")
                handle.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    log.info("fetched %d bytes from %s", written, urlsplit(url).hostname)
    return target


def _suffix(url: str, content_type: str | None) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix in _AUDIO_SUFFIXES:
        return suffix
    if content_type:
        guessed = mimetypes.guess_extension(content_type.split(";", 1)[0].strip())
        if guessed:
            return guessed
    return ".bin"
