"""The page a singer uses (`/`) and its static files (`/static/...`).

The page needs an API key. When the server is bound to loopback and the request
comes straight from loopback (no proxy headers) to a loopback host name, the local
key is written into the page; otherwise the page asks for a key. The host-name check
keeps a DNS-rebinding site from reading the key out of a local server.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from sideman.api.deps import Services, ServicesDep

__all__ = ["page_key", "router", "tag_suggestions"]

router = APIRouter(tags=["web"])

_PLACEHOLDER = "__SIDEMAN_CONFIG__"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src * data: blob:; media-src * blob:; connect-src 'self'; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request, services: ServicesDep) -> HTMLResponse:
    config = {"apiKey": page_key(request, services), "tags": tag_suggestions()}
    script = json.dumps(config).replace("<", "\\u003c").replace("&", "\\u0026")
    html = resources.files("sideman.web").joinpath("index.html").read_text(encoding="utf-8")
    return HTMLResponse(html.replace(_PLACEHOLDER, script), headers=_PAGE_HEADERS)


@lru_cache(maxsize=1)
def tag_suggestions() -> dict[str, list[str]]:
    """The names the page suggests as tags: genres, instruments and moods of the style
    vocabulary (sideman/style/vocabulary.json)."""
    from sideman.style import vocabulary

    words = vocabulary()
    return {kind: list(words.get(kind) or {}) for kind in ("genres", "instruments", "moods")}


def page_key(request: Request, services: Services) -> str | None:
    """The key to write into the page, or None (the page then asks for one)."""
    if services.local_key is None or not _is_loopback(services.settings.host):
        return None
    client = request.client.host if request.client else ""
    if not _is_loopback(client) or any(h in request.headers for h in _PROXY_HEADERS):
        return None
    if not _is_loopback(request.url.hostname or ""):
        return None
    return services.local_key.plain


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
