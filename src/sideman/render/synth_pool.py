"""Synthesis in worker processes, in time slices, on every core.

tinysoundfont holds the GIL while it renders. In threads, two variations' synthesis
ran one after the other and stalled every other thread's Python meanwhile (measured on
a 60 s input: the mix of variation 1 took 1.6 s of wall time for 0.8 s of CPU while
variation 2 synthesized beside it). Here each role is cut into as many time slices as
there are workers (slices of at most `SLICE_MAX_SECONDS`), the costliest roles first,
and the slices are rendered by a pool of worker processes straight into one temporary
file per role; the caller reads the file back (or keeps it on disk
as `SpooledAudio` for long inputs, as `render_stems` does).

Memory: one server process, started with a clean interpreter, loads the SoundFont
(tinysoundfont decodes FluidR3_GM to ~440 MB of float32) and then forks the workers, so
they share those pages and the calling process never loads the font. Two sets of
workers: urgent ones at normal priority render the first variation, background ones
(`BACKGROUND_NICENESS`) the others, so the synthesis of variation 2 can start at once
and still only fill the cores that the first variation's synthesis, mixing and
encoding leave idle.

Slices: a slice renders the notes that sound in it, starting any note that began
before it from its start (see `render_track`), so the slices join without a seam;
tests/test_render_synth_pool.py measures the joined slices against one whole render.

Where no pool can be had (a platform without ``fork``, a server that did not start)
the stems are rendered in the calling process with `render_stems`, and the reason is
logged once. A worker that dies costs the render it was part of its speed (the rest is
rendered in the calling process); the next render starts new workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import math
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from sideman.music.model import Score, Track
from sideman.render.soundfonts import SoundFont, installed_drum_kits
from sideman.render.spool import SpooledAudio, _File, should_spool
from sideman.render.synth import preload, render_stems, render_track

__all__ = ["BACKGROUND_NICENESS", "SLICE_MAX_SECONDS", "URGENT_NICENESS", "prestart", "render_stems_in_processes",
           "shutdown", "start_stems"]

logger = logging.getLogger(__name__)

#: a role is cut into one slice per worker, each at most this long: every seam costs
#: the re-rendering of the notes still sounding there (a pad chord and its release:
#: measured +25 % of the pad's CPU with 20 s slices of a 64 s band), and a slice's audio
#: is a worker's private memory (60 s of stereo float32: 21 MB)
SLICE_MAX_SECONDS = 60.0
#: slices per worker and role (2 measured slower on a 64 s band: the seams cost more
#: than the finer balance gains)
SLICES_PER_WORKER = 1
#: niceness of the workers that render the first variation (what the `first` callback
#: waits for) and of those that render the others in the background: under contention
#: the kernel gives a nice-10 process about a tenth of a nice-0 one's share
URGENT_NICENESS = 0
BACKGROUND_NICENESS = 10
#: a voice's typical release after note-off, for estimating a slice's cost
_RELEASE_SECONDS = 1.0

_pool: _Pool | None = None
_pool_lock = threading.Lock()
_declined: str | None = None  # why this process renders in-process (logged once)


def render_stems_in_processes(
    score: Score,
    *,
    soundfont: SoundFont,
    sample_rate_hz: int,
    origin_seconds: float,
    duration_seconds: float,
    workers: int,
    spool: bool | None = None,
    urgent: bool = True,
) -> dict[str, np.ndarray | SpooledAudio]:
    """`render_stems`, with the work spread over `workers` processes; blocks until done.

    Same parameters, result and errors as `render_stems`; workers <= 0 (or no pool to
    be had) renders in this process.
    """
    kwargs = {"soundfont": soundfont, "sample_rate_hz": sample_rate_hz, "origin_seconds": origin_seconds,
              "duration_seconds": duration_seconds, "spool": spool}
    started = start_stems(score, workers=workers, urgent=urgent, **kwargs)
    if started is not None:
        try:
            return started.result()
        except BrokenProcessPool:
            pass  # start_stems has given the pool up; render here
    return render_stems(score, **kwargs)


def start_stems(
    score: Score,
    *,
    soundfont: SoundFont,
    sample_rate_hz: int,
    origin_seconds: float,
    duration_seconds: float,
    workers: int,
    spool: bool | None = None,
    urgent: bool = True,
) -> Future | None:
    """Start rendering a score's stems in the worker processes and return at once.

    Returns a Future of `render_stems`'s result (its error: the first error of a
    slice, or BrokenProcessPool if a worker died: render in-process then), completed
    on one of this module's threads; or None where no pool can be had (workers <= 0,
    see the module docstring): the caller renders with `render_stems` itself.
    urgent: render on the workers at full priority (the first variation); False: on
    the background workers, which take the cores only when nothing urgent wants them.
    """
    n = round(duration_seconds * sample_rate_hz)
    if not 8000 <= sample_rate_hz <= 192000 or n <= 0 or workers <= 0:
        return None  # render_stems raises the precise error, or there is nothing to share out
    pool = _process_pool(soundfont, sample_rate_hz, workers)
    if pool is None:
        return None
    if spool is None:
        spool = should_spool(n, sample_rate_hz=sample_rate_hz)
    by_role: dict[str, list[Track]] = {}
    for track in score.tracks:
        by_role.setdefault(track.role, []).append(track)
    slices = max(SLICES_PER_WORKER * workers, math.ceil(n / (SLICE_MAX_SECONDS * sample_rate_hz)))
    slice_frames = max(1, math.ceil(n / slices))
    files: dict[str, _File] = {}
    costed = []
    for role, tracks in by_role.items():
        files[role] = file = _File()
        with open(file.path, "r+b") as out:
            out.truncate(n * 2 * 4)  # float32 stereo; slices with no notes stay zero
        for start in range(0, n, slice_frames):
            stop = min(n, start + slice_frames)
            begin = origin_seconds + start / sample_rate_hz
            cost = _note_seconds(tracks, begin, begin + (stop - start) / sample_rate_hz)
            costed.append((cost, (soundfont, sample_rate_hz, tuple(tracks), begin, start, stop, file.path)))
    # the costliest slices first: the first free worker takes the next one, so the workers
    # finish together (longest-processing-time-first scheduling)
    jobs = [job for _, job in sorted(costed, key=lambda item: -item[0])]
    result: Future = Future()
    result.set_running_or_notify_cancel()
    remaining = [len(jobs)]
    lock = threading.Lock()

    def slice_done(done: Future) -> None:
        error = done.exception() if not done.cancelled() else BrokenProcessPool("cancelled")
        with lock:
            if result.done():
                return
            if error is not None:
                if isinstance(error, BrokenProcessPool):
                    _discard_pool(str(error))
                result.set_exception(error)
                return
            remaining[0] -= 1
            if remaining[0]:
                return
        try:
            if spool:
                stems = {role: SpooledAudio(file, n) for role, file in files.items()}
            else:
                stems = {role: np.fromfile(file.path, dtype=np.float32).reshape(n, 2) for role, file in files.items()}
        except Exception as failure:  # noqa: BLE001 - handed to the waiting caller
            result.set_exception(failure)
        else:
            result.set_result(stems)

    if not jobs:  # a score without tracks
        result.set_result({})
    for job in jobs:
        pool.submit(_render_slice, *job, urgent=urgent).add_done_callback(slice_done)
    return result


def _note_seconds(tracks: list[Track], begin: float, end: float) -> float:
    """What a slice costs to render, roughly: the seconds its voices sound, counting the
    pre-roll of notes that began before it and a second of release after each."""
    total = 0.0
    for track in tracks:
        for note in track.notes:
            if note.start_seconds < end and note.end_seconds + _RELEASE_SECONDS > begin:
                total += min(note.end_seconds + _RELEASE_SECONDS, end) - note.start_seconds
    return total


def _render_slice(font: SoundFont, sample_rate_hz: int, tracks: tuple[Track, ...], origin_seconds: float,
                  start: int, stop: int, out_path: str) -> None:
    """In a worker: render frames [start, stop) of the summed tracks into out_path."""
    audio = None
    for track in tracks:
        part = render_track(track, soundfont=font, sample_rate_hz=sample_rate_hz, origin_seconds=origin_seconds,
                            n_samples=stop - start)
        audio = part if audio is None else audio + part
    if audio is None or not audio.any():
        return  # the file is zero there already
    fd = os.open(out_path, os.O_WRONLY)
    try:
        os.pwrite(fd, np.ascontiguousarray(audio, dtype=np.float32).tobytes(), start * 2 * 4)
    finally:
        os.close(fd)


def prestart(soundfont: SoundFont, *, sample_rate_hz: int, workers: int) -> None:
    """Start the worker processes now, if they will be wanted and are not running: the
    server loads the font while the caller does something else. Never raises."""
    if workers > 0:
        try:
            _process_pool(soundfont, sample_rate_hz, workers)
        except Exception:  # noqa: BLE001 - start_stems will try again, or render in-process
            logger.exception("the synthesis processes did not start")


def _process_pool(soundfont: SoundFont, sample_rate_hz: int, workers: int) -> _Pool | None:
    """The process's synthesis pool for this font and rate, started on first use; None
    where there can be none (see the module docstring)."""
    global _pool, _declined
    key = (str(soundfont.path), int(sample_rate_hz))
    with _pool_lock:
        if _pool is not None and _pool.key == key and not _pool.broken:
            return _pool
        if _declined is not None:
            return None
        if _pool is not None and _pool.key != key:  # one font at a time: each costs ~440 MB
            logger.info("synthesizing %s in this process: the workers hold %s", key[0], _pool.key[0])
            return None
        if not hasattr(os, "fork") or not hasattr(socket, "socketpair"):
            _decline("this platform cannot fork")
            return None
        try:
            _pool = _Pool(key, workers)
        except (OSError, RuntimeError) as error:
            _decline(f"the synthesis processes did not start ({error})")
            return None
        logger.info("synthesis in %d worker processes (%s at %d Hz)", workers, soundfont.name, sample_rate_hz)
        return _pool


class _Pool:
    """Worker processes, each driven by one thread of this process over a socket.

    One server process is started with a clean interpreter (``python -m``; nothing of
    the caller is re-imported, no threads): it loads the font, forks the workers (safe:
    it has one thread) and waits for them. A worker answers one job at a time and exits
    when its socket closes, so the workers and the server end with this process."""

    def __init__(self, key: tuple[str, int], workers: int) -> None:
        self.key = key
        self.broken = False
        # `workers` urgent ones and as many in the background, each with its own queue
        self._queues = {True: queue.SimpleQueue(), False: queue.SimpleQueue()}
        urgency = [True] * workers + [False] * workers
        ours, theirs = zip(*(socket.socketpair() for _ in urgency), strict=True)
        fds = [s.fileno() for s in theirs]
        nices = [URGENT_NICENESS if u else BACKGROUND_NICENESS for u in urgency]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self._server = subprocess.Popen(
            [sys.executable, "-m", __name__, key[0], str(key[1]),
             ",".join(f"{fd}:{nice}" for fd, nice in zip(fds, nices, strict=True))],
            pass_fds=fds, env=env, stdin=subprocess.DEVNULL, close_fds=True,
        )
        for s in theirs:
            s.close()
        self._threads = [threading.Thread(target=self._drive, args=(s, self._queues[u]), daemon=True,
                                          name=f"sideman-synth-{i}")
                         for i, (s, u) in enumerate(zip(ours, urgency, strict=True))]
        for thread in self._threads:
            thread.start()

    def submit(self, fn, *args, urgent: bool = True) -> Future:
        future: Future = Future()
        self._queues[urgent].put((future, fn, args))
        return future

    def close(self) -> None:
        for jobs in self._queues.values():
            for _ in self._threads:
                jobs.put(None)

    def _drive(self, sock: socket.socket, jobs: queue.SimpleQueue) -> None:
        with sock, sock.makefile("rwb") as channel:
            while True:
                job = jobs.get()
                if job is None:
                    return
                future, fn, args = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    pickle.dump((fn, args), channel, protocol=pickle.HIGHEST_PROTOCOL)
                    channel.flush()
                    ok, value = pickle.load(channel)
                except (OSError, EOFError, pickle.UnpicklingError) as error:
                    self.broken = True
                    future.set_exception(BrokenProcessPool(f"a synthesis worker stopped: {error!r}"))
                    return
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


def _forget_pool_in_child() -> None:
    """After fork(): the pool's sockets and threads belong to the parent; a child that
    synthesizes (a Dramatiq worker's pipeline child) starts its own."""
    global _pool, _declined, _pool_lock
    _pool, _declined, _pool_lock = None, None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _discard_pool(reason: str) -> None:
    """Give up a pool whose worker died: this render finishes in this process, the next
    one starts new workers (a server must not lose its synthesis for good to one OOM kill)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    logger.warning("synthesizing in this process this time: %s", reason)
    if pool is not None:
        pool.close()


def _decline(reason: str) -> None:
    global _declined
    if _declined is None:
        logger.warning("synthesizing in this process: %s", reason)
    _declined = reason


def shutdown() -> None:
    """Stop the worker processes (they also stop with this process); the next render
    starts new ones, whatever stopped the last."""
    global _pool, _declined
    with _pool_lock:
        pool, _pool, _declined = _pool, None, None
    if pool is not None:
        pool.close()


def _serve(font_path: str, sample_rate_hz: int, workers: list[tuple[int, int]]) -> None:
    """The server process: load the font once, fork one worker per (socket, niceness),
    wait for them."""
    preload(SoundFont(Path(font_path), Path(font_path).stem, "unknown", installed_drum_kits()), sample_rate_hz)
    # the garbage collector would write to every object's header, and so copy into each
    # worker every page of the interpreter's heap that fork() had shared
    gc.freeze()
    fds = [fd for fd, _ in workers]
    children = []
    for fd, nice in workers:
        pid = os.fork()
        if pid == 0:
            _return_freed_memory_promptly()
            for other in fds:
                if other != fd:
                    os.close(other)
            with contextlib.suppress(OSError):
                os.nice(nice)
            _work(socket.socket(fileno=fd))
            os._exit(0)
        children.append(pid)
    for fd in fds:
        os.close(fd)
    for pid in children:
        os.waitpid(pid, 0)


#: glibc's mallopt parameter number, and the size from which a worker's allocations get
#: their own mapping
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 1 << 20


def _return_freed_memory_promptly() -> None:
    """In a worker: a slice's audio (up to 21 MB) goes back to the system when the job
    is done, instead of staying in the heap of an idle process (glibc only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _work(sock: socket.socket) -> None:
    """A worker: run the jobs that arrive on the socket until it closes."""
    with sock, sock.makefile("rwb") as channel:
        while True:
            try:
                fn, args = pickle.load(channel)
            except (EOFError, OSError):
                return
            try:
                reply = (True, fn(*args))
            except Exception as error:  # noqa: BLE001 - handed back to the caller
                reply = (False, _portable(error))
            try:
                pickle.dump(reply, channel, protocol=pickle.HIGHEST_PROTOCOL)
                channel.flush()
            except OSError:
                return


def _portable(error: Exception) -> Exception:
    """The error itself if it survives pickling, else a RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any failure to round-trip
        return RuntimeError(f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]),
           [(int(fd), int(nice)) for fd, nice in (w.split(":") for w in sys.argv[3].split(","))])
