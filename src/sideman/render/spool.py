"""Long signals kept on disk instead of in memory.

Eight minutes of stereo float32 at 44.1 kHz is 170 MB an array, and a band has four to
six stems plus its reverb return: held in memory they alone would pass the 1.5 GB the
whole process may use. Above `SPOOL_ABOVE_SECONDS` the synthesizer and the mixer write
each finished stem to a temporary file and keep a `SpooledAudio` in its place; the
stems' common gain curve (compressor, balance, trim: one (n,) array) is applied as the
blocks are read back, so a stem costs memory only while it is being written out.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Iterator

import numpy as np

__all__ = ["SPOOL_ABOVE_SECONDS", "SpooledAudio", "should_spool"]

#: signals longer than this are spooled to disk (shorter ones stay in memory: faster)
SPOOL_ABOVE_SECONDS = 150.0
#: frames read back at a time
_BLOCK_FRAMES = 1 << 18


def should_spool(n_samples: int, *, sample_rate_hz: int) -> bool:
    """Whether a signal of n_samples frames is long enough to spool."""
    return n_samples > SPOOL_ABOVE_SECONDS * sample_rate_hz


class _File:
    """A temporary file, removed when the last SpooledAudio using it is gone."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="sideman-", suffix=".f32")
        os.close(fd)
        weakref.finalize(self, _remove, self.path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class SpooledAudio:
    """A stereo float32 signal [shape=(n, 2)] in a temporary file, times an optional
    per-frame gain [shape=(n,)] applied on reading. Read it whole with
    ``np.asarray(spooled)`` or block by block with `blocks`.

    >>> spooled = SpooledAudio.write(stem)        # stem: (n, 2) float32; now on disk
    >>> louder = spooled.with_gain(gain)          # same file, gain (n,) on reading
    >>> for block in louder.blocks(): ...
    """

    def __init__(self, file: _File, n_frames: int, gain: np.ndarray | None = None) -> None:
        self._file = file
        self.shape = (n_frames, 2)
        self.dtype = np.dtype(np.float32)
        self.gain = gain

    @classmethod
    def write(cls, audio: np.ndarray) -> SpooledAudio:
        """Write audio (n, 2) float32 to a new temporary file."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        file = _File()
        with open(file.path, "wb") as out:
            for start in range(0, len(audio), _BLOCK_FRAMES):
                out.write(audio[start : start + _BLOCK_FRAMES].tobytes())
        return cls(file, len(audio))

    def with_gain(self, gain: np.ndarray) -> SpooledAudio:
        """The same samples times gain (n,) (times any gain already set)."""
        combined = gain if self.gain is None else self.gain * gain
        return SpooledAudio(self._file, self.shape[0], combined)

    def __len__(self) -> int:
        return self.shape[0]

    def blocks(self, frames: int = _BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """Consecutive (k, 2) float32 blocks of at most `frames` frames, gain applied."""
        with open(self._file.path, "rb") as source:
            start = 0
            while start < self.shape[0]:
                block = np.fromfile(source, dtype=np.float32, count=2 * frames).reshape(-1, 2)
                if self.gain is not None:
                    gain = self.gain[start : start + len(block)]
                    block[:, 0] *= gain
                    block[:, 1] *= gain
                yield block
                start += len(block)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.empty(self.shape, dtype=np.float32)
        start = 0
        for block in self.blocks():
            out[start : start + len(block)] = block
            start += len(block)
        return out if dtype is None else out.astype(dtype, copy=False)
