"""Storage conformance for the API families (agents, webhooks, API keys, backlogs, budgets,
messages, operations, output, schedules, usage, work queues), on SQLite and PostgreSQL alike,
through the ``Tx`` protocol only; and the check that the two conformance files call every
method of every protocol."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from taskloom.storage import protocols
from taskloom.storage.protocols import Tx
from tests.storage.conftest import NOW, Store, run_row, task_row


def _agent(agent_id: str, **changes: Any) -> dict[str, Any]:
    return {"id": agent_id, "name": agent_id, "state": "active", "created_by_kind": "human", "created_by_ref": "boss",
            "created_at": NOW, "updated_at": NOW, **changes}


def _owned(task_id: str, agent_id: str, **changes: Any) -> dict[str, Any]:
    return task_row(task_id, owner_kind="agent_session", owner_ref=agent_id, **changes)


# -- agents and the tasks submitted to them -------------------------------------------------------


def test_agents_registry(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.agent_insert(_agent("a1", team="red"))
        tx.agent_insert(_agent("a2", team="red", state="paused", created_at=NOW + 1))
        tx.agent_insert(_agent("a3", team="blue", created_at=NOW + 2))
        tx.task_insert(_owned("open", "a1"))
        tx.task_insert(_owned("done", "a1", status="completed"))

    store.write(build)
    assert store.read(lambda tx: tx.agent_get("a1"))["capabilities"] == "[]", "column defaults"
    assert store.write(lambda tx: tx.agent_get("a1", for_update=True))["team"] == "red"
    assert store.read(lambda tx: tx.agent_state("a2")) == "paused"
    assert store.read(lambda tx: tx.agent_state("nobody")) is None
    assert [a["id"] for a in store.read(lambda tx: tx.agent_list(team=None, state=None, limit=10, offset=0))] == [
        "a1", "a2", "a3"]
    assert [a["id"] for a in store.read(lambda tx: tx.agent_list(team="red", state="active", limit=10, offset=0))] == [
        "a1"]
    assert [a["id"] for a in store.read(lambda tx: tx.agent_list(team=None, state=None, limit=1, offset=1))] == ["a2"]
    assert store.write(lambda tx: tx.agent_update("a2", {"state": "active", "updated_at": NOW + 5}))["state"] == "active"
    assert store.write(lambda tx: tx.agent_update("nobody", {"state": "active"})) is None
    assert store.read(lambda tx: tx.agent_open_task_ids("a1")) == ["open"]
    assert store.write(lambda tx: tx.agent_delete("a3")) == 1
    assert store.write(lambda tx: tx.agent_delete("a3")) == 0


def test_agent_tasks(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(_owned("t1", "a", created_at=NOW + 1))
        tx.task_insert(_owned("t2", "a", created_at=NOW + 2, workspace_id="w", scope="workspace"))
        tx.task_insert(_owned("t3", "a", created_at=NOW + 3, status="completed"))
        for task_id in ("t1", "t2"):
            tx.agent_task_insert({"task_id": task_id, "agent_id": "a", "callback_mode": "poll", "created_at": NOW})

    store.write(build)
    assert store.read(lambda tx: tx.agent_task_get("t1"))["callback_mode"] == "poll"
    assert store.read(lambda tx: tx.agent_task_get("t3")) is None
    assert sorted(store.read(lambda tx: tx.agent_tasks_get_many(["t1", "t2", "t3"]))) == ["t1", "t2"]
    assert store.read(lambda tx: tx.agent_tasks_get_many([])) == {}

    def listed(**kw: Any) -> list[str]:
        return [t["id"] for t in store.read(lambda tx: tx.agent_task_list("a", limit=10, offset=0, **kw))]

    assert listed(state=None, visible_workspaces=None) == ["t3", "t2", "t1"], "newest first"
    assert listed(state="completed", visible_workspaces=None) == ["t3"]
    assert listed(state="queued", visible_workspaces=[]) == ["t1"], "a caller sees global tasks and its workspaces'"


# -- webhook outbox ------------------------------------------------------------------------------------


def test_webhook_outbox_lock_is_taken_once(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(task_row("t"))
        tx.agent_task_insert({"task_id": "t", "agent_id": "a", "callback_mode": "webhook", "webhook_url": "http://x",
                              "webhook_secret": "s3cret", "created_at": NOW})
        for i, due in enumerate((NOW - 1, NOW - 2, NOW + 60)):
            tx.webhook_delivery_insert({"id": f"d{i}", "task_id": "t", "event": "task.completed", "url": "http://x",
                                        "body": "{}", "status": "pending", "next_attempt_at": due,
                                        "created_at": NOW + i, "updated_at": NOW})

    store.write(build)
    assert store.read(lambda tx: tx.webhook_due_ids(NOW, 10)) == ["d1", "d0"], "due ones, oldest due first"
    assert store.read(lambda tx: tx.webhook_due_ids(NOW, 1)) == ["d1"]
    locked = store.write(lambda tx: tx.webhook_lock("d0", NOW, NOW + 30))
    assert locked is not None and locked["secret"] == "s3cret" and locked["locked_until"] == NOW + 30
    assert store.write(lambda tx: tx.webhook_lock("d0", NOW, NOW + 30)) is None, "two senders never both win"
    assert store.read(lambda tx: tx.webhook_due_ids(NOW, 10)) == ["d1"]
    store.write(lambda tx: tx.webhook_attempt_insert({"delivery_id": "d0", "attempt": 1, "started_at": NOW,
                                                      "duration_ms": 5, "status_code": 200, "outcome": "delivered"}))
    done = store.write(lambda tx: tx.webhook_delivery_update("d0", {"status": "delivered", "attempts": 1,
                                                                    "delivered_at": NOW, "updated_at": NOW}))
    assert done["status"] == "delivered"
    assert store.write(lambda tx: tx.webhook_delivery_update("d0", {"attempts": 2})) is None, "only pending ones"
    assert [d["id"] for d in store.read(lambda tx: tx.webhook_deliveries_of_task("t"))] == ["d0", "d1", "d2"]
    attempts = store.read(lambda tx: tx.webhook_attempts_of(["d0", "d1"]))
    assert list(attempts) == ["d0"] and attempts["d0"][0]["outcome"] == "delivered"
    assert store.read(lambda tx: tx.webhook_attempts_of([])) == {}


# -- API keys -----------------------------------------------------------------------------------------


def test_api_keys(store: Store) -> None:
    def key(key_id: str, **changes: Any) -> dict[str, Any]:
        return {"id": key_id, "name": key_id, "key_hash": f"h-{key_id}", "prefix": "tlk_", "sub": "bot",
                "kind": "agent_session", "role": "agent", "created_by_kind": "human", "created_by_ref": "boss",
                "created_at": NOW, **changes}

    store.write(lambda tx: (tx.api_key_insert(key("k1")), tx.api_key_insert(key("k2", created_at=NOW + 1))))
    assert store.read(lambda tx: tx.api_key_by_hash("h-k1"))["id"] == "k1"
    assert store.read(lambda tx: tx.api_key_by_hash("nope")) is None
    assert store.read(lambda tx: tx.api_key_get("k2"))["name"] == "k2"
    assert store.write(lambda tx: tx.api_key_revoke("k1", NOW)) is True
    assert store.write(lambda tx: tx.api_key_revoke("k1", NOW + 1)) is False, "revoking twice changes nothing"
    assert [k["id"] for k in store.read(lambda tx: tx.api_key_list(include_revoked=False, limit=10, offset=0))] == ["k2"]
    assert [k["id"] for k in store.read(lambda tx: tx.api_key_list(include_revoked=True, limit=10, offset=0))] == [
        "k1", "k2"]
    store.write(lambda tx: tx.api_key_touch("k2", NOW, 60))
    store.write(lambda tx: tx.api_key_touch("k2", NOW + 10, 60))
    assert store.read(lambda tx: tx.api_key_get("k2"))["last_used_at"] == NOW, "at most once a minute"
    store.write(lambda tx: tx.api_key_touch("k2", NOW + 61, 60))
    assert store.read(lambda tx: tx.api_key_get("k2"))["last_used_at"] == NOW + 61


# -- backlogs -------------------------------------------------------------------------------------------


def test_backlog_prefixes_are_reserved_once(store: Store) -> None:
    assert store.write(lambda tx: tx.backlog_agent_insert("a", "MKT", NOW)) is True
    assert store.write(lambda tx: tx.backlog_agent_insert("a", "OPS", NOW)) is False
    assert store.read(lambda tx: tx.backlog_agent_get("a"))["prefix"] == "MKT"
    assert store.read(lambda tx: tx.backlog_agent_get("b")) is None
    assert store.write(lambda tx: tx.backlog_agent_set_prefix("a", "OPS", NOW + 1))["prefix"] == "OPS"
    assert store.write(lambda tx: tx.backlog_prefix_reserve("MKT", "a", NOW)) is True
    assert store.write(lambda tx: tx.backlog_prefix_reserve("MKT", "b", NOW)) is False, "one agent per prefix"
    store.write(lambda tx: tx.backlog_prefix_reserve("OPS", "a", NOW + 1))
    assert store.read(lambda tx: tx.backlog_prefix_owner("MKT")) == "a"
    assert store.read(lambda tx: tx.backlog_prefixes_of("a")) == ["MKT", "OPS"]
    store.write(lambda tx: tx.backlog_prefix_release("MKT", "b"))
    assert store.read(lambda tx: tx.backlog_prefix_owner("MKT")) == "a", "only its holder releases a prefix"
    store.write(lambda tx: tx.backlog_prefix_release("MKT", "a"))
    assert store.read(lambda tx: tx.backlog_prefix_owner("MKT")) is None
    assert store.read(lambda tx: tx.backlog_counter_peek("backlog:a")) == 0
    store.write(lambda tx: tx.counter_next("backlog:a"))
    assert store.read(lambda tx: tx.backlog_counter_peek("backlog:a")) == 1


def test_backlog_task_views(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(_owned("low", "a", priority=10, identifier="MKT-001"))
        tx.task_insert(_owned("high", "a", priority=90, identifier="MKT-002", created_at=NOW + 1))
        tx.task_insert(_owned("done", "a", priority=50, identifier="MKT-003", status="completed",
                              workspace_id="w", scope="workspace"))
        tx.task_insert(_owned("draft", "a", status="draft", draft=1, identifier="MKT-004"))
        tx.task_insert(_owned("other", "b", identifier="OPS-001"))

    store.write(build)
    assert store.read(lambda tx: tx.backlog_task_find("MKT-002"))["id"] == "high"
    assert store.read(lambda tx: tx.backlog_task_find("low"))["identifier"] == "MKT-001"
    assert store.read(lambda tx: tx.backlog_task_find("MKT-999")) is None
    assert store.read(lambda tx: tx.backlog_owns_tasks("a")) is True
    assert store.read(lambda tx: tx.backlog_owns_tasks("c")) is False

    def ids(filters: dict[str, Any], **kw: Any) -> list[str]:
        return [t["id"] for t in store.read(lambda tx: tx.backlog_task_list(filters, limit=10, offset=0, **kw))]

    assert ids({"agent_id": "a"}) == ["high", "done", "low"], "most urgent first, no drafts"
    assert ids({"agent_id": "a", "core_statuses": ["ready"]}) == ["high", "low"]
    assert ids({"agent_id": "a", "core_statuses": ["ready", "completed"], "rank_min": 40, "rank_max": 95}) == [
        "high", "done"]
    assert ids({"visible_workspaces": []}) == ["high", "other", "low"]
    assert ids({"core_statuses": ["completed"]}) == ["done"]
    assert store.read(lambda tx: tx.backlog_task_count({"agent_id": "a"})) == 3
    assert store.read(lambda tx: tx.backlog_task_count({})) == 4
    assert store.read(lambda tx: tx.backlog_status_counts("a")) == {"ready": 2, "completed": 1}
    assert store.read(lambda tx: tx.backlog_status_counts("a", [])) == {"ready": 2}


# -- budgets -------------------------------------------------------------------------------------------


def test_budgets(store: Store) -> None:
    def budget(budget_id: str, scope: str, ref: str, **changes: Any) -> dict[str, Any]:
        return {"id": budget_id, "scope": scope, "ref": ref, "period": "total", "max_tokens": 100, "period_start": 0,
                "created_by_kind": "human", "created_by_ref": "boss", "created_at": NOW, "updated_at": NOW, **changes}

    store.write(lambda tx: [tx.budget_insert(b) for b in (
        budget("b1", "agent", "a1"), budget("b2", "channel", "c1", created_at=NOW + 1),
        budget("b3", "workspace", "w1", created_at=NOW + 2, exhausted=1))])
    assert store.read(lambda tx: tx.budget_get("b1"))["spent_tokens"] == 0
    assert store.write(lambda tx: tx.budget_get("b1", for_update=True))["ref"] == "a1"
    assert [b["id"] for b in store.read(lambda tx: tx.budget_list())] == ["b1", "b2", "b3"]
    assert [b["id"] for b in store.read(lambda tx: tx.budget_list(scope="channel"))] == ["b2"]
    assert [b["id"] for b in store.read(lambda tx: tx.budget_list(exhausted=False, limit=1))] == ["b1"]
    covering = store.write(lambda tx: tx.budgets_covering("a1", "c1", "w9", for_update=True))
    assert [b["id"] for b in covering] == ["b1", "b2"]
    assert [b["id"] for b in store.read(lambda tx: tx.budgets_exhausted())] == ["b3"]
    assert store.write(lambda tx: tx.budget_update("b1", {"spent_tokens": 40}))["spent_tokens"] == 40
    assert store.write(lambda tx: tx.budget_update("nope", {"spent_tokens": 1})) is None
    assert store.write(lambda tx: tx.budget_delete("b1")) == 1
    assert store.read(lambda tx: tx.budget_get("b1")) is None


# -- coordination messages ---------------------------------------------------------------------------


def test_messages_are_numbered_per_task(store: Store) -> None:
    def msg(message_id: str, role: str, kind: str, run_id: str | None = None) -> dict[str, Any]:
        return {"id": message_id, "task_id": "t", "run_id": run_id, "role": role, "kind": kind, "body": message_id,
                "sender_kind": "human", "sender_ref": "boss", "created_at": NOW}

    def build(tx: Tx) -> list[int]:
        tx.task_insert(task_row("t"))
        tx.run_insert(run_row("r", "t"))
        rows = [tx.message_insert(msg("m1", "agent", "question", "r")), tx.message_insert(msg("m2", "user", "message")),
                tx.message_insert(msg("m3", "agent", "question", "r"))]
        return [r["sequence"] for r in rows]

    assert store.write(build) == [1, 2, 3]
    assert [m["id"] for m in store.read(lambda tx: tx.messages_of_task("t"))] == ["m1", "m2", "m3"]
    assert [m["id"] for m in store.read(lambda tx: tx.messages_of_task("t", after_sequence=1, role="agent"))] == ["m3"]
    assert [m["id"] for m in store.read(lambda tx: tx.messages_of_task("t", limit=1))] == ["m1"]
    assert [m["id"] for m in store.read(lambda tx: tx.messages_of_run("r", after_sequence=1))] == ["m3"]
    assert store.read(lambda tx: tx.last_question("t"))["id"] == "m3"
    assert store.read(lambda tx: tx.last_question("none")) is None


# -- operations: readiness, metrics, retention -----------------------------------------------------------


def test_ops_readiness_metrics_and_retention(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(task_row("old", status="completed", closed_at=NOW - 100))
        tx.task_insert(task_row("older", status="failed", closed_at=NOW - 200))
        tx.task_insert(task_row("child", status="completed", closed_at=NOW - 150, parent_task_id="old"))
        tx.task_insert(task_row("recent", status="completed", closed_at=NOW - 1))
        tx.task_insert(task_row("live", approval_state="pending", approval_policy="required"))
        tx.run_insert(run_row("q", "live", network_channel="c"))
        tx.run_insert(run_row("r", "old", status="completed"))

    store.write(build)
    assert any(name.startswith("0001") for name in store.read(lambda tx: tx.migrations_applied()))
    snap = store.read(lambda tx: tx.metrics_snapshot(NOW + 1, 60))
    assert [(q["channel"], q["depth"]) for q in snap["queued"]] == [("c", 1)]
    assert snap["active"] == [] and snap["approvals"] == 1 and snap["stuck"] == 0
    candidates = store.read(lambda tx: tx.retention_candidates(NOW - 10, None, 10))
    assert [(c["id"], bool(c["linked"])) for c in candidates] == [("older", False), ("child", True), ("old", True)]
    after = store.read(lambda tx: tx.retention_candidates(NOW - 10, (NOW - 200, "older"), 1))
    assert [c["id"] for c in after] == ["child"], "a page starts after its cursor"
    group = {g["id"]: g for g in store.read(lambda tx: tx.retention_group_step(["old", "child"]))}
    assert group["old"]["_links"] == ["child"] and group["child"]["_links"] == ["old"]
    assert store.read(lambda tx: tx.retention_group_step([])) == []
    assert store.write(lambda tx: tx.tasks_delete(["old", "child", "missing"])) == 2, "the same count on both"
    assert store.read(lambda tx: tx.tasks_get_many(["old", "child"])) == {}
    assert store.read(lambda tx: tx.run_get("r")) is None, "what hangs off a task goes with it"


# -- run output -------------------------------------------------------------------------------------------


def test_output_chunks_in_order(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(task_row("t"))
        tx.run_insert(run_row("r", "t"))
        tx.output_insert("r", 0, "hello ", NOW)
        tx.output_insert("r", 6, "world", NOW)

    store.write(build)
    assert "".join(c["chunk"] for c in store.read(lambda tx: tx.output_after("r", 0, 1000))) == "hello world"
    assert [c["start_offset"] for c in store.read(lambda tx: tx.output_after("r", 7, 1000))] == [6]
    assert store.read(lambda tx: tx.output_after("r", 11, 1000)) == []


# -- schedules ------------------------------------------------------------------------------------------------


def _schedule(task_id: str, **changes: Any) -> dict[str, Any]:
    return {"task_id": task_id, "kind": "cron", "expr": "* * * * *", "status": "active", "created_by": "boss",
            "anchor": NOW, "next_run_at": NOW, "created_at": NOW, "updated_at": NOW, **changes}


def test_schedules_fire_once_per_due_time(store: Store) -> None:
    def build(tx: Tx) -> None:
        for i, task_id in enumerate(("s1", "s2", "s3", "ev")):
            tx.task_insert(task_row(task_id, status="completed", attempts=1, created_at=NOW + i))
        tx.schedule_insert(_schedule("s1", next_run_at=NOW - 10))
        tx.schedule_insert(_schedule("s2", next_run_at=NOW - 5, created_at=NOW + 1))
        tx.schedule_insert(_schedule("s3", next_run_at=NOW + 60, status="paused", created_at=NOW + 2))
        tx.schedule_insert(_schedule("ev", kind="event", expr=None, next_run_at=None, created_at=NOW + 3))

    store.write(build)
    assert store.read(lambda tx: tx.schedule_get("s1"))["fire_count"] == 0
    assert store.write(lambda tx: tx.schedule_get("s1", for_update=True))["kind"] == "cron"
    assert [s["task_id"] for s in store.write(lambda tx: tx.schedules_due(NOW, 10))] == ["s1", "s2"]
    assert [s["task_id"] for s in store.write(lambda tx: tx.schedules_due(NOW, 1))] == ["s1"]
    assert [s["task_id"] for s in store.write(lambda tx: tx.schedules_for_events())] == ["ev"]
    won = store.write(lambda tx: tx.schedules_claim_firings(["s1"], NOW - 10, NOW + 50, NOW, 0))
    assert [(w["task_id"], w["fire_count"], w["next_run_at"]) for w in won] == [("s1", 1, NOW + 50)]
    assert store.write(lambda tx: tx.schedules_claim_firings(["s1"], NOW - 10, NOW + 50, NOW, 0)) == [], "once"
    reopened = store.write(lambda tx: tx.schedule_tasks_reopen(["s1", "s2"], NOW))
    assert {k: (t["status"], t["attempts"], t["event_seq"]) for k, t in reopened.items()} == {
        "s1": ("ready", 2, 1), "s2": ("ready", 2, 1)}
    assert store.write(lambda tx: tx.schedule_tasks_reopen(["missing"], NOW)) == {}
    assert store.write(lambda tx: tx.schedule_tasks_reopen([], NOW)) == {}


def test_schedule_update_guards_and_lists(store: Store) -> None:
    def build(tx: Tx) -> None:
        for i, task_id in enumerate(("a", "b")):
            tx.task_insert(task_row(task_id, created_at=NOW + i))
            tx.schedule_insert(_schedule(task_id, created_at=NOW + i, created_by="boss" if i == 0 else "other"))

    store.write(build)
    assert store.write(lambda tx: tx.schedule_update("a", {"status": "paused"}, guard={"waiting_since": None})) is not None
    assert store.write(lambda tx: tx.schedule_update("a", {"status": "active"}, guard={"waiting_since": NOW})) is None
    assert store.write(lambda tx: tx.schedule_update("a", {"snooze_reason": "x"},
                                                     guard={"status": ["active", "paused"]}))["snooze_reason"] == "x"
    assert store.write(lambda tx: tx.schedule_update("a", {"snooze_reason": "y"}, guard={"status": ["canceled"]})) is None
    assert store.write(lambda tx: tx.schedule_update("zz", {"snooze_reason": "y"})) is None
    with pytest.raises(ValueError, match="unknown schedules columns"):
        store.write(lambda tx: tx.schedule_update("a", {"snooze_reason": "y"}, guard={"bogus": 1}))
    assert [s["task_id"] for s in store.read(lambda tx: tx.schedule_list({}, limit=10, offset=0))] == ["b", "a"]
    assert [s["task_id"] for s in store.read(lambda tx: tx.schedule_list({"status": "paused"}, limit=10, offset=0))] == [
        "a"]
    assert store.read(lambda tx: tx.schedule_count({"created_by": "other"})) == 1
    assert store.read(lambda tx: tx.schedule_count({"schedule_kind": "rrule"})) == 0
    # A waiting firing is released once the task has no open run.
    store.write(lambda tx: tx.schedule_update("b", {"waiting": "{}", "waiting_since": NOW}))
    store.write(lambda tx: tx.run_insert(run_row("open", "b")))
    assert store.write(lambda tx: tx.schedules_waiting_ready(10)) == []
    store.write(lambda tx: tx.run_update("open", {"status": "canceled"}, expect_status=["queued"]))
    assert [s["task_id"] for s in store.write(lambda tx: tx.schedules_waiting_ready(10))] == ["b"]


def test_schedule_runs_and_dedupe(store: Store) -> None:
    def build(tx: Tx) -> None:
        tx.task_insert(task_row("t"))
        tx.run_insert(run_row("r1", "t", status="completed", dedupe_key="k", queued_at=NOW - 100))
        tx.run_insert(run_row("r2", "t", attempt=2, dedupe_key="k", queued_at=NOW - 10))

    store.write(build)
    assert store.write(lambda tx: tx.dedupe_blocking_run("k", None))["id"] == "r2", "an open run with the key"
    assert store.write(lambda tx: tx.dedupe_blocking_run("k", NOW - 50))["id"] == "r2"
    assert store.write(lambda tx: tx.dedupe_blocking_run("k", NOW)) is None
    assert store.write(lambda tx: tx.dedupe_blocking_run("other", None)) is None
    assert store.read(lambda tx: tx.run_of_attempt("t", 1))["id"] == "r1"
    assert store.read(lambda tx: tx.run_of_attempt("t", 3)) is None
    assert [r["id"] for r in store.read(lambda tx: tx.schedule_runs("t", status=None, limit=10, offset=0))] == [
        "r2", "r1"]
    assert [r["id"] for r in store.read(lambda tx: tx.schedule_runs("t", status="completed", limit=10, offset=0))] == [
        "r1"]
    assert store.read(lambda tx: tx.latest_run_of_task("t"))["id"] == "r2"
    assert store.read(lambda tx: tx.latest_run_of_task("none")) is None


# -- usage ----------------------------------------------------------------------------------------------------


def test_usage_reports_are_running_totals(store: Store) -> None:
    dims = {"agent": "a", "model": "m", "channel": "c", "workspace": ""}

    def report(tx: Tx, tokens: int) -> None:
        tx.run_usage_put({"run_id": "r", "at": NOW, "day": "2026-01-01", **dims, "input_tokens": tokens,
                          "output_tokens": 1, "cost": 0.5, "tool_calls": 0})

    store.write(lambda tx: (tx.task_insert(task_row("t")), tx.run_insert(run_row("r", "t")), report(tx, 10)))
    store.write(lambda tx: report(tx, 25))
    assert store.read(lambda tx: tx.run_usage_get("r"))["input_tokens"] == 25, "a repeated report replaces the totals"
    assert store.read(lambda tx: tx.run_usage_get("none")) is None
    delta = {"input_tokens": 10, "output_tokens": 1, "cost": 0.5, "tool_calls": 0}
    store.write(lambda tx: tx.usage_rollup_add({"day": "2026-01-01", **dims}, delta, 1))
    store.write(lambda tx: tx.usage_rollup_add({"day": "2026-01-01", **dims}, {**delta, "input_tokens": 15}, 0))
    sums = store.read(lambda tx: tx.usage_sums(["agent"], {}, visible_workspaces=None, full_days=None, edges=None))
    assert [(s["agent"], int(s["input_tokens"]), int(s["runs"])) for s in sums] == [("a", 25, 1)]
    total = store.read(lambda tx: tx.usage_sums([], {"model": "m"}, visible_workspaces=[], full_days=None, edges=None))
    assert int(total[0]["input_tokens"]) == 25
    part = store.read(lambda tx: tx.usage_sums([], {}, visible_workspaces=None, full_days=("2026-01-02", "2026-01-02"),
                                              edges=(NOW - 1, NOW + 1)))
    assert [int(p["input_tokens"]) for p in part] == [25], "part-days are read from the runs' own totals"


# -- work queues ----------------------------------------------------------------------------------------------


def _queue(queue_id: str, name: str, team: str = "team", **changes: Any) -> dict[str, Any]:
    return {"id": queue_id, "name": name, "team_id": team, "created_by_kind": "human", "created_by_ref": "boss",
            "created_at": NOW, "updated_at": NOW, **changes}


def test_work_queues(store: Store) -> None:
    def build(tx: Tx) -> object:
        first = tx.wq_insert(_queue("q1", "main"))
        tx.wq_insert(_queue("q2", "spare", created_at=NOW + 1))
        tx.wq_insert(_queue("q3", "main", team="other", created_at=NOW + 2))
        tx.task_insert(task_row("p", network_channel="q1", status="pending", created_at=NOW + 1))
        tx.task_insert(task_row("x", network_channel="q1", status="pending", deadline=NOW - 1, created_at=NOW + 2))
        tx.task_insert(task_row("w", network_channel="q1", status="in_progress", created_at=NOW + 3))
        tx.task_insert(task_row("s1", network_channel="q2", created_at=NOW + 4))
        tx.task_insert(task_row("s2", network_channel="q2", created_at=NOW + 5))
        tx.run_insert(run_row("rp", "p", network_channel="q1", priority=40))
        tx.run_insert(run_row("rx", "x", network_channel="q1", priority=40, deadline=NOW + 100, queued_at=NOW - 1))
        tx.run_insert(run_row("rs1", "s1", network_channel="q2"))
        tx.run_insert(run_row("rs2", "s2", network_channel="q2"))
        return first

    assert store.write(build)["name"] == "main"
    assert store.write(lambda tx: tx.wq_insert(_queue("q9", "main"))) is None, "one name per team"
    assert store.write(lambda tx: tx.wq_get("q1", lock="share"))["id"] == "q1"
    assert store.write(lambda tx: tx.wq_get("q1", lock="update"))["id"] == "q1"
    assert store.read(lambda tx: tx.wq_get("none")) is None
    assert [q["id"] for q in store.read(lambda tx: tx.wq_list(None, None, limit=10, offset=0))] == ["q1", "q2", "q3"]
    assert [q["id"] for q in store.read(lambda tx: tx.wq_list("team", None, limit=10, offset=0))] == ["q1", "q2"]
    assert [q["id"] for q in store.read(lambda tx: tx.wq_list(None, ["other"], limit=10, offset=0))] == ["q3"]
    assert store.read(lambda tx: tx.wq_list(None, [], limit=10, offset=0)) == []
    counts = store.read(lambda tx: tx.wq_status_counts(["q1", "empty"], NOW))
    assert (counts["q1"]["pending"], counts["q1"]["expired"], counts["q1"]["assigned"]) == (1, 1, 1)
    assert set(counts["empty"].values()) == {0}, "every status present, 0 if none"
    assert store.read(lambda tx: tx.wq_status_counts([], NOW)) == {}
    assert [(t["id"], t["wq_status"]) for t in store.read(
        lambda tx: tx.wq_tasks("q1", NOW, status=None, limit=10, offset=0))] == [
        ("p", "pending"), ("x", "expired"), ("w", "assigned")]
    assert [t["id"] for t in store.read(lambda tx: tx.wq_tasks("q1", NOW, status="assigned", limit=10, offset=0))] == [
        "w"]
    assert store.read(lambda tx: tx.wq_task_status("x", NOW)) == "expired"
    assert store.read(lambda tx: tx.wq_open_task_ids("q1", NOW)) == ["p", "w"]
    # Dequeue order: most urgent, then earliest deadline (a deadline first), then oldest.
    assert store.write(lambda tx: tx.wq_next_run("q1", NOW, {}))["id"] == "rx"
    assert store.write(lambda tx: tx.wq_next_run("q1", NOW, {}, ["rx"]))["id"] == "rp"
    assert store.write(lambda tx: tx.wq_next_run("q1", NOW, {}, ["rx", "rp"])) is None
    sources = store.write(lambda tx: tx.wq_steal_sources("team", "q1", NOW, {}))
    assert [(s["queue_id"], s["n"]) for s in sources] == [("q2", 2)]
    assert store.write(lambda tx: tx.wq_delete("q3")) == 1
    assert store.write(lambda tx: tx.wq_delete("q3")) == 0


# -- rate-limit buckets ----------------------------------------------------------------------------------------


def test_rate_buckets_hold_burst_then_refill(store: Store) -> None:
    take = lambda caller, at: store.write(lambda tx: tx.rate_bucket_take(caller, at, 1.0, 2.0))  # noqa: E731
    assert take("a", NOW) is None and take("a", NOW) is None, "a full bucket holds the burst"
    left = take("a", NOW)
    assert left is not None and left < 1, "then the caller waits"
    assert take("b", NOW) is None, "one bucket per caller"
    assert take("a", NOW + 1) is None, "refilled at the rate"
    assert store.write(lambda tx: tx.rate_buckets_purge(NOW + 0.5)) == 1, "b, untouched since NOW"
    assert store.write(lambda tx: tx.rate_buckets_purge(NOW + 0.5)) == 0
    assert take("b", NOW + 1) is None, "a forgotten bucket starts full"


# -- the suite covers the interface ----------------------------------------------------------------------------


def _protocol_methods() -> set[str]:
    names: set[str] = set()
    for _, cls in inspect.getmembers(protocols, inspect.isclass):
        if cls is not protocols.Tx and getattr(cls, "_is_protocol", False) and cls.__module__ == protocols.__name__:
            names |= {n for n, v in vars(cls).items() if inspect.isfunction(v) and not n.startswith("_")}
    return names


def test_the_conformance_suite_calls_every_protocol_method() -> None:
    here = Path(__file__).parent
    files = ("test_conformance_core.py", "test_conformance_hot_path.py", "test_conformance_families.py")
    called = set(re.findall(r"\btx\.([a-z_]+)\(", "".join((here / name).read_text() for name in files)))
    methods = _protocol_methods()
    assert len(methods) > 100
    assert not methods - called, f"protocol methods without a conformance test: {sorted(methods - called)}"
