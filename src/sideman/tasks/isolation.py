"""Run the pipeline in a child process, so the worker's heartbeats keep beating.

A `sideman worker` process keeps two heartbeats from threads of its own: the task lease
(TaskRunner) and the broker's (Dramatiq, BrokerHeartbeat). Python threads need the GIL,
and a long C call that holds it (a big pure-Python-object sort, a regex, some numpy
paths) starves them: the worker would look dead and its task would be run twice.
`in_child_process(generate)` forks a child per attempt that runs `generate`; the parent
only relays the child's stage events to `on_stage` (so progress, lease renewal and
callbacks happen in the parent, as before) and waits. The child:

- gets SIGKILL when the worker thread that forked it dies (PR_SET_PDEATHSIG), so a
  killed worker leaves no orphan writing into the result folder;
- hands back the manifest, or the exception it raised (re-raised in the parent with its
  type, so Transient still means retry and InvalidInput still means refused);
- dying on its own (a segfault, the OOM killer) is a `Transient` failure: the task is
  retried with backoff and ends `failed` after task_max_attempts.

Fork, not spawn: the child starts at once with the worker's imports. Linux and macOS.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from sideman.errors import FetchError, InvalidInput, SidemanError, Transient, Unsupported

log = logging.getLogger(__name__)

__all__ = ["in_child", "in_child_process"]

_PR_SET_PDEATHSIG = 1
_in_child = False


def in_child() -> bool:
    """True inside a pipeline child process."""
    return _in_child


def in_child_process(generate: Callable[..., dict]) -> Callable[..., dict]:
    """`generate` with the same signature, run in a forked child per call."""

    def run(request, *, out_dir: Path, settings, on_stage=None) -> dict:  # noqa: ANN001
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child_main, name=f"sideman-pipeline-{out_dir.name[:8]}",
                                args=(generate, request, out_dir, settings, send, os.getpid()))
        child.start()
        send.close()
        try:
            while True:
                try:
                    kind, payload = receive.recv()
                except EOFError:
                    child.join(5)
                    raise Transient(f"the pipeline process died (exit code {child.exitcode})") \
                        from None
                if kind == "stage":
                    if on_stage is not None:
                        on_stage(payload)
                elif kind == "done":
                    return payload
                else:
                    raise payload
        finally:
            receive.close()
            if child.is_alive():
                child.kill()
            child.join(5)

    return run


def _child_main(generate, request, out_dir, settings, send, parent_pid: int) -> None:  # noqa: ANN001
    global _in_child
    _in_child = True
    _die_with_parent()
    if os.getppid() != parent_pid:  # the worker died before prctl took effect
        os._exit(1)
    code = 0
    try:
        manifest = generate(request, out_dir=out_dir, settings=settings,
                            on_stage=lambda event: send.send(("stage", event)))
        send.send(("done", manifest))
    except BaseException as exc:  # hand every failure to the parent
        if not isinstance(exc, SidemanError):
            log.exception("the pipeline raised")  # the traceback stays in this log
        send.send(("error", _portable(exc)))
        code = 1
    finally:
        send.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # no atexit handlers of the parent's (database pools, brokers)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else one of the same family."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        for family in (InvalidInput, Unsupported, FetchError, Transient):
            if isinstance(exc, family):
                return family(str(exc))
        if isinstance(exc, SidemanError):
            return SidemanError(str(exc))
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        log.warning("could not ask to die with the worker (prctl)")
