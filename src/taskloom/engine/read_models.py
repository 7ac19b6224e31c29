"""Read-side assembly for the runtime API: summaries, detail, tree, timeline, run detail.

Each function runs inside one read transaction and batches its look-ups, so a list of N
tasks costs a fixed number of queries, not N. They return typed records of rows; the API
(``api/read_models.py``) shapes them into answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskloom.engine.context import Ctx, load_visible_task
from taskloom.engine.output import OUTPUT_EVENT
from taskloom.engine.runs import get_run
from taskloom.rows import Row
from taskloom.storage.protocols import Tx


@dataclass(frozen=True)
class TaskSummary:
    task: Row
    active_run: Row | None
    child_count: int
    deps: list[Row]
    dep_tasks: dict[str, Row]


@dataclass(frozen=True)
class TaskDetail:
    task: Row
    summary: TaskSummary
    children: list[TaskSummary]
    deps: list[Row]
    dep_tasks: dict[str, Row]
    events: list[Row]
    runs: list[Row]


@dataclass(frozen=True)
class TreeNode:
    task: Row  # with ``depth`` (root = 0)
    active_run: Row | None
    child_count: int


@dataclass(frozen=True)
class TimelineEntry:
    event: Row
    run: Row | None


@dataclass(frozen=True)
class RunDetail:
    run: Row
    task: Row


def task_summaries(tx: Tx, tasks: list[Row]) -> list[TaskSummary]:
    ids = [t["id"] for t in tasks]
    open_runs = tx.open_runs_of_tasks(ids)
    child_counts = tx.task_child_counts(ids)
    deps = tx.dependencies_of(ids)
    dep_tasks = tx.tasks_get_many(sorted({d["depends_on_task_id"] for d in deps}))
    by_task: dict[str, list[Row]] = {}
    for d in deps:
        by_task.setdefault(d["task_id"], []).append(d)
    return [TaskSummary(t, open_runs.get(t["id"]), child_counts.get(t["id"], 0), by_task.get(t["id"], []), dep_tasks)
            for t in tasks]


def task_rows(tx: Tx, filters: Row, *, limit: int) -> list[Row]:
    """Tasks matching ``filters``, newest first, without their runs or dependencies."""
    return tx.task_list(filters, limit=limit)


def task_list(tx: Tx, filters: Row, *, limit: int, offset: int) -> list[TaskSummary]:
    return task_summaries(tx, tx.task_list(filters, limit=limit, offset=offset))


def task_detail(tx: Tx, ctx: Ctx, task_id: str, *, event_limit: int = 200) -> TaskDetail:
    task = load_visible_task(tx, ctx, task_id)
    children = [c for c in tx.task_children(task_id) if ctx.actor.sees_workspace(c["workspace_id"])]
    deps = tx.dependencies_of([task_id])
    events = tx.events_of_task(task_id, after_sequence=max(0, int(task["event_seq"]) - event_limit),
                               limit=event_limit, exclude_type=OUTPUT_EVENT)
    return TaskDetail(
        task=task,
        summary=task_summaries(tx, [task])[0],
        children=task_summaries(tx, children),
        deps=deps,
        dep_tasks=tx.tasks_get_many([d["depends_on_task_id"] for d in deps]),
        events=events,
        runs=tx.runs_of_task(task_id),
    )


def tree(tx: Tx, ctx: Ctx, task_id: str) -> list[TreeNode]:
    """The task (first) and its visible descendants, parents first."""
    load_visible_task(tx, ctx, task_id)
    nodes = [n for n in tx.task_subtree(task_id) if ctx.actor.sees_workspace(n["workspace_id"])]
    ids = [n["id"] for n in nodes]
    open_runs = tx.open_runs_of_tasks(ids)
    child_counts = tx.task_child_counts(ids)
    return [TreeNode(n, open_runs.get(n["id"]), child_counts.get(n["id"], 0)) for n in nodes]


def timeline(tx: Tx, ctx: Ctx, task_id: str, *, after_sequence: int, limit: int,
             include_output: bool = False) -> tuple[Row, list[TimelineEntry]]:
    task = load_visible_task(tx, ctx, task_id)
    events = tx.events_of_task(task_id, after_sequence=after_sequence, limit=limit,
                               exclude_type=None if include_output else OUTPUT_EVENT)
    return task, timeline_entries(tx, events)


def timeline_entries(tx: Tx, events: list[Row]) -> list[TimelineEntry]:
    runs = tx.runs_get_many(sorted({e["run_id"] for e in events if e["run_id"]}))
    return [TimelineEntry(e, runs.get(e["run_id"]) if e["run_id"] else None) for e in events]


def task_events_since(tx: Tx, task_id: str, after_sequence: int, limit: int,
                      exclude_type: str | None) -> tuple[Row | None, list[TimelineEntry]]:
    """For the stream: the task (None if gone) and its events after a sequence."""
    task = tx.task_get(task_id)
    if task is None:
        return None, []
    events = tx.events_of_task(task_id, after_sequence=after_sequence, limit=limit, exclude_type=exclude_type)
    return task, timeline_entries(tx, events)


def run_detail(tx: Tx, ctx: Ctx, run_id: str) -> RunDetail:
    run, task = get_run(tx, ctx, run_id)
    return RunDetail(run, task)


# -- small reads the other API families answer with --------------------------------------


def task_runs(tx: Tx, ctx: Ctx, task_id: str, *, status: str | None, session_id: str | None,
              limit: int) -> list[Row]:
    """Every run (attempt) of a visible task, oldest first."""
    load_visible_task(tx, ctx, task_id)
    return tx.runs_of_task(task_id, status=status, session_id=session_id, limit=limit)


def agents(tx: Tx, *, team: str | None, state: str | None, limit: int, offset: int) -> list[Row]:
    return tx.agent_list(team=team, state=state, limit=limit, offset=offset)


def agent_tasks(tx: Tx, ctx: Ctx, agent_id: str, *, state: str | None, limit: int, offset: int) -> list[Row]:
    """Tasks owned by the agent (whichever API created them) visible to the caller, newest first."""
    return tx.agent_task_list(agent_id, state=state, visible_workspaces=ctx.actor.workspaces, limit=limit,
                              offset=offset)


def webhook_deliveries(tx: Tx, task_id: str) -> list[tuple[Row, list[Row]]]:
    """The task's webhook deliveries, each with its attempts."""
    rows = tx.webhook_deliveries_of_task(task_id)
    attempts = tx.webhook_attempts_of([d["id"] for d in rows])
    return [(d, attempts.get(d["id"], [])) for d in rows]


def latest_run(tx: Tx, task_id: str) -> Row | None:
    return tx.latest_run_of_task(task_id)


def with_latest_run(tx: Tx, pair: tuple[Row, Row]) -> tuple[Row, Row, Row | None]:
    """A scheduled task's (task, schedule) with the task's latest run."""
    task, sched = pair
    return task, sched, tx.latest_run_of_task(task["id"])


def schedule_runs(tx: Tx, task_id: str, *, status: str | None, limit: int, offset: int) -> list[Row]:
    return tx.schedule_runs(task_id, status=status, limit=limit, offset=offset)


def metrics_snapshot(tx: Tx, ctx: Ctx, stuck_after: float) -> Row:
    return tx.metrics_snapshot(ctx.now, stuck_after)
