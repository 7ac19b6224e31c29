"""Batched operations: many claims, completes, fails or creates in one transaction.

Each item goes through the same operation as its single call (``runs.claim_many``,
``runs.complete_run``, ``runs.fail_run``, ``tasks.create_task``), so a batch writes
the same rows and the same events, in the same per-task order, as the singles would.

- complete/fail: each item is applied or refused on its own. That relies on the single
  operations raising every refusal before their first write (they do: the guarded update
  comes first, and only a refused one reads the run to say why).
- create: all or nothing. The first bad item aborts the whole transaction, and the error
  names its index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskloom.domain.errors import Forbidden, InvalidInput, TaskloomError
from taskloom.engine import runs as run_ops
from taskloom.engine import tasks as task_ops
from taskloom.engine.context import Ctx
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

MAX_CLAIMS = 500
MAX_ITEMS = 500
MAX_CREATES = 1000


@dataclass
class Finish:
    """One complete or fail item: the run id, the body fields of the single call."""

    run_id: str
    claim_token: str | None = None
    idempotency_key: str | None = None
    usage: Row | None = None
    result: Any = None
    error: str | None = None
    retryable: bool = True


@dataclass
class Outcome:
    run_id: str
    status: int
    run: Row | None = None
    error: str | None = None


def complete_many(tx: Tx, ctx: Ctx, items: list[Finish]) -> list[Outcome]:
    return [_each(item, lambda it: run_ops.complete_run(
        tx, ctx, it.run_id, result=it.result, idempotency_key=it.idempotency_key, claim_token=it.claim_token,
        usage=it.usage)) for item in items]


def fail_many(tx: Tx, ctx: Ctx, items: list[Finish]) -> list[Outcome]:
    return [_each(item, lambda it: run_ops.fail_run(
        tx, ctx, it.run_id, error=it.error or "", idempotency_key=it.idempotency_key, claim_token=it.claim_token,
        retryable=it.retryable, usage=it.usage)) for item in items]


def _each(item: Finish, apply: Any) -> Outcome:
    try:
        return Outcome(item.run_id, 200, run=apply(item))
    except TaskloomError as exc:
        return Outcome(item.run_id, exc.status_code, error=exc.message)


def create_many(tx: Tx, ctx: Ctx, specs: list[task_ops.TaskSpec]) -> list[Row]:
    """Create every task or none: a refused item aborts the transaction, naming its index."""
    tasks = []
    for i, spec in enumerate(specs):
        try:
            task, _ = task_ops.create_task(tx, ctx, spec)
        except Forbidden as exc:
            raise Forbidden(f"tasks[{i}]: {exc.message}") from exc
        except TaskloomError as exc:
            raise InvalidInput(f"tasks[{i}]: {exc.message}") from exc
        tasks.append(task)
    return tasks
