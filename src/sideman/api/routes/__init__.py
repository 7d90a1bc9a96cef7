"""The routers create_app mounts. Importing `rerender` registers
POST /api/generate/rerender on generate.router."""

from sideman.api.routes import files, generate, ops, rerender, suno, uploads, web

__all__ = ["files", "generate", "ops", "rerender", "suno", "uploads", "web"]
