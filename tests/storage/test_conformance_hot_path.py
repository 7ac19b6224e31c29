"""Storage conformance of the agent loop's combined and set-based writes (issue #9), on SQLite and
PostgreSQL alike: ``run_claim_take`` and ``run_complete_close`` (one statement each on
PostgreSQL, the same statements one by one on SQLite), the batch claims and completes, and the
multi-row inserts and updates. The same answers, rows and events on both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from taskloom.domain.errors import InvalidInput
from taskloom.domain.states import IllegalTransition
from taskloom.rows import Appended, Closed, Row, RunTake, Taken, TaskStep
from taskloom.storage.protocols import Coalesce, Tx
from taskloom.storage.sql import CLAIMED_RUN_COLUMNS, COMPLETED_RUN_COLUMNS
from tests.storage.conftest import NOW, Store, insert_tasks, run_row, task_row


def _claimed_step(expect: tuple[str, ...] = ("ready",)) -> TaskStep:
    return TaskStep({"status": "in_progress", "started_at": Coalesce(NOW), "updated_at": NOW, "last_activity_at": NOW},
                    expect, Appended("run.claimed", "agent_session", "me", "http", None, NOW, {"lease_seconds": 60.0}))


_TAKE = RunTake(_claimed_step(), {"status": "claimed", "claimed_at": NOW, "claimed_by_kind": "agent_session",
                                  "claimed_by_ref": "me", "claim_token_hash": "h", "lease_until": NOW + 60},
                ("queued",), timeout_base=NOW)


def test_run_claim_take_moves_the_task_writes_the_event_and_claims_the_run(store: Store) -> None:
    def build(tx: Tx) -> None:
        insert_tasks(tx, "t1", timeout_seconds=30.0)
        insert_tasks(tx, "t2")
        insert_tasks(tx, "t3", status="blocked", blocked_reason="manual")
        tx.run_insert(run_row("r1", "t1", priority=90))
        tx.run_insert(run_row("r2", "t2", attempt=2, timeout_at=NOW + 5))
        tx.run_insert(run_row("r3", "t3", priority=99))

    store.write(build)

    def take(tx: Tx) -> tuple[Taken | None, set[tuple[str, str]], int]:
        return tx.run_claim_take(NOW, {}, _TAKE), set(tx.notices), len(tx.run_transitions)

    blocked, notices, transitions = store.write(take)
    assert blocked is not None and blocked.candidate["id"] == "r3" and blocked.task is None and blocked.run is None
    assert notices == set() and transitions == 0, "a task not in the step's states: nothing written"
    assert store.read(lambda tx: tx.task_get("t3"))["event_seq"] == 0
    assert store.read(lambda tx: tx.run_get("r3"))["status"] == "queued"
    store.write(lambda tx: tx.run_update("r3", {"held": 1}, expect_status=["queued"]))

    first, notices, transitions = store.write(take)
    assert first is not None and first.task is not None and first.run is not None
    assert first.candidate["id"] == "r1" and first.candidate["attempt"] == 1
    assert first.task["status"] == "in_progress" and first.task["event_seq"] == 1 and first.task["started_at"] == NOW
    assert first.run["status"] == "claimed" and first.run["claim_token_hash"] == "h"
    assert first.run["timeout_at"] == NOW + 30, "the task's timeout starts with the claim"
    assert ("task", "t1") in notices and transitions == 1
    (event,) = store.read(lambda tx: tx.events_of_task("t1"))
    assert (event["sequence"], event["run_id"], event["event_type"], event["actor_ref"]) == (1, "r1", "run.claimed", "me")
    assert event["payload"] == '{"attempt":1,"lease_seconds":60.0}', "the same JSON text as the engine writes"

    second, _, _ = store.write(take)
    assert second is not None and second.run is not None and second.run["id"] == "r2"
    assert second.run["timeout_at"] == NOW + 5, "no task timeout: unchanged"
    assert store.read(lambda tx: tx.events_of_task("t2"))[0]["payload"] == '{"attempt":2,"lease_seconds":60.0}'
    assert store.write(take)[0] is None, "nothing left to claim"
    assert store.write(lambda tx: tx.run_claim_take(NOW, {"network_channel": "none"}, _TAKE)) is None


def test_run_claim_take_honours_key_limits(store: Store) -> None:
    def build(tx: Tx) -> None:
        insert_tasks(tx, "k1", "k2", "k3")
        tx.run_insert(run_row("k1", "k1", priority=90, concurrency_key="gpu", concurrency_limit=1))
        tx.run_insert(run_row("k2", "k2", priority=80, concurrency_key="gpu", concurrency_limit=1))
        tx.run_insert(run_row("k3", "k3", priority=70, rate_limit_key="llm", rate_limit_per_minute=1))

    store.write(build)
    taken = [store.write(lambda tx: tx.run_claim_take(NOW, {}, _TAKE)) for _ in range(3)]
    assert [t.run["id"] if t and t.run else None for t in taken] == ["k1", "k3", None], "one live run per slot"
    assert store.read(lambda tx: tx.run_get("k2"))["status"] == "queued"
    assert store.read(lambda tx: tx.events_of_task("k1"))[0]["payload"] == '{"attempt":1,"lease_seconds":60.0}'


def test_run_complete_close_completes_the_run_and_closes_its_task(store: Store) -> None:
    def build(tx: Tx) -> None:
        insert_tasks(tx, "a", "c", status="in_progress")
        insert_tasks(tx, "b", status="blocked", blocked_reason="dependencies")
        insert_tasks(tx, "d", status="blocked", blocked_reason="manual")
        tx.dependency_insert("b", "a", "blocks", NOW)
        held = {"status": "running", "claimed_by_kind": "agent_session", "claimed_by_ref": "me",
                "claim_token_hash": "h", "claimed_at": NOW, "lease_until": NOW + 60}
        tx.run_insert(run_row("ra", "a", attempt=3, **held))
        tx.run_insert(run_row("rd", "d", **held))

    store.write(build)
    close = TaskStep({"closed_at": NOW, "result": '"ok"', "blocked_reason": None, "error": None, "status": "completed",
                      "updated_at": NOW, "last_activity_at": NOW}, ("in_progress",),
                     Appended("run.completed", "agent_session", "me", "http", None, NOW, {}))

    def complete(run_id: str, fence: Row) -> Callable[[Tx], tuple[Closed | None, set[tuple[str, str]], int]]:
        def op(tx: Tx) -> tuple[Closed | None, set[tuple[str, str]], int]:
            done = tx.run_complete_close(run_id, NOW, result='"ok"', terminal_key="k", usage={"input_tokens": 7},
                                         fence=fence, close=close)
            return done, set(tx.notices), len(tx.run_transitions)
        return op

    refused, notices, transitions = store.write(complete("ra", {"claim_token_hash": "wrong"}))
    assert refused is None and notices == set() and transitions == 0
    assert store.read(lambda tx: tx.run_get("ra"))["status"] == "running"
    assert store.read(lambda tx: tx.task_get("a"))["event_seq"] == 0, "refused: nothing written"

    done, notices, transitions = store.write(complete("ra", {"claim_token_hash": "h", "holder": ("agent_session", "me")}))
    assert done is not None and done.task is not None
    assert done.run["status"] == "completed" and done.run["terminal_key"] == "k" and done.run["input_tokens"] == 7
    assert done.task["status"] == "completed" and done.task["result"] == '"ok"' and done.task["event_seq"] == 1
    assert done.dependents == ["b"] and ("task", "a") in notices and transitions == 1
    (event,) = store.read(lambda tx: tx.events_of_task("a"))
    assert (event["sequence"], event["run_id"], event["event_type"], event["payload"]) == (
        1, "ra", "run.completed", '{"attempt":3}')
    assert store.write(complete("ra", {}))[0] is None, "a completed run is not completed twice"

    other, notices, _ = store.write(complete("rd", {}))
    assert other is not None and other.task is None and other.dependents == [] and notices == set()
    assert other.run["status"] == "completed", "the run completes even where its task does not move"
    assert store.read(lambda tx: tx.task_get("d"))["status"] == "blocked"


def test_runs_claim_many_takes_only_queued_runs(store: Store) -> None:
    def build(tx: Tx) -> None:
        insert_tasks(tx, "a", "b", "c")
        tx.run_insert(run_row("ra", "a"))
        tx.run_insert(run_row("rb", "b", timeout_at=NOW + 5))
        tx.run_insert(run_row("rc", "c", status="running", claimed_at=NOW, lease_until=NOW + 60))

    store.write(build)
    items = [{"id": "ra", "token_hash": "h-a", "timeout_at": NOW + 30}, {"id": "rb", "token_hash": "h-b",
             "timeout_at": None}, {"id": "rc", "token_hash": "h-c", "timeout_at": None}]

    def claim(tx: Tx) -> tuple[list[Row], int]:
        rows = tx.runs_claim_many(items, NOW + 1, holder=("agent_session", "me"), lease_seconds=60.0, session_id="s")
        return rows, len(tx.run_transitions)

    rows, transitions = store.write(claim)
    got = {r["id"]: r for r in rows}
    assert sorted(got) == ["ra", "rb"] and transitions == 2
    assert got["ra"]["status"] == "claimed" and got["ra"]["claim_token_hash"] == "h-a"
    assert got["ra"]["timeout_at"] == NOW + 30
    assert got["rb"]["timeout_at"] == NOW + 5, "no timeout given: unchanged"
    assert got["rb"]["lease_until"] == NOW + 61 and got["rb"]["claimed_by_ref"] == "me" and got["rb"]["session_id"] == "s"
    assert store.read(lambda tx: tx.run_get("rc"))["claim_token_hash"] is None
    stored = store.read(lambda tx: tx.run_get("ra"))
    assert got["ra"] == {c: stored[c] for c in CLAIMED_RUN_COLUMNS}, "a claim's columns, as stored"
    assert store.write(lambda tx: tx.runs_claim_many([], NOW + 2, holder=("agent_session", "me"), lease_seconds=60.0,
                                                      session_id=None)) == []
    assert store.write(lambda tx: tx.runs_complete_many([], NOW + 2, {})) == []


def test_runs_complete_many_is_fenced_per_item(store: Store) -> None:
    def build(tx: Tx) -> None:
        insert_tasks(tx, "a", "b", "c", "d")
        for run_id, task_id, holder in (("ra", "a", "me"), ("rb", "b", "me"), ("rc", "c", "other"), ("rd", "d", "me")):
            tx.run_insert(run_row(run_id, task_id, status="claimed", claimed_by_kind="agent_session",
                                  claimed_by_ref=holder, claim_token_hash="h-" + run_id, claimed_at=NOW,
                                  lease_until=NOW + 60))

    store.write(build)
    items = [{"id": "ra", "result": '"x"', "terminal_key": "k", "token_hash": "h-ra"},
             {"id": "rb", "result": None, "terminal_key": None, "token_hash": "stale"},
             {"id": "rc", "result": None, "terminal_key": None, "token_hash": None},
             {"id": "rd", "result": None, "terminal_key": None, "token_hash": None},
             {"id": "missing", "result": None, "terminal_key": None, "token_hash": None}]

    returned: dict[str, Row] = {}

    def complete(tx: Tx) -> tuple[list[str], list[str]]:
        rows = tx.runs_complete_many(items, NOW + 1, {"holder": ("agent_session", "me")})
        returned.update((r["id"], r) for r in rows)
        return sorted(r["id"] for r in rows), sorted(r["id"] for r in tx.run_transitions)

    assert store.write(complete) == (["ra", "rd"], ["ra", "rd"])
    stored = store.read(lambda tx: tx.run_get("rd"))
    assert returned["rd"] == {c: stored[c] for c in COMPLETED_RUN_COLUMNS}, "the lease's and hooks' columns, as stored"
    ra = store.read(lambda tx: tx.run_get("ra"))
    assert ra["status"] == "completed" and ra["result"] == '"x"' and ra["terminal_key"] == "k" and ra["ended_at"] == NOW + 1
    assert store.read(lambda tx: tx.run_get("rb"))["status"] == "claimed"
    assert store.write(lambda tx: tx.runs_complete_many(items[:1], NOW + 2, {})) == [], "not twice"


def test_runs_fail_many_is_fenced_per_item(store: Store) -> None:
    def build(tx: Tx) -> None:
        insert_tasks(tx, "a", "b", "c", "d")
        for run_id, task_id, holder in (("ra", "a", "me"), ("rb", "b", "me"), ("rc", "c", "other"), ("rd", "d", "me")):
            tx.run_insert(run_row(run_id, task_id, status="running", claimed_by_kind="agent_session",
                                  claimed_by_ref=holder, claim_token_hash="h-" + run_id, claimed_at=NOW,
                                  lease_until=NOW + 60))

    store.write(build)
    items = [{"id": "ra", "error": "boom", "terminal_key": "k", "token_hash": "h-ra"},
             {"id": "rb", "error": "boom", "terminal_key": None, "token_hash": "stale"},
             {"id": "rc", "error": "boom", "terminal_key": None, "token_hash": None},
             {"id": "rd", "error": "it's \"bad\"", "terminal_key": None, "token_hash": None},
             {"id": "missing", "error": "boom", "terminal_key": None, "token_hash": None}]
    returned: dict[str, Row] = {}

    def fail(tx: Tx) -> tuple[list[str], list[str]]:
        rows = tx.runs_fail_many(items, NOW + 1, {"holder": ("agent_session", "me")})
        returned.update((r["id"], r) for r in rows)
        return sorted(r["id"] for r in rows), sorted(r["id"] for r in tx.run_transitions)

    assert store.write(fail) == (["ra", "rd"], ["ra", "rd"])
    stored = store.read(lambda tx: tx.run_get("rd"))
    assert returned["rd"] == {c: stored[c] for c in COMPLETED_RUN_COLUMNS}, "the lease's and hooks' columns, as stored"
    assert stored["error"] == 'it\'s "bad"' and stored["last_event_type"] == "run.failed"
    ra = store.read(lambda tx: tx.run_get("ra"))
    assert ra["status"] == "failed" and ra["error"] == "boom" and ra["terminal_key"] == "k" and ra["ended_at"] == NOW + 1
    assert ra["result"] is None and ra["started_at"] is None, "a fail touches neither"
    assert [store.read(lambda tx, r=r: tx.run_get(r))["status"] for r in ("rb", "rc")] == ["running", "running"]
    assert store.write(lambda tx: tx.runs_fail_many(items[:1], NOW + 2, {})) == [], "not twice"
    assert store.write(lambda tx: tx.runs_fail_many([], NOW + 2, {})) == []


def test_tasks_insert_many_returns_each_row_as_stored(store: Store) -> None:
    """Only the first row of alike rows is read back; every returned row must still be the stored
    one: same values, same types, same column order (rows not alike are all read back)."""
    batches = {
        "alike": [task_row(f"a{i}", created_at=NOW + i, metadata='{"k": 1}', backoff_seconds=1.5) for i in range(40)],
        "floats, integral or not": [task_row(f"f{i}", created_at=NOW + i * 0.5, backoff_seconds=1.0 + i % 2 / 4,
                                             deadline=float(i)) for i in range(6)],
        "an int in a REAL column (stored 2.0)": [task_row(f"c{i}", backoff_seconds=2) for i in range(5)],
        "not alike (a value where the first has None)": [
            task_row("m0", deadline=None, workspace_id=None), task_row("m1", deadline=NOW + 0.5, workspace_id=None),
            task_row("m2", deadline=None, workspace_id="w", scope="workspace")],
        "one": [task_row("o0")],
    }
    def typed(row: Row) -> list[tuple[str, Any, type]]:
        return [(k, v, type(v)) for k, v in row.items() if k not in ("id", "identifier")]

    for name, rows in batches.items():
        returned = store.write(lambda tx, rows=rows: tx.tasks_insert_many(rows))
        assert returned == [store.read(lambda tx, i=r["id"]: tx.task_get(i)) for r in rows], name
        # Each as a lone insert reads it back (RETURNING *): the same values of the same types
        # (SQLite's RETURNING gives an integer in a REAL column as given, a later read a float).
        alone = [store.write(lambda tx, r=r: tx.tasks_insert_many([{**r, "id": "1" + r["id"],
                                                                    "identifier": "TL-1" + r["id"]}]))[0]
                 for r in rows]
        assert [typed(r) for r in returned] == [typed(r) for r in alone], name


def test_tasks_and_runs_insert_many_and_update_many(store: Store) -> None:
    def build(tx: Tx) -> tuple[list[Row], list[Row]]:
        tasks = tx.tasks_insert_many([task_row(t, created_at=NOW + i) for i, t in enumerate(("a", "b", "c"))])
        runs = tx.runs_insert_returning([run_row("r" + t, t) for t in ("a", "b", "c")])
        return tasks, runs

    tasks, runs = store.write(build)
    assert [t["id"] for t in tasks] == ["a", "b", "c"] and tasks[0]["event_seq"] == 0 and tasks[0]["draft"] == 0
    assert [r["id"] for r in runs] == ["ra", "rb", "rc"] and runs[0]["held"] == 0

    def update(tx: Tx) -> tuple[list[Row], set[tuple[str, str]]]:
        rows = tx.tasks_update_many([{"id": "a", "result": '"1"'}, {"id": "b", "result": None},
                                     {"id": "missing", "result": None}],
                                    {"status": "in_progress", "updated_at": NOW + 5}, expect_status=["ready"])
        return rows, set(tx.notices)

    rows, notices = store.write(update)
    assert sorted((r["id"], r["status"], r["result"], r["event_seq"]) for r in rows) == [
        ("a", "in_progress", '"1"', 1), ("b", "in_progress", None, 1)]
    assert {("task", "a"), ("task", "b")} <= notices
    assert store.write(lambda tx: tx.tasks_update_many([{"id": "a"}], {"status": "in_progress"},
                                                       expect_status=["ready"])) == [], "guarded"
    with pytest.raises(IllegalTransition):
        store.write(lambda tx: tx.tasks_update_many([{"id": "c"}], {"status": "draft"}, expect_status=["completed"]))


def test_batch_rows_keep_every_value_exactly(store: Store) -> None:
    """A batch statement's rows (one JSON parameter on PostgreSQL, VALUES on SQLite) hand over
    text and numbers unchanged: quotes, backslashes, braces, commas, the word NULL, the empty
    string, non-ASCII text, None and a float's every digit; a NUL is refused as InvalidInput."""
    texts = ['{"a": [1, "b\\"c"]}', "back\\slash", "{,}", "NULL", "", "zé ☃ 𝄞", None, "'quoted'"]
    ids = [f"t{i}" for i in range(len(texts))]

    def build(tx: Tx) -> None:
        insert_tasks(tx, *ids)
        for i, t in enumerate(ids):
            tx.run_insert(run_row("r" + t, t, status="claimed", claimed_by_kind="agent_session", claimed_by_ref="me",
                                  claim_token_hash=texts[i], claimed_at=NOW, lease_until=NOW + 60))

    store.write(build)
    rows = store.write(lambda tx: tx.tasks_update_many([{"id": t, "result": x} for t, x in zip(ids, texts, strict=True)],
                                                       {"status": "in_progress"}, expect_status=["ready"]))
    assert sorted((r["id"], r["result"]) for r in rows) == sorted(zip(ids, texts, strict=True))
    done = store.write(lambda tx: tx.runs_complete_many(
        [{"id": "r" + t, "result": x, "terminal_key": x, "token_hash": x} for t, x in zip(ids, texts, strict=True)],
        NOW + 1, {}))
    assert sorted(r["id"] for r in done) == sorted("r" + t for t in ids), "each token hash matched as given"
    for t, x in zip(ids, texts, strict=True):
        run = store.read(lambda tx, t=t: tx.run_get("r" + t))
        assert (run["result"], run["terminal_key"]) == (x, x)
    store.write(lambda tx: insert_tasks(tx, "f") or tx.run_insert(run_row("rf", "f")))
    exact = NOW + 0.123456789012345
    [claimed] = store.write(lambda tx: tx.runs_claim_many([{"id": "rf", "token_hash": "h", "timeout_at": exact}], NOW,
                                                          holder=("agent_session", "me"), lease_seconds=60.0,
                                                          session_id=None))
    assert claimed["timeout_at"] == exact
    with pytest.raises(InvalidInput):
        store.write(lambda tx: tx.tasks_update_many([{"id": "f", "result": "a\x00b"}], {"status": "in_progress"},
                                                    expect_status=["in_progress"]))


def test_runs_due_exist_sees_only_queued_unheld_due_runs_on_the_channel(store: Store) -> None:
    def setup(tx: Tx) -> None:
        insert_tasks(tx, "t1", "t2", "t3", "t4")
        tx.run_insert(run_row("later", "t1", network_channel="a", available_at=NOW + 30))  # backoff: not due yet
        tx.run_insert(run_row("held", "t2", network_channel="a", held=1))
        tx.run_insert(run_row("taken", "t3", network_channel="a", status="claimed"))
        tx.run_insert(run_row("due", "t4", network_channel="b"))

    store.write(setup)
    due = lambda now, channel: store.read(lambda tx: tx.runs_due_exist(now, channel))  # noqa: E731
    assert due(NOW, "a") is False and due(NOW, "b") is True and due(NOW, None) is True and due(NOW, "c") is False
    assert due(NOW + 30, "a") is True  # the backoff is over
    store.write(lambda tx: tx.run_update("due", {"status": "claimed"}, expect_status=("queued",)))
    assert due(NOW, None) is False
