"""The runtime API's read answers, shaped from the engine's read records
(``engine/read_models.py``). Pure: no storage, no I/O."""

from __future__ import annotations

from typing import Any

from taskloom.api import views
from taskloom.domain.states import RUN_LIVE
from taskloom.engine import read_models as rm
from taskloom.rows import Row


def summaries(items: list[rm.TaskSummary]) -> list[Row]:
    return [views.task_summary(s.task, active_run=s.active_run, child_count=s.child_count, deps=s.deps,
                               dep_tasks=s.dep_tasks) for s in items]


def detail(d: rm.TaskDetail) -> Row:
    return {
        "task": views.task_record(d.task),
        "summary": summaries([d.summary])[0],
        "children": summaries(d.children),
        "dependencies": [views.dependency(dep, with_ref=False) for dep in d.deps],
        "dependency_references": [views.dependency(dep, d.dep_tasks.get(dep["depends_on_task_id"]))
                                  for dep in d.deps],
        "events": [views.event_record(e) for e in d.events],
        "runs": [views.run_record(r) for r in d.runs],
    }


def tree(nodes: list[rm.TreeNode]) -> Row:
    def node(n: rm.TreeNode) -> Row:
        return {
            "active_run": views.run_summary(n.active_run, n.task["max_attempts"]),
            "child_count": n.child_count,
            "depth": n.task["depth"],
            "last_activity_at": views.iso(n.task["last_activity_at"]),
            "parent_task_id": n.task["parent_task_id"],
            "task": views.task_ref(n.task),
        }

    return {"root": node(nodes[0]), "descendants": [node(n) for n in nodes[1:]]}


def timeline(task: Row, entries: list[rm.TimelineEntry]) -> list[Row]:
    return [views.timeline_item(e.event, task, e.run) for e in entries]


def run_detail(d: rm.RunDetail) -> Row:
    run = d.run
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
        "task": views.task_ref(d.task),
    }
