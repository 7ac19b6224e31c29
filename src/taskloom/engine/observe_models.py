"""Read models of the observe API: what the task dashboard and a person's inbox are made of.

Each function runs in one read transaction and returns a typed record of rows; the API
(``api/observe.py``) and the MCP supervisor tools shape the same records into their answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskloom.engine import budgets as budget_ops
from taskloom.engine.context import Ctx
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

# The inbox's lanes, in the order it shows them.
LANES = ("my_work", "approvals", "questions", "budgets", "failed_runs", "blocked", "archived")
OPEN_STATUSES = ("pending", "blocked", "ready", "in_progress")
LIVE_RUNS_SHOWN = 500


@dataclass(frozen=True)
class Dashboard:
    now: float  # the time of the read
    task_counts: dict[str, int]  # status -> tasks
    blocked_counts: dict[str, int]  # blocked reason -> tasks
    run_counts: dict[str, int]  # status -> runs
    live_runs: list[Row]  # up to LIVE_RUNS_SHOWN, oldest claim first
    live_tasks: dict[str, Row]  # the tasks of live_runs (a missing one: the run is an orphan)
    queue_depth: list[Row]  # per channel: count, oldest
    latency: Row  # claim and start latency of the last hour (latency_stats)
    latest_event_at: float | None
    forced_stops: int
    spent_budgets: list[Row]


def dashboard(tx: Tx, ctx: Ctx, filters: Row) -> Dashboard:
    live = tx.live_runs(filters, limit=LIVE_RUNS_SHOWN)
    return Dashboard(
        now=ctx.now,
        task_counts=tx.task_status_counts(filters),
        blocked_counts=tx.task_blocked_counts(filters),
        run_counts=tx.run_status_counts(filters),
        live_runs=live,
        live_tasks=tx.tasks_get_many(sorted({r["task_id"] for r in live})),
        queue_depth=tx.queue_depth(filters),
        latency=tx.latency_stats(ctx.now - 3600),
        latest_event_at=tx.latest_event_at(),
        forced_stops=tx.forced_stop_count(filters),
        spent_budgets=spent_budgets(tx, ctx),
    )


def spent_budgets(tx: Tx, ctx: Ctx) -> list[Row]:
    """Budgets spent in their current period that the caller may see (workspace budgets of its
    workspaces, all others)."""
    return [b for b in budget_ops.exhausted_now(tx, ctx.now)
            if b["scope"] != "workspace" or ctx.actor.sees_workspace(b["ref"])]


@dataclass(frozen=True)
class InboxTask:
    task: Row
    latest_run: Row | None
    unmet_dependencies: list[Row]  # for a task blocked by dependencies: the tasks not completed yet
    question: Row | None  # in the questions lane: the agent's latest question


@dataclass(frozen=True)
class Inbox:
    now: float  # the time of the read
    triage: dict[str, Row]  # task id -> the caller's read/dismissed/archived state
    lanes: dict[str, list[InboxTask]]  # the lanes asked for (not budgets), in LANES order
    spent_budgets: list[Row] | None  # the budgets lane, None when it was not asked for


def inbox(tx: Tx, ctx: Ctx, filters: Row, lane: str | None, query: str | None, limit: int) -> Inbox:
    """The tasks of each lane (of ``lane`` only, if given) that want the caller's attention, most
    urgent first; archived or dismissed ones only in the archived lane."""
    me = ctx.actor
    triage = tx.triage_for_actor(me.kind, me.ref)
    lane_filters: dict[str, Row] = {
        "my_work": {**filters, "owner_kind": me.kind, "owner_ref": me.ref, "status_in": list(OPEN_STATUSES)},
        "approvals": {**filters, "approval_state": "pending", "status_in": list(OPEN_STATUSES)},
        "questions": {**filters, "status": "blocked", "blocked_reason": "awaiting_input"},
        "failed_runs": {**filters, "status": "failed"},
        "blocked": {**filters, "status": "blocked"},
    }
    lanes: dict[str, list[InboxTask]] = {}
    budgets = None
    for name in LANES:
        if lane is not None and name != lane:
            continue
        if name == "budgets":
            budgets = spent_budgets(tx, ctx)
            continue
        if name == "archived":
            archived = [tid for tid, tr in triage.items() if tr["archived"]]
            candidates = [t for t in tx.tasks_get_many(archived).values() if me.sees_workspace(t["workspace_id"])]
            if query:
                q = query.lower()
                candidates = [t for t in candidates if q in t["title"].lower() or q in t["identifier"].lower()]
        else:
            candidates = tx.task_list({**lane_filters[name], "query": query}, limit=limit + len(triage) + 50,
                                      order="priority")
            candidates = [t for t in candidates
                          if not (triage.get(t["id"], {}).get("archived") or triage.get(t["id"], {}).get("dismissed"))]
            if name == "blocked":  # approvals and questions have their own lanes
                candidates = [t for t in candidates if t["blocked_reason"] not in ("approval", "awaiting_input")]
        latest_runs = tx.latest_runs_of_tasks([t["id"] for t in candidates])
        lanes[name] = [InboxTask(t, latest_runs.get(t["id"]), _unmet_dependencies(tx, t),
                                 tx.last_question(t["id"]) if name == "questions" else None) for t in candidates]
    return Inbox(ctx.now, triage, lanes, budgets)


def _unmet_dependencies(tx: Tx, task: Row) -> list[Row]:
    if task["approval_state"] == "pending" or task["blocked_reason"] != "dependencies":
        return []
    deps = tx.dependencies_of([task["id"]])
    return [t for t in tx.tasks_get_many([d["depends_on_task_id"] for d in deps]).values() if t["status"] != "completed"]
