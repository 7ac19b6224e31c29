"""Storage conformance, method by method, on SQLite and PostgreSQL alike (River's driver test is
the model): the core families of ``storage/protocols.py``: counters, tasks, dependencies, runs,
events, triage, observation, service state and what a transaction carries.

Every test talks to a real backend through the ``Tx`` protocol only, and asserts the same
answer on both. ``test_conformance_hot_path.py`` covers the agent loop's combined and set-based
writes, ``test_conformance_families.py`` the API families; a test there checks that every
protocol method is called by one of the three files."""

from __future__ import annotations

import asyncio

import pytest

from taskloom.domain.states import IllegalTransition
from taskloom.storage.protocols import Tx
from tests.storage.conftest import NOW, Store, event_row, insert_tasks, run_row, task_row

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


def test_task_identifiers_next_blocks_stay_unique_under_concurrent_transactions(store: Store) -> None:
    """Batch creates in concurrent transactions (PostgreSQL runs them at once) and single creates
    among them: every number once, each block in increasing order."""
    async def together() -> list[list[int]]:
        blocks = [store.storage.write(lambda tx: tx.task_identifiers_next(300)) for _ in range(6)]
        singles = [store.storage.write(lambda tx: [tx.task_identifier_next() for _ in range(20)]) for _ in range(3)]
        return list(await asyncio.gather(*blocks, *singles))

    got = store.loop.run_until_complete(together())
    numbers = [n for block in got for n in block]
    assert len(numbers) == len(set(numbers)) == 6 * 300 + 3 * 20
    assert all(block == sorted(block) and len(block) == 300 for block in got[:6])


# -- tasks -------------------------------------------------------------------------------------


def test_task_insert_get_and_look_ups(store: Store) -> None:
    store.write(lambda tx: insert_tasks(tx, "a", "b"))
    a = store.read(lambda tx: tx.task_get("a"))
    assert a is not None and a["title"] == "title a" and a["event_seq"] == 0 and a["draft"] == 0, "column defaults"
    assert store.write(lambda tx: tx.task_get("a", for_update=True))["id"] == "a"
    assert store.read(lambda tx: tx.task_get("missing")) is None
    assert store.read(lambda tx: tx.task_get_by_identifier("TL-b"))["id"] == "b"
    assert store.read(lambda tx: tx.task_get_by_identifier("TL-none")) is None
    assert sorted(store.read(lambda tx: tx.tasks_get_many(["a", "b", "missing"]))) == ["a", "b"]
    assert store.read(lambda tx: tx.tasks_get_many([])) == {}


def test_task_update_bumps_the_event_sequence_and_notifies(store: Store) -> None:
    store.write(lambda tx: insert_tasks(tx, "a"))

    def change(tx: Tx) -> tuple[object, set[tuple[str, str]]]:
        row = tx.task_update("a", {"title": "new", "updated_at": NOW + 5})
        return row, set(tx.notices)

    row, notices = store.write(change)
    assert isinstance(row, dict) and row["title"] == "new" and row["event_seq"] == 1
    assert ("task", "a") in notices
    assert store.write(lambda tx: tx.task_update("missing", {"title": "x"})) is None


def test_task_status_writes_are_guarded_by_the_state_table(store: Store) -> None:
    store.write(lambda tx: insert_tasks(tx, "a"))
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
    store.write(lambda tx: insert_tasks(tx, "a", "b", "c"))
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
        insert_tasks(tx, "a", "b")
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
    store.write(lambda tx: (insert_tasks(tx, "a"), tx.run_insert(run_row("r", "a"))))
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
    insert_tasks(tx, "t1", "t2", "t3", "t4", "t5", "t6", "t7")
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
        insert_tasks(tx, "c1", "c2", "c3", "r1", "r2", "r3")
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
        insert_tasks(tx, "a")
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


def test_tasks_with_dependents(store: Store) -> None:
    def build(tx: Tx) -> None:
        insert_tasks(tx, "a", "b", "c")
        tx.dependency_insert("c", "b", "blocks", NOW)

    store.write(build)
    assert store.read(lambda tx: tx.tasks_with_dependents(["a", "b", "c"])) == ["b"]
    assert store.read(lambda tx: tx.tasks_with_dependents([])) == []
    # A batch's worth (one JSON parameter, however many ids), in the order given.
    many = [f"x{i}" for i in range(150)] + ["b", "c", "b"]
    assert store.read(lambda tx: tx.tasks_with_dependents(many)) == ["b", "b"]


def test_lease_rescue_and_deadline_reads(store: Store) -> None:
    def build(tx: Tx) -> None:
        insert_tasks(tx, "a", "b", "c", "d")
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
        insert_tasks(tx, "a")
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
    store.write(lambda tx: insert_tasks(tx, "a", "b"))
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
