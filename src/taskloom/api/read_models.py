"""Read-side assembly for the runtime API: summaries, detail, tree, timeline.

Each function runs inside one read transaction and batches its look-ups, so a
list of N tasks costs a fixed number of queries, not N.
"""

from __future__ import annotations

from typing import Any

from taskloom.api import views
from taskloom.domain.states import RUN_LIVE
from taskloom.engine.context import Ctx, load_visible_task
from taskloom.engine.output import OUTPUT_EVENT
from taskloom.storage.sql import Row, Tx


def task_summaries(tx: Tx, tasks: list[Row]) -> list[Row]:
    ids = [t["id"] for t in tasks]
    open_runs = tx.open_runs_of_tasks(ids)
    child_counts = tx.task_child_counts(ids)
    deps = tx.dependencies_of(ids)
    dep_tasks = tx.tasks_get_many(sorted({d["depends_on_task_id"] for d in deps}))
    by_task: dict[str, list[Row]] = {}
    for d in deps:
        by_task.setdefault(d["task_id"], []).append(d)
    return [
        views.task_summary(t, active_run=open_runs.get(t["id"]), child_count=child_counts.get(t["id"], 0),
                           deps=by_task.get(t["id"], []), dep_tasks=dep_tasks)
        for t in tasks
    ]


def task_detail(tx: Tx, ctx: Ctx, task_id: str, *, event_limit: int = 200) -> Row:
    task = load_visible_task(tx, ctx, task_id)
    summary = task_summaries(tx, [task])[0]
    children = [c for c in tx.task_children(task_id) if ctx.actor.sees_workspace(c["workspace_id"])]
    deps = tx.dependencies_of([task_id])
    dep_tasks = tx.tasks_get_many([d["depends_on_task_id"] for d in deps])
    events = tx.events_of_task(task_id, after_sequence=max(0, int(task["event_seq"]) - event_limit),
                               limit=event_limit, exclude_type=OUTPUT_EVENT)
    return {
        "task": views.task_record(task),
        "summary": summary,
        "children": task_summaries(tx, children),
        "dependencies": [views.dependency(d, with_ref=False) for d in deps],
        "dependency_references": [views.dependency(d, dep_tasks.get(d["depends_on_task_id"])) for d in deps],
        "events": [views.event_record(e) for e in events],
        "runs": [views.run_record(r) for r in tx.runs_of_task(task_id)],
    }


def tree(tx: Tx, ctx: Ctx, task_id: str) -> Row:
    load_visible_task(tx, ctx, task_id)
    nodes = [n for n in tx.task_subtree(task_id) if ctx.actor.sees_workspace(n["workspace_id"])]
    ids = [n["id"] for n in nodes]
    open_runs = tx.open_runs_of_tasks(ids)
    child_counts = tx.task_child_counts(ids)

    def node(n: Row) -> Row:
        return {
            "active_run": views.run_summary(open_runs.get(n["id"]), n["max_attempts"]),
            "child_count": child_counts.get(n["id"], 0),
            "depth": n["depth"],
            "last_activity_at": views.iso(n["last_activity_at"]),
            "parent_task_id": n["parent_task_id"],
            "task": views.task_ref(n),
        }

    return {"root": node(nodes[0]), "descendants": [node(n) for n in nodes[1:]]}


def timeline(tx: Tx, ctx: Ctx, task_id: str, *, after_sequence: int, limit: int,
             include_output: bool = False) -> list[Row]:
    task = load_visible_task(tx, ctx, task_id)
    events = tx.events_of_task(task_id, after_sequence=after_sequence, limit=limit,
                               exclude_type=None if include_output else OUTPUT_EVENT)
    return timeline_items(tx, task, events)


def timeline_items(tx: Tx, task: Row, events: list[Row]) -> list[Row]:
    runs = tx.runs_get_many(sorted({e["run_id"] for e in events if e["run_id"]}))
    return [views.timeline_item(e, task, runs.get(e["run_id"]) if e["run_id"] else None) for e in events]


def run_detail(tx: Tx, ctx: Ctx, run_id: str) -> Row:
    from taskloom.engine.runs import get_run

    run, task = get_run(tx, ctx, run_id)
    session: Any = None
    if run["session_id"]:
        session = {
            "agent_name": run["claimed_by_ref"],
            "channel": run["network_channel"],
            "created_at": views.iso(run["claimed_at"]),
            "name": run["session_id"],
            "session_id": run["session_id"],
            "state": "active" if run["status"] in RUN_LIVE else "ended",
            "updated_at": views.iso(run["last_activity_at"]),
            "workspace_id": run["workspace_id"],
        }
    return {
        "run": views.run_record(run),
        "session": session,
        "summary": views.usage_summary(run),
        "task": views.task_ref(task),
    }
