"""Test doubles for the scale-out tests, shipped with the code so a `sideman worker`
process can load them (SIDEMAN_PIPELINE=sideman.tasks.testing_scaleout:scripted_generate).

`scripted_generate` reads what to do from the request's title and leaves a trail under
``data_dir/calls/<out_dir name>`` (one line per call: the worker process's pid and the
start time), so a test in
another process can see who ran a task, when, and how often:

    "slow"          fake_generate, SLOW_STAGE_SECONDS per stage (time to kill a worker)
    "transient:N"   raise Transient on the first N calls, then fake_generate
    "crash"         SIGKILL the worker process (a poison task that takes its worker down)
    "segfault"      SIGKILL the process running the pipeline (the child, when isolated)
    "gil:S"         hold the GIL for S seconds in one C call, then fake_generate
    "numpy:S"       S seconds of numpy work in small GIL-holding steps, then fake_generate
    anything else   fake_generate
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from sideman.errors import Transient
from sideman.pipeline import GenerateRequest, StageCallback
from sideman.settings import Settings
from sideman.tasks.isolation import in_child
from sideman.tasks.testing import fake_generate

__all__ = ["calls", "recorded_generate", "scripted_generate"]

SLOW_STAGE_SECONDS = 0.8


def scripted_generate(
    request: GenerateRequest,
    *,
    out_dir: Path,
    settings: Settings,
    on_stage: StageCallback | None = None,
) -> dict:
    previous = calls(settings.data_dir, out_dir.name)
    trail = settings.data_dir / "calls" / out_dir.name
    trail.parent.mkdir(parents=True, exist_ok=True)
    worker_pid = os.getppid() if in_child() else os.getpid()
    with open(trail, "a", encoding="utf-8") as handle:
        handle.write(f"{worker_pid} {time.time():.3f}\n")
    script, _, argument = request.title.partition(":")
    if script == "crash":  # takes the whole worker process down
        os.kill(worker_pid, signal.SIGKILL)
    if script == "segfault":  # the process running the pipeline dies on its own
        os.kill(os.getpid(), signal.SIGKILL)
    if script == "gil":
        _hold_the_gil(float(argument))
    if script == "transient" and len(previous) < int(argument):
        raise Transient(f"scripted transient failure {len(previous) + 1} of {argument}")
    if script == "numpy":
        _numpy_work(float(argument))
    if script == "slow":
        def slow(event) -> None:  # noqa: ANN001 - StageEvent
            time.sleep(SLOW_STAGE_SECONDS)
            if on_stage is not None:
                on_stage(event)

        return fake_generate(request, out_dir=out_dir, settings=settings, on_stage=slow)
    return fake_generate(request, out_dir=out_dir, settings=settings, on_stage=on_stage)


def calls(data_dir: Path, task_id: str) -> list[tuple[int, float]]:
    """(pid, start time) of every scripted_generate call for the task, oldest first."""
    trail = Path(data_dir) / "calls" / task_id
    if not trail.is_file():
        return []
    rows = []
    for line in trail.read_text(encoding="utf-8").splitlines():
        pid, started = line.split()
        rows.append((int(pid), float(started)))
    return rows


def _hold_the_gil(seconds: float) -> None:
    """About `seconds` inside one C call that never releases the GIL (builtin sum over a
    range), sized from the fastest of a few short calibration runs (so a busy machine
    makes the hold longer, never shorter)."""
    probe = 2_000_000
    fastest = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(range(probe))
        fastest = min(fastest, time.perf_counter() - started)
    sum(range(int(seconds * probe / max(fastest, 1e-6))))


def _numpy_work(seconds: float) -> None:
    """Busy numpy work (FFTs and sorts of a few thousand samples: each call holds the GIL
    for well under a millisecond, like the analysis stages do)."""
    rng = np.random.default_rng(0)
    signal_ = rng.standard_normal(4096)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        spectrum = np.abs(np.fft.rfft(signal_))
        signal_ = np.sort(spectrum)[: signal_.size // 2].repeat(2) + rng.standard_normal(4096)


def recorded_generate(
    request: GenerateRequest,
    *,
    out_dir: Path,
    settings: Settings,
    on_stage: StageCallback | None = None,
) -> dict:
    """The real pipeline (sideman.pipeline.generate), leaving the same trail as
    `scripted_generate` (benchmarks/scaleout.py reads queue waits from it)."""
    from sideman.pipeline import generate

    trail = settings.data_dir / "calls" / out_dir.name
    trail.parent.mkdir(parents=True, exist_ok=True)
    with open(trail, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getppid() if in_child() else os.getpid()} {time.time():.3f}\n")
    return generate(request, out_dir=out_dir, settings=settings, on_stage=on_stage)
