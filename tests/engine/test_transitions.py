"""The state table guards every status write (engine/transitions.py, storage's guard)."""

from __future__ import annotations

import pytest

from taskloom.domain.states import RUN_TERMINAL, IllegalTransition, RunStatus, TaskStatus
from taskloom.engine import runs as run_ops
from taskloom.engine import tasks as task_ops
from taskloom.engine.context import record
from taskloom.engine.transitions import move_run, move_task
from tests.harness import Harness


def _claimed(h: Harness) -> run_ops.Claim:
    h.write(lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(title="t", max_attempts=2)))
    claim = h.write(lambda tx, ctx: run_ops.claim_next(tx, ctx, run_ops.ClaimFilters(), 30.0, None))
    assert claim is not None
    return claim


def test_storage_refuses_a_status_write_the_table_does_not_guard(harness: Harness) -> None:
    claim = _claimed(harness)
    with pytest.raises(IllegalTransition, match="unguarded"):
        harness.write(lambda tx, ctx: tx.task_update(claim.task["id"], {"status": "ready"}))
    with pytest.raises(IllegalTransition, match="completed → queued"):
        harness.write(lambda tx, ctx: tx.run_update(claim.run["id"], {"status": "queued"}, expect_status=["completed"]))
    with pytest.raises(IllegalTransition, match="a task's status changes only through"):
        harness.write(lambda tx, ctx: record(tx, ctx, claim.task["id"], {"status": "failed"}, "task.failed"))
    # Nothing of the refused writes was kept.
    assert harness.read(lambda tx, ctx: tx.task_get(claim.task["id"]))["status"] == "in_progress"


def test_a_move_the_table_lacks_raises(harness: Harness) -> None:
    claim = _claimed(harness)
    harness.write(lambda tx, ctx: run_ops.complete_run(tx, ctx, claim.run["id"], result=1, idempotency_key=None,
                                                       claim_token=claim.token, usage=None))
    with pytest.raises(IllegalTransition, match="completed → in_progress"):
        harness.write(lambda tx, ctx: move_task(tx, ctx, claim.task["id"], TaskStatus.IN_PROGRESS, "run.claimed"))
    with pytest.raises(IllegalTransition, match="no task transition draft → completed"):
        harness.write(lambda tx, ctx: move_task(tx, ctx, claim.task["id"], TaskStatus.COMPLETED, "x",
                                                only_from=(TaskStatus.DRAFT,)))
    # A narrowed guard that misses is a lost race, not an error.
    assert harness.write(lambda tx, ctx: move_task(tx, ctx, claim.task["id"], TaskStatus.READY, "task.reopened",
                                                   only_from=(TaskStatus.FAILED,))) is None


@pytest.mark.parametrize("target", list(RunStatus))
def test_terminal_runs_never_move(harness: Harness, target: RunStatus) -> None:
    claim = _claimed(harness)
    harness.write(lambda tx, ctx: run_ops.fail_run(tx, ctx, claim.run["id"], error="boom", idempotency_key=None,
                                                   claim_token=claim.token, retryable=False))
    with pytest.raises(IllegalTransition):
        harness.write(lambda tx, ctx: move_run(tx, claim.run["id"], target, {"error": "moved"}))
    run = harness.read(lambda tx, ctx: tx.run_get(claim.run["id"]))
    assert run["status"] in RUN_TERMINAL and run["error"] == "boom"


def test_canceling_a_live_run_puts_its_task_back_to_pending(harness: Harness) -> None:
    """in_progress → pending: a transition the table once lacked while the code made it."""
    claim = _claimed(harness)
    harness.write(lambda tx, ctx: run_ops.cancel_run(tx, ctx, claim.run["id"], "stop"))
    task = harness.read(lambda tx, ctx: tx.task_get(claim.task["id"]))
    assert task["status"] == "pending"


def test_a_queued_run_past_its_deadline_fails_its_task(harness: Harness) -> None:
    """ready → failed (expire_deadlines), on the manual clock."""
    h = harness
    task, run = h.write(lambda tx, ctx: task_ops.create_task(
        tx, ctx, task_ops.TaskSpec(title="t", deadline=ctx.now + 60)))
    assert run is not None
    assert h.write(lambda tx, ctx: run_ops.expire_deadlines(tx, ctx)) == 0
    h.clock.advance(61)
    assert h.write(lambda tx, ctx: run_ops.expire_deadlines(tx, ctx)) == 1
    assert h.read(lambda tx, ctx: tx.task_get(task["id"]))["status"] == "failed"
    assert h.read(lambda tx, ctx: tx.run_get(run["id"]))["status"] == "canceled"
