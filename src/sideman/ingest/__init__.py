"""ingest: bytes in, validated float32 audio out.

decode() reads anything PyAV opens (wav, mp3, flac, ogg, m4a, ...); validate() refuses
what cannot carry a song (silent, too short, too long) with errors that carry the
measured value."""

from sideman.ingest.decode import Audio, decode, load
from sideman.ingest.validate import level_dbfs, validate

__all__ = ["Audio", "decode", "level_dbfs", "load", "validate"]
