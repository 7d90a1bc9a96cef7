"""`sideman worker`: Dramatiq worker processes that run tasks from Redis.

`run_workers(settings)` (what the CLI calls) runs N workers, one per core by default
(settings.worker_processes), each Dramatiq's own CLI with one process and one thread:
``python -m dramatiq sideman.tasks.dramatiq_worker:broker --processes 1 --threads 1
--queues <queue_name>`` (the pipeline is CPU-bound numpy work; threads would fight over
the GIL). Each is supervised on its own: when one dies (a SIGKILL, the OOM killer) only
that one is started again, after a second, while its task is redelivered to the others
(see sideman.tasks.dramatiq_queue). SIGTERM or SIGINT stops them all gracefully.

With `pin_cpus` (settings.worker_pin_cpus, `--pin-cpus`) worker i runs on core
i mod cores only, and numeric libraries get one thread: each worker owns one core, so N
workers on N cores do N times the work of one (the pipeline's own threads otherwise
spread one task over every core, and a second worker has nothing left to gain).

Each Dramatiq process imports sideman.tasks.dramatiq_worker, which builds the broker
from Settings (the same SIDEMAN_* environment as the API) and opens the database,
stores, callback sender and TaskRunner when the process boots.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from sideman.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["run_workers"]

RESTART_DELAY_SECONDS = 1.0
RET_IMPORT = 2  # Dramatiq's exit code for a module that does not import: do not restart
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def run_workers(settings: Settings, *, processes: int | None = None,
                pin_cpus: bool | None = None, restart: bool = True) -> int:
    """Run the worker processes until SIGTERM/SIGINT; returns an exit code."""
    if not settings.redis_url:
        log.error("sideman worker needs a broker: set SIDEMAN_REDIS_URL (redis://host:6379/0)")
        return 2
    count = processes or settings.worker_processes or os.cpu_count() or 1
    pin = settings.worker_pin_cpus if pin_cpus is None else pin_cpus
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    command = [sys.executable, "-m", "dramatiq", "sideman.tasks.dramatiq_worker:broker",
               "--processes", "1", "--threads", "1", "--queues", settings.queue_name]
    env = {**os.environ, "SIDEMAN_DATA_DIR": str(settings.data_dir),
           # take a message only when idle: no task waits behind a busy worker while
           # another is free (BrokerHeartbeat keeps busy workers alive)
           "dramatiq_queue_prefetch": "1"}
    if pin:
        env |= {name: os.environ.get(name, "1") for name in _ONE_THREAD}

    stopping = threading.Event()
    children: dict[int, subprocess.Popen] = {}

    def start(slot: int) -> None:
        core = cores[slot % len(cores)] if pin and cores else None
        children[slot] = subprocess.Popen(
            command, env=env,
            preexec_fn=(lambda: os.sched_setaffinity(0, {core})) if core is not None else None,
        )
        log.info("worker %d started (pid %d%s)", slot, children[slot].pid,
                 f", core {core}" if core is not None else "")

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("starting %d worker process(es) on queue %r", count, settings.queue_name)
    try:
        for slot in range(count):
            start(slot)
        while True:
            time.sleep(0.2)
            if stopping.is_set():
                for child in children.values():
                    child.wait()
                return 0
            for slot, child in list(children.items()):
                code = child.poll()
                if code is None:
                    continue
                if not restart or code == RET_IMPORT:
                    forward(signal.SIGTERM, None)
                    for other in children.values():
                        other.wait()
                    return code
                log.warning("worker %d exited with code %s; starting it again", slot, code)
                time.sleep(RESTART_DELAY_SECONDS)
                if not stopping.is_set():
                    start(slot)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
