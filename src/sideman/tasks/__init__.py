"""tasks: the task records (the source of truth), the queue that decides when a task
runs, the runner that runs one, and callback delivery. API keys live in the same
database (keys.py)."""

from sideman.tasks.callbacks import CallbackSender, Delivery
from sideman.tasks.db import Database, TaskStatus, open_database
from sideman.tasks.keys import KeyStore, LocalKey, ensure_local_key, hash_key
from sideman.tasks.queue import EmbeddedQueue, StubQueue, TaskQueue
from sideman.tasks.runner import Outcome, TaskRunner
from sideman.tasks.store import Task, TaskStore

__all__ = [
    "CallbackSender",
    "Database",
    "Delivery",
    "EmbeddedQueue",
    "KeyStore",
    "LocalKey",
    "Outcome",
    "StubQueue",
    "Task",
    "TaskQueue",
    "TaskRunner",
    "TaskStatus",
    "TaskStore",
    "ensure_local_key",
    "hash_key",
    "open_database",
]
