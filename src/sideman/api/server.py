"""serve(settings): run the app under uvicorn and tell the user where and with what key."""

from __future__ import annotations

import logging
import sys

from sideman.api.app import create_app
from sideman.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["serve"]


def serve(settings: Settings) -> None:
    """Run until interrupted. Prints the URL and a usable API key (log and stderr)."""
    import uvicorn

    app = create_app(settings)
    local_key = app.state.services.local_key
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    url = settings.public_base_url or f"http://{shown_host}:{settings.port}/"
    if local_key is None:
        key_line = "API key: use one you were given (create one with `sideman keys create`)"
    elif local_key.source == "settings":
        key_line = "API key: the one set in SIDEMAN_API_KEY"
    else:
        key_line = f"API key: {local_key.plain}  (kept in {settings.data_dir / 'local-api-key'})"
        if local_key.source == "created" and local_key.webhook_secret:
            key_line += (f"\n  webhook secret: {local_key.webhook_secret}  (kept in "
                         f"{settings.data_dir / 'local-webhook-secret'})")
    log.info("sideman listening on %s", url)
    log.info("%s", key_line)
    sys.stderr.write(f"\n  sideman is running at {url}\n  {key_line}\n\n")
    sys.stderr.flush()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
