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

from collections import Counter
from dataclasses import dataclass
from typing import Any

from taskloom.domain.errors import Forbidden, InvalidInput, TaskloomError
from taskloom.domain.states import TaskStatus
from taskloom.engine import runs as run_ops
from taskloom.engine import tasks as task_ops
from taskloom.engine.context import Ctx, dumps, hash_token
from taskloom.engine.lifecycle import refresh_dependents, settle_failed_run, settle_failed_runs
from taskloom.engine.transitions import TaskMove, move_tasks
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
    """Set-based where it can be: the items that name a run no other item names and report no
    usage are completed with one guarded UPDATE of their runs, one of their tasks and one
    multi-row event INSERT; each refused one is then read to say why, as the single call does.
    The rest (repeated run ids, usage) go through the single call, one by one, afterwards."""
    outcomes: dict[int, Outcome] = {}
    seen = Counter(item.run_id for item in items)
    bulk: dict[int, tuple[Finish, str | None]] = {}
    for i, item in enumerate(items):
        if seen[item.run_id] == 1 and not item.usage:
            try:
                bulk[i] = (item, dumps(item.result))
            except TaskloomError as exc:
                outcomes[i] = Outcome(item.run_id, exc.status_code, error=exc.message)
    done: dict[str, Row] = {}
    if bulk:
        rows = tx.runs_complete_many(
            [{"id": it.run_id, "result": text, "terminal_key": it.idempotency_key,
              "token_hash": hash_token(it.claim_token) if it.claim_token is not None else None}
             for it, text in bulk.values()], ctx.now, run_ops.fence(ctx, None))
        done = {row["id"]: row for row in rows}
        moves = [TaskMove(done[it.run_id]["task_id"], {"result": text}, it.run_id,
                          {"attempt": done[it.run_id]["attempt"]})
                 for it, text in bulk.values() if it.run_id in done]
        common = {k: v for k, v in run_ops.completed_task_changes(ctx, None).items() if k != "result"}
        closed = move_tasks(tx, ctx, moves, TaskStatus.COMPLETED, "run.completed", changes=common)
        for task_id in tx.tasks_with_dependents(list(closed)):
            refresh_dependents(tx, ctx, task_id)
    return _in_item_order(
        items, outcomes, {i: it for i, (it, _) in bulk.items()}, done,
        refused=lambda x: run_ops.refused_complete(tx, ctx, x.run_id, x.idempotency_key, x.claim_token),
        single=lambda it: run_ops.complete_run(tx, ctx, it.run_id, result=it.result,
                                               idempotency_key=it.idempotency_key, claim_token=it.claim_token,
                                               usage=it.usage))


def fail_many(tx: Tx, ctx: Ctx, items: list[Finish]) -> list[Outcome]:
    """Set-based where it can be, as ``complete_many``: the items that name a run no other item
    names, report no usage and give an error are failed with one guarded UPDATE of their runs;
    their tasks are then settled together (``settle_failed_runs``: retried with backoff or
    failed); each refused one is read to say why, as the single call does. The rest (repeated run
    ids, usage, an empty error) go through the single call, one by one, afterwards."""
    outcomes: dict[int, Outcome] = {}
    seen = Counter(item.run_id for item in items)
    bulk = {i: item for i, item in enumerate(items)
            if seen[item.run_id] == 1 and not item.usage and item.error and item.error.strip()}
    failed: dict[str, Row] = {}
    if bulk:
        rows = tx.runs_fail_many(
            [{"id": it.run_id, "error": it.error, "terminal_key": it.idempotency_key,
              "token_hash": hash_token(it.claim_token) if it.claim_token is not None else None}
             for it in bulk.values()], ctx.now, run_ops.fence(ctx, None))
        failed = {row["id"]: row for row in rows}
        settle = [(failed[it.run_id], it.error or "", it.retryable) for it in bulk.values() if it.run_id in failed]
        per_task = Counter(run["task_id"] for run, _, _ in settle)
        settle_failed_runs(tx, ctx, [s for s in settle if per_task[s[0]["task_id"]] == 1])
        for run, error, retryable in settle:  # two live runs of one task: one by one, in item order
            if per_task[run["task_id"]] > 1:
                settle_failed_run(tx, ctx, run, error, retryable=retryable)
    return _in_item_order(
        items, outcomes, bulk, failed,
        refused=lambda x: run_ops.refused_fail(tx, ctx, x.run_id, x.idempotency_key, x.claim_token),
        single=lambda it: run_ops.fail_run(tx, ctx, it.run_id, error=it.error or "",
                                           idempotency_key=it.idempotency_key, claim_token=it.claim_token,
                                           retryable=it.retryable, usage=it.usage))


def _in_item_order(items: list[Finish], outcomes: dict[int, Outcome], bulk: dict[int, Finish],
                   done: dict[str, Row], *, refused: Any, single: Any) -> list[Outcome]:
    """The answers of a set-based finish, in item order: each bulk item 200 with its run, or, if
    the set-based update refused it, ``refused`` (which says why); every other item through
    ``single``, the one-item call, afterwards."""
    for i, it in bulk.items():
        outcomes[i] = Outcome(it.run_id, 200, run=done[it.run_id]) if it.run_id in done else _each(it, refused)
    for i, item in enumerate(items):
        if i not in outcomes:
            outcomes[i] = _each(item, single)
    return [outcomes[i] for i in range(len(items))]


def _each(item: Finish, apply: Any) -> Outcome:
    try:
        return Outcome(item.run_id, 200, run=apply(item))
    except TaskloomError as exc:
        return Outcome(item.run_id, exc.status_code, error=exc.message)


def create_many(tx: Tx, ctx: Ctx, specs: list[task_ops.TaskSpec]) -> list[Row]:
    """Create every task or none: a refused item aborts the transaction, naming its index.
    Plain tasks (nothing blocks them) are written with multi-row INSERTs, the others one by one
    through the single create, in item order."""
    tasks: list[Row] = []
    plain: list[tuple[int, Row, str]] = []  # (index, row, source), not yet written

    def check_plain() -> None:
        """The single create's statement refuses a NUL in any text: refuse the first pending
        item that has one, by its index (one scan over all their text; PostgreSQL's batch insert
        passes them as one JSON text, where a NUL is escaped and would pass unseen)."""
        if "\x00" in "".join([v for _, row, _ in plain for v in row.values() if type(v) is str]):
            at = next(i for i, row, _ in plain if any(type(v) is str and "\x00" in v for v in row.values()))
            raise InvalidInput(f"tasks[{at}]: invalid value: a string cannot contain NUL (0x00) characters")

    def flush() -> None:
        if plain:
            check_plain()
            tasks.extend(task_ops.create_ready(tx, ctx, [r for _, r, _ in plain], [src for _, _, src in plain],
                                                  stored_runs=False)[0])
            plain.clear()

    # The identifier numbers the items would take one by one, taken in one statement.
    numbers = iter(tx.task_identifiers_next(sum(1 for spec in specs if not spec.identifier)))
    for i, spec in enumerate(specs):
        try:
            row = task_ops.new_task_row(tx, ctx, spec, None if spec.identifier else next(numbers))
        except TaskloomError as exc:
            check_plain()  # an earlier item's NUL is the first refusal
            raise _item(i, exc) from exc
        if task_ops.plain(spec):
            plain.append((i, row, spec.source))
            continue
        flush()
        try:
            tasks.append(task_ops.create_general(tx, ctx, spec, row)[0])
        except TaskloomError as exc:
            raise _item(i, exc) from exc
    flush()
    return tasks


def _item(i: int, exc: TaskloomError) -> TaskloomError:
    """A batch item's refusal, naming its index: 403 stays 403, anything else is a 400."""
    return Forbidden(f"tasks[{i}]: {exc.message}") if isinstance(exc, Forbidden) \
        else InvalidInput(f"tasks[{i}]: {exc.message}")
