"""Each API's status projection has a Python and an SQL form (domain/projections.py): they
agree for every core status, on both backends."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from taskloom.domain.projections import (
    AGENT_TASK_STATE_SQL,
    AGENT_TASK_STATES,
    EXPIRED_ERROR,
    WQ_STATUS_SQL,
    WQ_STATUSES,
    agent_task_state,
    wq_status,
)
from taskloom.domain.states import BlockedReason, RunStatus, TaskStatus
from taskloom.engine import tasks as task_ops
from tests.harness import Harness

REASONS = [None, *BlockedReason]


def test_sql_and_python_projections_agree(harness: Harness) -> None:
    h = harness
    task, run = h.write(lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(title="p")))
    assert run is not None
    now = h.clock.now()
    seen_wq, seen_agent = set(), set()
    cases = itertools.product(TaskStatus, REASONS, (None, now - 1, now + 60), (None, EXPIRED_ERROR, "boom"),
                              (RunStatus.QUEUED, RunStatus.CLAIMED))
    for status, reason, deadline, error, run_status in cases:
        if reason is not None and status != TaskStatus.BLOCKED:
            continue

        values = {"s": status.value, "r": reason, "d": deadline, "e": error, "id": task["id"]}

        def check(tx: Any, ctx: Any, values: dict[str, Any] = values, run_status: RunStatus = run_status) -> Any:
            # Raw writes: this test sets rows to every combination, legal paths or not.
            tx._exec("UPDATE tasks SET status = :s, blocked_reason = :r, deadline = :d, error = :e WHERE id = :id",
                     values)
            tx._exec("UPDATE runs SET status = :s WHERE id = :id", {"s": run_status.value, "id": run["id"]})
            row = tx.task_get(task["id"])
            sql_wq = tx._scalar(f"SELECT {WQ_STATUS_SQL} AS s FROM tasks WHERE id = :id", {"id": task["id"], "now": now})
            matching = [state for state, pred in AGENT_TASK_STATE_SQL.items()
                        if tx._scalar(f"SELECT COUNT(*) AS n FROM tasks WHERE id = :id AND {pred}", {"id": task["id"]})]
            return row, sql_wq, matching

        row, sql_wq, matching = h.write(check)
        assert sql_wq == wq_status(row, now), (status, reason, deadline, error)
        python_state = agent_task_state(row, run_status == RunStatus.CLAIMED)
        assert matching == [python_state], (status, reason, run_status)
        seen_wq.add(sql_wq)
        seen_agent.add(python_state)
    assert seen_wq == set(WQ_STATUSES) and seen_agent == set(AGENT_TASK_STATES)


def test_no_query_spells_a_status_list_by_hand() -> None:
    """Status lists in SQL come from the domain's sets (``sql_list(RUN_LIVE)``), so a new
    state cannot be forgotten in one query."""
    root = Path(__file__).resolve().parents[2] / "src" / "taskloom"
    names = "|".join(sorted({s.value for s in [*TaskStatus, *RunStatus]}))
    hand_spelled = re.compile(rf"status (NOT )?IN \(\s*'({names})'\s*,")
    offenders = [f"{p.relative_to(root)}:{n}" for p in [*root.glob("storage/*.py"), *root.glob("engine/*.py")]
                 for n, line in enumerate(p.read_text().splitlines(), 1) if hand_spelled.search(line)]
    assert not offenders, f"build these status lists with domain.states.sql_list: {offenders}"
