"""tasks: the task records (the source of truth), the queue that decides when a task
runs, the runner that runs one, callback delivery from a durable outbox (signed per
Standard Webhooks), retention and metrics. API keys live in the same database (keys.py).
"""

from sideman.tasks.callbacks import CallbackSender, Delivery
from sideman.tasks.db import Database, TaskStatus, open_database
from sideman.tasks.keys import (
    CreatedKey,
    KeyStore,
    LocalKey,
    create_key,
    ensure_local_key,
    hash_key,
    list_keys,
    revoke_key,
)
from sideman.tasks.queue import EmbeddedQueue, StubQueue, TaskQueue
from sideman.tasks.retention import Janitor, clean_up
from sideman.tasks.runner import Outcome, TaskRunner
from sideman.tasks.store import Task, TaskStore
from sideman.tasks.webhooks import sign, verify_signature

__all__ = [
    "CallbackSender",
    "CreatedKey",
    "Database",
    "Delivery",
    "EmbeddedQueue",
    "Janitor",
    "KeyStore",
    "LocalKey",
    "Outcome",
    "StubQueue",
    "Task",
    "TaskQueue",
    "TaskRunner",
    "TaskStatus",
    "TaskStore",
    "clean_up",
    "create_key",
    "ensure_local_key",
    "hash_key",
    "list_keys",
    "open_database",
    "revoke_key",
    "sign",
    "verify_signature",
]
