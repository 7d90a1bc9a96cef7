"""The HTTP service: `create_app(settings)` builds it, `serve(settings)` runs it."""

from sideman.api.app import create_app
from sideman.api.server import serve

__all__ = ["create_app", "serve"]
