"""The routers create_app mounts."""

from sideman.api.routes import files, generate, ops, suno, uploads, web

__all__ = ["files", "generate", "ops", "suno", "uploads", "web"]
