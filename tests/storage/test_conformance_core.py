"""Storage conformance, method by method, on SQLite and PostgreSQL alike (River's driver test is
the model): the core families of ``storage/protocols.py``: counters, tasks, dependencies, runs,
events, triage, observation, service state and what a transaction carries.

Every test talks to a real backend through the ``Tx`` protocol only, and asserts the same
answer on both. ``test_conformance_families.py`` covers the API families; a test there checks
that every protocol method is called by one of the two files."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from taskloom.domain.states import IllegalTransition
from taskloom.rows import Appended, Closed, Row, RunTake, Taken, TaskStep
from taskloom.storage.protocols import Coalesce, Tx
from taskloom.storage.sql import CLAIMED_RUN_COLUMNS, COMPLETED_RUN_COLUMNS
from tests.storage.conftest import NOW, Store, event_row, run_row, task_row


def _tasks(tx: Tx, *ids: str, **changes: object) -> None:
    for i, task_id in enumerate(ids):
        tx.task_insert(task_row(task_id, created_at=NOW + i, **changes))


# -- counters ----------------------------------------------------------------------------------


def test_counters_hand_out_each_value_once(store: Store) -> None:
    assert store.write(lambda tx: [tx.counter_next("c"), tx.counter_next("c"), tx.counter_next("d", start=7)]) == [
        1, 2, 7]
    assert store.write(lambda tx: tx.counter_next("d", start=7)) == 8, "start only seeds a new counter"
    first, second = store.write(lambda tx: tx.task_identifier_next()), store.write(lambda tx: tx.task_identifier_next())
    assert second > first


def test_task_identifiers_next_takes_a_block_no_single_call_repeats(store: Store) -> None:
    before = store.write(lambda tx: tx.task_identifier_next())
    block = store.write(lambda tx: tx.task_identifiers_next(5))
    after = store.write(lambda tx: tx.task_identifier_next())
    assert len(block) == 5 and block == sorted(set(block)) and before < block[0] and block[-1] < after
    assert store.write(lambda tx: tx.task_identifiers_next(0)) == []


# -- tasks -------------------------------------------------------------------------------------


def test_task_insert_get_and_look_ups(store: Store) -> None:
    store.write(lambda tx: _tasks(tx, "a", "b"))
    a = store.read(lambda tx: tx.task_get("a"))
    assert a is not None and a["title"] == "title a" and a["event_seq"] == 0 and a["draft"] == 0, "column defaults"
    assert store.write(lambda tx: tx.task_get("a", for_update=True))["id"] == "a"
    assert store.read(lambda tx: tx.task_get("missing")) is None
    assert store.read(lambda tx: tx.task_get_by_identifier("TL-b"))["id"] == "b"
    assert store.read(lambda tx: tx.task_get_by_identifier("TL-none")) is None
    assert sorted(store.read(lambda tx: tx.tasks_get_many(["a", "b", "missing"]))) == ["a", "b"]
    assert store.read(lambda tx: tx.tasks_get_many([])) == {}


def test_task_update_bumps_the_event_sequence_and_notifies(store: Store) -> None:
    store.write(lambda tx: _tasks(tx, "a"))

    def change(tx: Tx) -> tuple[object, set[tuple[str, str]]]:
        row = tx.task_update("a", {"title": "new", "updated_at": NOW + 5})
        return row, set(tx.notices)

    row, notices = store.write(change)
    assert isinstance(row, dict) and row["title"] == "new" and row["event_seq"] == 1
    assert ("task", "a") in notices
    assert store.write(lambda tx: tx.task_update("missing", {"title": "x"})) is None


def test_task_status_writes_are_guarded_by_the_state_table(store: Store) -> None:
    store.write(lambda tx: _tasks(tx, "a"))
    with pytest.raises(IllegalTransition, match="unguarded"):
        store.write(lambda tx: tx.task_update("a", {"status": "in_progress"}))
    with pytest.raises(IllegalTransition, match="no task transition"):
        store.write(lambda tx: tx.task_update("a", {"status": "draft"}, expect_status=["ready"]))
    # A legal edge, but the row is not in the guarded state: nothing changes, None comes back.
    assert store.write(lambda tx: tx.task_update("a", {"status": "ready"}, expect_status=["pending"])) is None
    after = store.read(lambda tx: tx.task_get("a"))
    assert after["status"] == "ready" and after["event_seq"] == 0, "a refused write leaves the row as it was"
    moved = store.write(lambda tx: tx.task_update("a", {"status": "in_progress"}, expect_status=["ready"]))
    assert moved["status"] == "in_progress"


def test_task_tree_children_and_delete(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(task_row("root"))
        tx.task_insert(task_row("c2", parent_task_id="root", created_at=NOW + 2))
        tx.task_insert(task_row("c1", parent_task_id="root", created_at=NOW + 1))
        tx.task_insert(task_row("g1", parent_task_id="c1", created_at=NOW + 3))

    store.write(build)
    assert [c["id"] for c in store.read(lambda tx: tx.task_children("root"))] == ["c1", "c2"]
    assert store.read(lambda tx: tx.task_child_counts(["root", "c1", "g1"])) == {"root": 2, "c1": 1}
    assert store.read(lambda tx: tx.task_child_counts([])) == {}
    sub = store.read(lambda tx: tx.task_subtree("root"))
    assert [(n["id"], n["depth"]) for n in sub] == [("root", 0), ("c1", 1), ("c2", 1), ("g1", 2)]
    assert store.write(lambda tx: tx.task_delete("c1")) == 1
    assert store.read(lambda tx: tx.task_get("g1")) is None, "deleting a task deletes its subtree"
    assert store.write(lambda tx: tx.task_delete("c1")) == 0


def test_task_list_orders_filters_and_counts(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(task_row("low", priority=10, created_at=NOW + 1, title="Alpha report"))
        tx.task_insert(task_row("high", priority=90, created_at=NOW + 2, workspace_id="w1", scope="workspace"))
        tx.task_insert(task_row("mid", priority=50, created_at=NOW + 3, status="completed"))
        tx.task_insert(task_row("draft", priority=50, created_at=NOW + 4, status="draft", draft=1))

    store.write(build)

    def ids(filters: dict[str, object], **kw: object) -> list[str]:
        return [t["id"] for t in store.read(lambda tx: tx.task_list(filters, **kw))]

    assert ids({}, limit=10) == ["draft", "mid", "high", "low"]
    assert ids({}, limit=10, order="created_asc") == ["low", "high", "mid", "draft"]
    assert ids({}, limit=10, order="priority") == ["high", "mid", "draft", "low"]
    assert ids({}, limit=2, offset=1) == ["mid", "high"]
    assert ids({"status_in": ["ready", "completed"]}, limit=10) == ["mid", "high", "low"]
    assert ids({"status": "ready"}, limit=10) == ["high", "low"]
    assert ids({"query": "ALPHA"}, limit=10) == ["low"]
    assert ids({"exclude_drafts": True}, limit=10) == ["mid", "high", "low"]
    assert ids({"visible_workspaces": []}, limit=10) == ["draft", "mid", "low"], "only global tasks"
    assert ids({"visible_workspaces": ["w1"]}, limit=10) == ["draft", "mid", "high", "low"]
    assert ids({"status": None}, limit=10) == ["draft", "mid", "high", "low"], "a None filter is no filter"
    assert store.read(lambda tx: tx.task_count({"status": "ready"})) == 2
    assert store.read(lambda tx: tx.task_count({})) == 4
    with pytest.raises(ValueError, match="unknown tasks columns"):
        store.read(lambda tx: tx.task_list({"no_such_column": 1}, limit=1))


# -- dependencies ------------------------------------------------------------------------------


def test_dependencies_edges_paths_and_unmet_counts(store: Store) -> None:
    store.write(lambda tx: _tasks(tx, "a", "b", "c"))
    assert store.write(lambda tx: tx.dependency_insert("a", "b", "blocks", NOW)) is True
    assert store.write(lambda tx: tx.dependency_insert("a", "b", "blocks", NOW)) is False, "idempotent"
    store.write(lambda tx: tx.dependency_insert("b", "c", "blocks", NOW + 1))
    store.write(lambda tx: tx.dependency_insert("a", "c", "blocks", NOW + 2))
    assert [(d["task_id"], d["depends_on_task_id"]) for d in store.read(lambda tx: tx.dependencies_of(["a", "b"]))] == [
        ("a", "b"), ("b", "c"), ("a", "c")]
    assert store.read(lambda tx: tx.dependencies_of([])) == []
    assert sorted(store.read(lambda tx: tx.dependents_of("c"))) == ["a", "b"]
    assert store.read(lambda tx: tx.dependency_path("a", "c")) in (["a", "b", "c"], ["a", "c"])
    assert store.read(lambda tx: tx.dependency_path("c", "a")) is None
    assert store.read(lambda tx: tx.unmet_dependency_count("a")) == 2
    store.write(lambda tx: tx.task_update("c", {"status": "in_progress"}, expect_status=["ready"]))
    store.write(lambda tx: tx.task_update("c", {"status": "completed"}, expect_status=["in_progress"]))
    assert store.read(lambda tx: tx.unmet_dependency_count("a")) == 1, "a completed dependency is met"
    assert store.write(lambda tx: tx.dependency_delete("a", "b")) is True
    assert store.write(lambda tx: tx.dependency_delete("a", "b")) is False


# -- runs --------------------------------------------------------------------------------------


def test_run_insert_get_and_per_task_reads(store: Store) -> None:
    def build(tx: Tx) -> tuple[object, set[tuple[str, str]]]:
        _tasks(tx, "a", "b")
        first = tx.run_insert(run_row("a1", "a", status="failed", ended_at=NOW))
        tx.run_insert(run_row("a2", "a", attempt=2, session_id="s"))
        tx.runs_insert_many([run_row("b1", "b"), run_row("b2", "b", attempt=2, status="canceled")])
        return first, set(tx.notices)

    first, notices = store.write(build)
    assert isinstance(first, dict) and first["held"] == 0 and first["status"] == "failed", "the stored row"
    assert ("runs", "*") in notices, "a claimable run wakes claimers"
    assert store.read(lambda tx: tx.run_get("a2"))["attempt"] == 2
    assert store.write(lambda tx: tx.run_get("a2", for_update=True))["id"] == "a2"
    assert store.read(lambda tx: tx.run_get("missing")) is None
    assert sorted(store.read(lambda tx: tx.runs_get_many(["a1", "b1", "zz"]))) == ["a1", "b1"]
    assert store.read(lambda tx: tx.runs_get_many([])) == {}
    assert [r["id"] for r in store.read(lambda tx: tx.runs_of_task("a"))] == ["a1", "a2"]
    assert [r["id"] for r in store.read(lambda tx: tx.runs_of_task("a", status="queued"))] == ["a2"]
    assert [r["id"] for r in store.read(lambda tx: tx.runs_of_task("a", session_id="s"))] == ["a2"]
    assert [r["id"] for r in store.read(lambda tx: tx.runs_of_task("a", limit=1))] == ["a1"]
    assert store.read(lambda tx: tx.open_run_of_task("a"))["id"] == "a2"
    assert store.read(lambda tx: tx.open_run_of_task("missing")) is None
    assert {k: r["id"] for k, r in store.read(lambda tx: tx.open_runs_of_tasks(["a", "b"])).items()} == {
        "a": "a2", "b": "b1"}
    assert {k: r["id"] for k, r in store.read(lambda tx: tx.latest_runs_of_tasks(["a", "b"])).items()} == {
        "a": "a2", "b": "b2"}
    assert store.read(lambda tx: tx.open_runs_of_tasks([])) == {} == store.read(lambda tx: tx.latest_runs_of_tasks([]))


def test_run_status_writes_are_guarded_and_recorded(store: Store) -> None:
    store.write(lambda tx: (_tasks(tx, "a"), tx.run_insert(run_row("r", "a"))))
    with pytest.raises(IllegalTransition, match="unguarded"):
        store.write(lambda tx: tx.run_update("r", {"status": "running"}))
    with pytest.raises(IllegalTransition, match="no run transition"):
        store.write(lambda tx: tx.run_update("r", {"status": "queued"}, expect_status=["completed"]))
    assert store.write(lambda tx: tx.run_update("r", {"status": "canceled"}, expect_status=["running"])) is None
    assert store.read(lambda tx: tx.run_get("r"))["status"] == "queued"

    def claim(tx: Tx) -> list[str]:
        tx.run_update("r", {"status": "claimed", "claimed_at": NOW}, expect_status=["queued"])
        tx.run_update("r", {"held": 0}, expect_status=["claimed"])  # no status change: not a transition
        return [row["status"] for row in tx.run_transitions]

    assert store.write(claim) == ["claimed"], "each status change is kept for the commit hooks"


def _claimable(tx: Tx) -> None:
    _tasks(tx, "t1", "t2", "t3", "t4", "t5", "t6", "t7")
    tx.run_insert(run_row("old", "t1", queued_at=NOW - 10))
    tx.run_insert(run_row("urgent", "t2", priority=90))
    tx.run_insert(run_row("k1", "t3", priority=80, concurrency_key="k", queued_at=NOW - 5))
    tx.run_insert(run_row("k2", "t4", priority=80, concurrency_key="k"))
    tx.run_insert(run_row("held", "t5", priority=99, held=1))
    tx.run_insert(run_row("later", "t6", priority=99, available_at=NOW + 60))
    tx.run_insert(run_row("chan", "t7", priority=10, network_channel="gpu", required_capabilities='["cuda"]'))


def test_claim_candidates_order_exclusivity_and_filters(store: Store) -> None:
    store.write(_claimable)

    def ids(filters: dict[str, object], limit: int = 10) -> list[str]:
        return [r["id"] for r in store.write(lambda tx: tx.runs_claim_candidates(NOW, filters, limit))]

    assert ids({}) == ["urgent", "k1", "old", "chan"], "most urgent first, one per concurrency key, no held/later runs"
    assert ids({}, limit=1) == ["urgent"]
    assert ids({"network_channel": "gpu"}) == ["chan"]
    assert ids({"network_channel": "gpu", "capabilities": []}) == [], "capabilities unmet: not offered"
    assert ids({"network_channel": "gpu", "capabilities": ["fp8"]}) == []
    assert ids({"network_channel": "gpu", "capabilities": ["cuda", "fp8"]}) == ["chan"]
    assert ids({"capabilities": []}) == ["urgent", "k1", "old"], "runs that need nothing suit every claimer"
    assert ids({"min_priority": 85}) == ["urgent"]
    assert ids({"task_ids": ["t1", "t7"]}) == ["old", "chan"]
    assert ids({"task_ids": []}) == []
    assert store.write(lambda tx: tx.run_claim_next(NOW, {}))["id"] == "urgent"
    assert store.write(lambda tx: tx.run_claim_next(NOW, {"network_channel": "none"})) is None
    assert store.read(lambda tx: tx.next_available_at(NOW)) == NOW + 60
    # A live run holds its concurrency key: the other run with the key is not offered.
    store.write(lambda tx: tx.run_update("k1", {"status": "claimed"}, expect_status=["queued"]))
    assert ids({}) == ["urgent", "old", "chan"]


def test_key_limits_count_live_runs_and_recent_claims(store: Store) -> None:
    def build(tx: Tx) -> None:
        _tasks(tx, "c1", "c2", "c3", "r1", "r2", "r3")
        for n in (1, 2, 3):
            tx.run_insert(run_row(f"c{n}", f"c{n}", concurrency_key="gpu", concurrency_limit=2))
            tx.run_insert(run_row(f"r{n}", f"r{n}", priority=40, rate_limit_key="llm", rate_limit_per_minute=2))

    store.write(build)

    def ids(limit: int = 10, now: float = NOW) -> list[str]:
        return [r["id"] for r in store.write(lambda tx: tx.runs_claim_candidates(now, {}, limit))]

    assert ids() == ["c1", "c2", "r1", "r2"], "a batch takes no more of a key than its limits leave"
    assert ids(limit=1) == ["c1"]
    store.write(lambda tx: tx.run_update("c1", {"status": "claimed", "claimed_at": NOW}, expect_status=["queued"]))
    store.write(lambda tx: tx.run_update("r1", {"status": "claimed", "claimed_at": NOW - 30},
                                         expect_status=["queued"]))
    assert ids() == ["c2", "r2"], "a live run fills a concurrency slot; a claim counts for 60 s"
    assert ids(now=NOW + 31) == ["c2", "r2", "r3"], "claims older than 60 s no longer count"
    run = store.read(lambda tx: tx.run_get("c3"))
    tally: dict[tuple[str, str], int] = {}
    assert store.write(lambda tx: tx.key_limit_refusal(run, NOW, tally)) is None
    assert tally == {("c", "gpu"): 2}
    refusal = store.write(lambda tx: tx.key_limit_refusal(run, NOW, tally))
    assert refusal is not None and "concurrency_limit 2" in refusal


def test_run_complete_is_fenced_and_happens_once(store: Store) -> None:
    def build(tx: Tx) -> None:
        _tasks(tx, "a")
        tx.run_insert(run_row("r", "a", status="running", claimed_by_kind="agent_session", claimed_by_ref="me",
                              claim_token_hash="h", claimed_at=NOW, lease_until=NOW + 60))

    store.write(build)
    fence = {"holder": ("agent_session", "other")}
    assert store.write(lambda tx: tx.run_complete("r", NOW, result=None, terminal_key=None, usage={}, fence=fence)) is None
    assert store.write(lambda tx: tx.run_complete("r", NOW, result=None, terminal_key=None, usage={},
                                                  fence={"claim_token_hash": "wrong"})) is None
    assert store.write(lambda tx: tx.run_complete("r", NOW, result=None, terminal_key=None, usage={},
                                                  fence={"visible_workspaces": ["w9"], "holder": None})) is not None
    again = store.write(lambda tx: tx.run_complete("r", NOW + 1, result='"x"', terminal_key="k", usage={}, fence={}))
    assert again is None, "a completed run is not completed twice"
    done = store.read(lambda tx: tx.run_get("r"))
    assert done["status"] == "completed" and done["ended_at"] == NOW and done["result"] is None


def _claimed_step(expect: tuple[str, ...] = ("ready",)) -> TaskStep:
    return TaskStep({"status": "in_progress", "started_at": Coalesce(NOW), "updated_at": NOW, "last_activity_at": NOW},
                    expect, Appended("run.claimed", "agent_session", "me", "http", None, NOW, {"lease_seconds": 60.0}))


_TAKE = RunTake(_claimed_step(), {"status": "claimed", "claimed_at": NOW, "claimed_by_kind": "agent_session",
                                  "claimed_by_ref": "me", "claim_token_hash": "h", "lease_until": NOW + 60},
                ("queued",), timeout_base=NOW)


def test_run_claim_take_moves_the_task_writes_the_event_and_claims_the_run(store: Store) -> None:
    def build(tx: Tx) -> None:
        _tasks(tx, "t1", timeout_seconds=30.0)
        _tasks(tx, "t2")
        _tasks(tx, "t3", status="blocked", blocked_reason="manual")
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
        _tasks(tx, "k1", "k2", "k3")
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
        _tasks(tx, "a", "c", status="in_progress")
        _tasks(tx, "b", status="blocked", blocked_reason="dependencies")
        _tasks(tx, "d", status="blocked", blocked_reason="manual")
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
        _tasks(tx, "a", "b", "c")
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
        _tasks(tx, "a", "b", "c", "d")
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


def test_tasks_with_dependents(store: Store) -> None:
    def build(tx: Tx) -> None:
        _tasks(tx, "a", "b", "c")
        tx.dependency_insert("c", "b", "blocks", NOW)

    store.write(build)
    assert store.read(lambda tx: tx.tasks_with_dependents(["a", "b", "c"])) == ["b"]
    assert store.read(lambda tx: tx.tasks_with_dependents([])) == []


def test_lease_rescue_and_deadline_reads(store: Store) -> None:
    def build(tx: Tx) -> None:
        _tasks(tx, "a", "b", "c", "d")
        tx.run_insert(run_row("lapsed", "a", status="running", lease_until=NOW - 5, claimed_at=NOW - 60))
        tx.run_insert(run_row("fresh", "b", status="running", lease_until=NOW + 60, claimed_at=NOW - 60))
        tx.run_insert(run_row("timed_out", "c", status="claimed", lease_until=NOW + 60, timeout_at=NOW - 1,
                              claimed_at=NOW - 60))
        tx.run_insert(run_row("expired", "d", deadline=NOW - 1))

    store.write(build)
    assert [r["id"] for r in store.read(lambda tx: tx.runs_lease_expired(NOW))] == ["lapsed", "timed_out"]
    assert [r["id"] for r in store.read(lambda tx: tx.runs_lease_expired(NOW, limit=1))] == ["lapsed"]
    assert [r["id"] for r in store.read(lambda tx: tx.runs_past_deadline(NOW))] == ["expired"]
    assert store.read(lambda tx: tx.next_available_at(NOW)) is None


# -- events ------------------------------------------------------------------------------------


def test_events_append_and_read_in_sequence(store: Store) -> None:
    def build(tx: Tx) -> set[tuple[str, str]]:
        _tasks(tx, "a")
        tx.event_insert(event_row("a", 1, event_type="task.created"))
        tx.events_insert_many([event_row("a", 2, event_type="run.output"), event_row("a", 3, created_at=NOW + 9)])
        return set(tx.notices)

    assert ("task", "a") in store.write(build)
    assert [e["sequence"] for e in store.read(lambda tx: tx.events_of_task("a"))] == [1, 2, 3]
    assert [e["sequence"] for e in store.read(lambda tx: tx.events_of_task("a", after_sequence=1, limit=1))] == [2]
    assert [e["sequence"] for e in store.read(lambda tx: tx.events_of_task("a", exclude_type="run.output"))] == [1, 3]
    assert store.read(lambda tx: tx.latest_event_at()) == NOW + 9


def test_latest_event_at_of_an_empty_log(store: Store) -> None:
    assert store.read(lambda tx: tx.latest_event_at()) is None


# -- triage ------------------------------------------------------------------------------------


def test_triage_upsert_is_idempotent_per_actor_and_task(store: Store) -> None:
    store.write(lambda tx: _tasks(tx, "a", "b"))
    row = {"actor_kind": "human", "actor_ref": "boss", "task_id": "a", "read": 1, "updated_at": NOW}
    assert store.write(lambda tx: tx.triage_upsert(row))["archived"] == 0
    again = store.write(lambda tx: tx.triage_upsert({**row, "archived": 1, "updated_at": NOW + 1}))
    assert (again["read"], again["archived"]) == (1, 1)
    store.write(lambda tx: tx.triage_upsert({**row, "task_id": "b"}))
    assert store.read(lambda tx: tx.triage_get("human", "boss", "a"))["updated_at"] == NOW + 1
    assert store.read(lambda tx: tx.triage_get("human", "other", "a")) is None
    assert sorted(store.read(lambda tx: tx.triage_for_actor("human", "boss"))) == ["a", "b"]


# -- observation -------------------------------------------------------------------------------


def test_observation_counts(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(task_row("q", network_channel="c1"))
        tx.task_insert(task_row("l", status="in_progress", network_channel="c1"))
        tx.task_insert(task_row("b", status="blocked", blocked_reason="approval", workspace_id="w",
                                scope="workspace"))
        tx.task_insert(task_row("f", status="failed"))
        tx.run_insert(run_row("rq", "q", network_channel="c1", queued_at=NOW - 30))
        tx.run_insert(run_row("rl", "l", status="running", network_channel="c1", queued_at=NOW - 20,
                              claimed_at=NOW - 10, started_at=NOW - 8, lease_until=NOW - 1, heartbeat_at=NOW - 10,
                              claimed_by_kind="agent_session", claimed_by_ref="a1"))
        tx.run_insert(run_row("rf", "f", status="failed", last_event_type="run.lease_expired", claimed_at=NOW - 50,
                              queued_at=NOW - 60, claimed_by_kind="agent_session", claimed_by_ref="a2"))

    store.write(build)
    assert store.read(lambda tx: tx.task_status_counts({})) == {"ready": 1, "in_progress": 1, "blocked": 1, "failed": 1}
    assert store.read(lambda tx: tx.task_status_counts({"visible_workspaces": []}))["ready"] == 1
    assert store.read(lambda tx: tx.task_blocked_counts({})) == {"approval": 1}
    assert store.read(lambda tx: tx.run_status_counts({})) == {"queued": 1, "running": 1, "failed": 1}
    assert store.read(lambda tx: tx.run_status_counts({"network_channel": "c1"})) == {"queued": 1, "running": 1}
    depth = store.read(lambda tx: tx.queue_depth({}))
    assert [(d["network_channel"], d["count"], d["oldest"]) for d in depth] == [("c1", 1, NOW - 30)]
    assert store.read(lambda tx: tx.queue_depth({"status": "failed"})) == []
    assert [r["id"] for r in store.read(lambda tx: tx.live_runs({}))] == ["rl"]
    assert store.read(lambda tx: tx.live_runs({"status": "ready"})) == []
    assert store.read(lambda tx: tx.forced_stop_count({})) == 1
    assert store.read(lambda tx: tx.forced_stop_count({"status": "ready"})) == 0
    lat = store.read(lambda tx: tx.latency_stats(NOW - 100))
    assert lat["claim_n"] == 2 and lat["claim_max"] == 10 and lat["start_n"] == 1 and lat["start_max"] == 2
    # Steps of 10 s after NOW - 41: queued at NOW - 30 is step 2; queued at NOW - 20 and claimed at NOW - 10
    # are steps 3 and 4; the run claimed before ``since`` is not read.
    waits = store.read(lambda tx: tx.queue_waits({}, NOW - 41, 10))
    assert sorted((w["network_channel"], int(w["queued"]), w["claimed"] and int(w["claimed"]), w["n"])
                  for w in waits) == [("c1", 2, None, 1), ("c1", 3, 4, 1)]
    by_channel = store.read(lambda tx: tx.live_run_counts_by_channel({}, NOW, NOW - 5))
    assert [(r["network_channel"], r["active"], r["stuck"]) for r in by_channel] == [("c1", 1, 1)]
    activity = store.read(lambda tx: tx.claimer_activity(NOW - 100))
    assert sorted((a["claimed_by_ref"], a["runs"]) for a in activity) == [("a1", 1), ("a2", 1)]


# -- service state and what a transaction carries ------------------------------------------------


def test_service_state_put_overwrites(store: Store) -> None:
    assert store.read(lambda tx: tx.service_state_get("s")) is None
    store.write(lambda tx: tx.service_state_put("s", "one", NOW))
    store.write(lambda tx: tx.service_state_put("s", "two", NOW + 1))
    got = store.read(lambda tx: tx.service_state_get("s"))
    assert (got["value"], got["updated_at"]) == ("two", NOW + 1)


def test_after_commit_runs_only_for_a_committed_transaction(store: Store) -> None:
    called: list[str] = []

    def ok(tx: Tx) -> None:
        tx.notify(("task", "x"))
        assert ("task", "x") in tx.notices and tx.outbox_written == set()
        tx.after_commit.append(lambda: called.append("ok"))

    def fails(tx: Tx) -> None:
        tx.after_commit.append(lambda: called.append("failed"))
        raise RuntimeError("rolled back")

    store.write(ok)
    with pytest.raises(RuntimeError):
        store.write(fails)
    assert called == ["ok"]


def test_the_insert_row_types_name_real_columns() -> None:
    """``EventRow`` and ``NewRun`` (taskloom/rows.py) are what the engine writes: their keys are the
    table's columns, and a run needs at least its NOT NULL columns that have no default."""
    from taskloom.rows import EventRow, NewRun
    from taskloom.storage.sql import EVENT_COLUMNS, RUN_COLUMNS

    assert tuple(EventRow.__annotations__) == EVENT_COLUMNS
    assert set(NewRun.__annotations__) <= RUN_COLUMNS
    assert NewRun.__required_keys__ == {"id", "task_id", "attempt", "status", "priority", "available_at", "queued_at",
                                        "origin_kind"}
