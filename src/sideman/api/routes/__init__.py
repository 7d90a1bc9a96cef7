"""The routers create_app mounts."""

from sideman.api.routes import files, generate, uploads, web

__all__ = ["files", "generate", "uploads", "web"]
