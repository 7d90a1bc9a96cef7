"""The routers create_app mounts."""

from sideman.api.routes import files, generate, ops, suno, uploads, web
from sideman.api.routes import rerender  # registers POST /api/generate/rerender on generate.router

__all__ = ["files", "generate", "ops", "rerender", "suno", "uploads", "web"]
