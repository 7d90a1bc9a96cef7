"""Scale-out benchmark: the same batch of tasks with 1 and with 2 `sideman worker`
processes (Dramatiq on the local Redis, task records in the local PostgreSQL), running
the real pipeline on a short synthetic take (tests/signals.py `sung_melody(bars=4)`).

    .venv/bin/python benchmarks/scaleout.py [--tasks 20] [--workers 1,2] [--variations 2]
                                            [--pin-cpus]

Prints, per worker count: tasks per minute (batch size / time from the first submit to
the last finish), the worst and median queue wait (submit to the start of the task's
pipeline run), and the throughput ratio against the first worker count (goal >= 1.7x
for 2 workers on 2 cores), and the cores the workers actually got (their CPU seconds
over the batch's wall time: on a machine shared with other work, fewer than the worker
count). Uses a fresh database and Redis namespace, removed after.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scaleout_support import (  # noqa: E402
    REDIS_URL,
    Cluster,
    fresh_postgres_database,
    fresh_redis_namespace,
    redis_client,
)
from sideman.settings import Settings  # noqa: E402
from signals import sung_melody, write_audio  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    parser.add_argument("--variations", type=int, default=2, help="takes per task")
    parser.add_argument("--pin-cpus", action="store_true",
                        help="sideman worker --pin-cpus: one core per worker process")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as scratch, fresh_postgres_database() as database_url:
        take = write_audio(Path(scratch) / "take.wav", sung_melody(bars=4).samples)
        for count in counts:
            print(f"running {args.tasks} tasks on {count} worker(s)...", file=sys.stderr)
            rows.append(run_batch(count, tasks=args.tasks, variations=args.variations,
                                  pin_cpus=args.pin_cpus,
                                  database_url=database_url, take=take,
                                  data_dir=Path(scratch) / f"w{count}"))
    base = rows[0]["per_minute"]
    print(f"\nbatch: {args.tasks} tasks x {args.variations} variation(s), "
          f"sung_melody(bars=4), {os.cpu_count()} cores, "
          f"{'pinned, one core per worker' if args.pin_cpus else 'workers not pinned'}, "
          f"load average after: {_load()}")
    print(f"{'workers':>7} {'seconds':>8} {'tasks/min':>10} {'ratio':>6} "
          f"{'worst wait s':>13} {'median wait s':>14} {'attempts':>9} {'cores used':>11}")
    for row in rows:
        print(f"{row['workers']:>7} {row['seconds']:>8.1f} {row['per_minute']:>10.2f} "
              f"{row['per_minute'] / base:>5.2f}x {row['worst_wait']:>13.1f} "
              f"{row['median_wait']:>14.1f} {row['attempts']:>9} {row['cores_used']:>11.2f}")
    return 0


def run_batch(workers: int, *, tasks: int, variations: int, pin_cpus: bool, database_url: str,
              take: Path, data_dir: Path) -> dict:
    from sideman.tasks import TaskStore, open_database
    from sideman.tasks.dramatiq_queue import DramatiqQueue
    from sideman.tasks.migrations import prepare_database
    from sideman.tasks.testing_scaleout import calls

    client = redis_client()
    with fresh_redis_namespace() as namespace:
        values = {
            "redis_url": REDIS_URL, "redis_namespace": namespace,
            "queue_name": f"bench-{secrets.token_hex(4)}", "database_url": database_url,
            "data_dir": str(data_dir), "storage_backend": "shared",
            "pipeline": "sideman.tasks.testing_scaleout:recorded_generate",
        }
        settings = Settings(**values)
        prepare_database(database_url)
        db = open_database(database_url)
        store = TaskStore(db)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = before.ru_utime + before.ru_stime
        cluster = Cluster({f"SIDEMAN_{k.upper()}": str(v) for k, v in values.items()},
                          log_dir=Path(tempfile.mkdtemp(prefix="sideman-bench-")))
        cluster.start_group(processes=workers, pin_cpus=pin_cpus)
        queue = DramatiqQueue(settings=settings)
        try:
            # ready when every process has talked to Redis (its broker heartbeat)
            deadline = time.monotonic() + 60
            while client.zcard(f"{namespace}:__heartbeats__") < workers:
                if time.monotonic() > deadline:
                    raise SystemExit("workers did not start:\n" + cluster.logs())
                time.sleep(0.2)
            time.sleep(1.0)
            settings.uploads_dir.mkdir(parents=True, exist_ok=True)
            (settings.uploads_dir / "take.wav").write_bytes(take.read_bytes())
            submitted: dict[str, float] = {}
            started = time.time()
            for n in range(tasks):
                task = store.create(owner_key_hash="bench", request={
                    "input": {"title": f"bench {n}", "tags": "pop, piano", "negative_tags": "",
                              "variations": variations, "seed": n},
                    "source": {"kind": "upload", "key": "take.wav"}})
                submitted[task.id] = time.time()
                queue.enqueue(task.id)
            while True:
                states = [store.get(task_id) for task_id in submitted]
                if all(t.status in ("finished", "failed") for t in states):
                    break
                time.sleep(0.5)
            seconds = max(t.finished_at.replace(tzinfo=UTC).timestamp() for t in states
                          if t.finished_at) - started
            failed = [t.id for t in states if t.status != "finished"]
            if failed:
                print(f"warning: {len(failed)} task(s) failed", file=sys.stderr)
            waits = [calls(settings.data_dir, task_id)[0][1] - at
                     for task_id, at in submitted.items() if calls(settings.data_dir, task_id)]
            result = {"workers": workers, "seconds": seconds, "per_minute": tasks / seconds * 60,
                      "worst_wait": max(waits), "median_wait": statistics.median(waits),
                      "attempts": sum(t.attempts for t in states)}
        finally:
            cluster.stop()
            queue.broker.close()
            db.dispose()
        # CPU of every worker process and pipeline child (all waited for by now), boot
        # and shutdown included: how many cores the workers actually got
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        result["cores_used"] = (used.ru_utime + used.ru_stime - cpu_before) / result["seconds"]
        return result


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
