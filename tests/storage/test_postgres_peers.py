"""PostgreSQL wake-ups across processes: a notifier sends NOTIFY only while another process
listens on the database (storage/postgres.py, _Notifier), and then wakes its waiters at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from taskloom.storage.postgres import PostgresStorage
from tests.storage.conftest import NOW, task_row


def test_a_lone_process_sends_no_notify_and_peers_wake_each_other(database_url: str, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL only: LISTEN/NOTIFY between processes")

    async def scenario() -> None:
        first = PostgresStorage(database_url)
        first.migrate()
        await first.start()
        try:
            await first.write(lambda tx: tx.task_insert(task_row("a")))
            assert time.monotonic() > first._notifier.peers_until, "alone: no other process has said it is there"
            assert first._notifier.pending == set(), "nothing queued for a NOTIFY"
            second = PostgresStorage(database_url)  # as another process: its own notifier and listener
            await second.start()
            try:
                deadline = time.monotonic() + 5
                while time.monotonic() > first._notifier.peers_until or time.monotonic() > second._notifier.peers_until:
                    assert time.monotonic() < deadline, "the two never heard of each other"
                    await asyncio.sleep(0.02)
                for waiter, writer, task_id in ((second, first, "b"), (first, second, "c")):
                    woken = asyncio.create_task(waiter.hub.wait([("task", task_id)], 5.0))
                    await asyncio.sleep(0.05)
                    started = time.monotonic()
                    await writer.write(lambda tx, t=task_id: tx.task_insert(task_row(t, created_at=NOW)) or
                                       tx.task_update(t, {"title": "changed"}))
                    assert await woken, "woken by the other process's commit"
                    assert time.monotonic() - started < 0.9, "through NOTIFY, not the one-second re-check"
            finally:
                await second.close()
        finally:
            await first.close()

    asyncio.run(scenario())
