"""PostgreSQL wake-ups across processes: a notifier sends NOTIFY only while another process
listening on the database has waiters (storage/postgres.py, _Notifier), and then wakes them at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

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


def test_commits_are_sent_only_while_another_process_has_waiters(database_url: str, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL only: LISTEN/NOTIFY between processes")

    async def until(condition: Callable[[], bool], what: str, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not condition():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.02)

    async def scenario() -> None:
        writer, waiter = PostgresStorage(database_url), PostgresStorage(database_url)
        writer.migrate()
        for storage in (writer, waiter):
            storage._notifier.PEER_EVERY, storage._notifier.PEER_TTL = 0.3, 1.0
            await storage.start()
        try:
            await until(lambda: time.monotonic() < writer._notifier.peers_until, "the writer never heard the waiter")
            for n in range(5):  # the other process is there but nobody in it waits: no NOTIFY
                await writer.write(lambda tx, n=n: tx.task_insert(task_row(f"quiet{n}", created_at=NOW)) or
                                   tx.task_update(f"quiet{n}", {"title": "changed"}))  # a notice: ("task", id)
            await asyncio.sleep(0.1)
            assert writer._notifier.sent_changes == 0, "sent changes nobody waited for"

            woken = asyncio.create_task(waiter.hub.wait([("task", "loud")], 5.0))
            await until(lambda: time.monotonic() < writer._notifier.interest_until,
                        "the first waiter was not announced at once", within=0.9)
            started = time.monotonic()
            await writer.write(lambda tx: tx.task_insert(task_row("loud", created_at=NOW)) or
                               tx.task_update("loud", {"title": "changed"}))
            assert await woken, "woken by the other process's commit"
            assert time.monotonic() - started < 0.9, "through NOTIFY, not the one-second re-check"
            await until(lambda: writer._notifier.sent_changes >= 1, "the NOTIFY was not counted")

            # Nobody waits any more: the writer stops sending once the announcement lapses.
            await until(lambda: time.monotonic() > writer._notifier.interest_until, "the interest never lapsed")
            sent = writer._notifier.sent_changes
            await writer.write(lambda tx: tx.task_update("loud", {"title": "again"}))
            await asyncio.sleep(0.2)
            assert writer._notifier.sent_changes == sent
        finally:
            await waiter.close()
            await writer.close()

    asyncio.run(scenario())
