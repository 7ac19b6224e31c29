"""The conformance suite's store: a migrated, started backend (SQLite or PostgreSQL, from
``database_url``) whose transactions are reached only through the ``Tx`` protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from taskloom.rows import Row
from taskloom.storage import open_storage
from taskloom.storage.base import Storage
from taskloom.storage.protocols import Tx

T = TypeVar("T")
NOW = 1_000_000.0


class Store:
    """Runs plain functions of a ``Tx`` in real transactions of the backend, on a private loop."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(storage.start())

    def write(self, fn: Callable[[Tx], T]) -> T:
        return self.loop.run_until_complete(self.storage.write(fn))

    def read(self, fn: Callable[[Tx], T]) -> T:
        return self.loop.run_until_complete(self.storage.read(fn))

    def close(self) -> None:
        self.loop.run_until_complete(self.storage.close())
        self.loop.close()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    storage = open_storage(database_url)
    storage.migrate()
    s = Store(storage)
    try:
        yield s
    finally:
        s.close()


def task_row(task_id: str, **changes: Any) -> Row:
    """A task row with every required column (a ready global task unless ``changes`` say otherwise)."""
    return {
        "id": task_id, "identifier": f"TL-{task_id}", "title": f"title {task_id}", "status": "ready", "priority": 50,
        "scope": "global", "created_by_kind": "human", "created_by_ref": "boss", "origin_kind": "http",
        "approval_policy": "none", "approval_state": "not_required", "max_attempts": 3, "attempt_limit": 3,
        "created_at": NOW, "updated_at": NOW, "last_activity_at": NOW, **changes,
    }


def run_row(run_id: str, task_id: str, **changes: Any) -> Row:
    """A queued, claimable run of ``task_id``."""
    return {
        "id": run_id, "task_id": task_id, "attempt": 1, "status": "queued", "priority": 50, "available_at": NOW,
        "queued_at": NOW, "origin_kind": "http", **changes,
    }


def event_row(task_id: str, sequence: int, **changes: Any) -> Row:
    return {
        "task_id": task_id, "sequence": sequence, "run_id": None, "event_type": "task.updated", "actor_kind": "human",
        "actor_ref": "boss", "origin_kind": "http", "origin_ref": None, "payload": None, "created_at": NOW,
        **changes,
    }


def insert_tasks(tx: Tx, *ids: str, **changes: Any) -> None:
    """Tasks with these ids, created one after the other."""
    for i, task_id in enumerate(ids):
        tx.task_insert(task_row(task_id, created_at=NOW + i, **changes))
