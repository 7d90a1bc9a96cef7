"""`sideman worker`: Dramatiq worker processes that run tasks from Redis.

`run_workers(settings)` (what the CLI calls) starts Dramatiq's own CLI, ``python -m
dramatiq sideman.worker --processes N --threads 1 --queues <queue_name>``: one process
per core (settings.worker_processes), one thread each (the pipeline is CPU-bound numpy
work; threads would fight over the GIL). Dramatiq stops the whole group when one of its
processes dies; `run_workers` starts it again after a second (a killed worker's task is
redelivered meanwhile, see sideman.tasks.dramatiq_queue), until SIGTERM or SIGINT.

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


def run_workers(settings: Settings, *, processes: int | None = None, restart: bool = True) -> int:
    """Run Dramatiq worker processes until SIGTERM/SIGINT; returns an exit code."""
    if not settings.redis_url:
        log.error("sideman worker needs a broker: set SIDEMAN_REDIS_URL (redis://host:6379/0)")
        return 2
    count = processes or settings.worker_processes or os.cpu_count() or 1
    command = [sys.executable, "-m", "dramatiq", "sideman.tasks.dramatiq_worker:broker", "--processes", str(count),
               "--threads", "1", "--queues", settings.queue_name]
    stopping = threading.Event()
    child: subprocess.Popen | None = None

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            log.info("starting %d worker process(es) on queue %r", count, settings.queue_name)
            # the processes read Settings from the environment: hand overrides down
            env = {**os.environ, "SIDEMAN_DATA_DIR": str(settings.data_dir),
                   # take a message only when idle: no task waits behind a busy worker
                   # while another is free (BrokerHeartbeat keeps busy workers alive)
                   "dramatiq_queue_prefetch": "1"}
            child = subprocess.Popen(command, env=env)
            code = child.wait()
            if stopping.is_set() or not restart:
                return 0 if stopping.is_set() else code
            log.warning("worker group exited with code %s; starting it again", code)
            if code == 2:  # RET_IMPORT: a broken install will not get better
                return code
            time.sleep(RESTART_DELAY_SECONDS)
            if stopping.is_set():
                return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
