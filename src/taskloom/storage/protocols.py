"""The storage interface the engine depends on: one ``typing.Protocol`` per family.

An engine operation is ``op(tx, ctx)``; ``tx`` is a ``Tx``, the union of the families below.
Each family is a set of named, operation-level methods (noun first: ``task_get``,
``run_update``, ``schedules_due``), never a generic ``execute``. Both backends implement every
family (``SqliteTx`` in storage/sqlite.py, ``PostgresTx`` in storage/postgres.py, sharing the SQL
of ``SqlTx`` in storage/sql.py and its mixins); mypy checks that each satisfies ``Tx``
(the ``_satisfies_tx`` functions at the end of each backend module), and the conformance
suite (tests/storage/) runs every method on both.

Rows read are ``Row`` (a dict, taskloom/rows.py); the rows the engine writes into the
busiest tables are TypedDicts (``EventRow``, ``NewRun``), so a wrong column fails in mypy. A method that changes a
status is guarded: it takes the states the row must still be in and answers None when it was
not (a lost race changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from taskloom.rows import Closed, EventRow, NewRun, Notice, Row, RunTake, Taken, TaskStep
from taskloom.storage.dialects import LockMode
from taskloom.storage.queries_usage import USAGE_DIMS, USAGE_SUMS
from taskloom.storage.statements import Coalesce

# Besides the protocols: the values their arguments use. ``Coalesce(v)`` is an update value
# written only where the column is still NULL; ``USAGE_DIMS``/``USAGE_SUMS`` name what
# ``UsageStore.usage_sums`` groups by and adds up; ``LockMode`` how a read locks its rows.
__all__ = ["USAGE_DIMS", "USAGE_SUMS", "Coalesce", "LockMode", "Tx"]


class TxState(Protocol):
    """What a transaction carries besides its queries: wake-ups to publish and work to do once it commits."""

    notices: set[Notice]  # published once the transaction commits
    run_transitions: list[Row]  # runs whose status it changed, for commit hooks (metrics, logs)
    after_commit: list[Callable[[], None]]  # called once it committed, on the storage thread
    outbox_written: set[tuple[str, str]]  # (task id, state) pairs with a webhook delivery written

    def notify(self, notice: Notice) -> None: ...


class CounterStore(Protocol):
    """Named counters that never hand out a value twice."""

    def counter_next(self, name: str, start: int = 1) -> int:
        """Next value of a named counter."""

    def task_identifier_next(self) -> int:
        """The number in a new task's ``TL-<n>`` identifier."""

    def task_identifiers_next(self, n: int) -> list[int]:
        """``n`` of them at once (batch create), in increasing order, none handed out before."""


class TaskStore(Protocol):
    """The core ``tasks`` rows. A status write is guarded (``expect_status``) by states the state table allows it from."""

    def task_insert(self, row: Row) -> None: ...

    def tasks_insert_many(self, rows: list[Row]) -> list[Row]:
        """Insert tasks sharing one set of columns (multi-row INSERTs); the stored rows, in order."""

    def tasks_update_many(self, items: Sequence[Row], changes: Row, *, expect_status: Sequence[str]) -> list[Row]:
        """``task_update`` for many tasks in one guarded statement: ``changes`` for all plus each
        item's own text columns; returns the updated rows."""

    def task_get(self, task_id: str, *, for_update: bool = False) -> Row | None: ...

    def task_get_by_identifier(self, identifier: str) -> Row | None: ...

    def tasks_get_many(self, task_ids: Sequence[str]) -> dict[str, Row]: ...

    def task_update(self, task_id: str, changes: Row, *, expect_status: Sequence[str] | None = None) -> Row | None:
        """Apply ``changes`` (guarded by ``expect_status``) and bump the event sequence."""

    def task_delete(self, task_id: str) -> int: ...

    def task_children(self, task_id: str) -> list[Row]: ...

    def task_child_counts(self, task_ids: Sequence[str]) -> dict[str, int]: ...

    def task_subtree(self, task_id: str) -> list[Row]:
        """The task and all its descendants, each with ``depth`` (root = 0), parents first."""

    def task_list(self, filters: Row, *, limit: int, offset: int = 0, order: str = "created_desc") -> list[Row]: ...

    def task_count(self, filters: Row) -> int: ...


class DependencyStore(Protocol):
    """Edges between tasks (``task_dependencies``)."""

    def dependency_insert(self, task_id: str, depends_on: str, kind: str, now: float) -> bool: ...

    def dependency_delete(self, task_id: str, depends_on: str) -> bool: ...

    def dependencies_of(self, task_ids: Sequence[str]) -> list[Row]: ...

    def dependents_of(self, task_id: str) -> list[str]: ...

    def tasks_with_dependents(self, task_ids: Sequence[str]) -> list[str]:
        """Those of ``task_ids`` that other tasks depend on, in the order given."""

    def dependency_path(self, start: str, target: str) -> list[str] | None:
        """A path of dependency edges from ``start`` to ``target`` (inclusive), if any."""

    def unmet_dependency_count(self, task_id: str) -> int: ...


class RunStore(Protocol):
    """Runs (attempts) of tasks: insert, guarded update, claim, complete, rescue."""

    def run_insert(self, row: NewRun) -> Row:
        """Insert a run."""

    def run_get(self, run_id: str, *, for_update: bool = False) -> Row | None: ...

    def runs_get_many(self, run_ids: Sequence[str]) -> dict[str, Row]: ...

    def run_update(self, run_id: str, changes: Row, *, expect_status: Sequence[str] | None = None) -> Row | None: ...

    def runs_of_task(
        self, task_id: str, *, status: str | None = None, session_id: str | None = None, limit: int = 1000
    ) -> list[Row]: ...

    def open_run_of_task(self, task_id: str) -> Row | None: ...

    def open_runs_of_tasks(self, task_ids: Sequence[str]) -> dict[str, Row]: ...

    def latest_runs_of_tasks(self, task_ids: Sequence[str]) -> dict[str, Row]: ...

    def run_claim_next(self, now: float, filters: Row) -> Row | None:
        """The best claimable run (id, task_id, attempt, concurrency_key), locked for this transaction."""

    def runs_claim_candidates(self, now: float, filters: Row, limit: int) -> list[Row]:
        """Up to ``limit`` claimable runs in claim order, within the limits of their keys."""

    def key_limit_refusal(self, row: Row, now: float, tally: dict[tuple[str, str], int]) -> str | None:
        """Why the run may not be claimed now under its concurrency / rate-limit key (None: it may)."""

    def run_complete(
        self, run_id: str, now: float, *, result: str | None, terminal_key: str | None, usage: Row, fence: Row
    ) -> Row | None:
        """Complete a live run in one guarded update (named statement ``complete``)."""

    def run_complete_close(self, run_id: str, now: float, *, result: str | None, terminal_key: str | None,
                           usage: Row, fence: Row, close: TaskStep) -> Closed | None:
        """``run_complete``, then its task moved by ``close`` with the step's event, and the ids of the
        tasks that depend on it; one statement on PostgreSQL. None when refused (nothing written)."""

    def run_claim_take(self, now: float, filters: Row, take: RunTake) -> Taken | None:
        """The best claimable run (``runs_claim_candidates`` with limit 1), taken: its task moved by the
        take's step with its event, then the run moved; one statement on PostgreSQL for a run without
        key limits. None when nothing is claimable; a ``Taken`` without task when the run's task was
        not in the step's states (nothing written)."""

    def runs_lease_expired(self, now: float, limit: int = 200) -> list[Row]: ...

    def runs_past_deadline(self, now: float, limit: int = 200) -> list[Row]: ...

    def next_available_at(self, now: float) -> float | None:
        """When the earliest backoff-delayed queued run becomes claimable (for long-poll)."""

    def runs_due_exist(self, now: float, channel: str | None) -> bool:
        """Whether any run is queued, not held and due by ``now`` (on ``channel``; None: on any):
        a cheap superset of what a claim could find there (a waiting claim's re-check)."""

    def runs_insert_many(self, rows: list[NewRun]) -> None:
        """Insert runs that share one set of columns, in one round of statements."""

    def runs_insert_returning(self, rows: list[NewRun]) -> list[Row]:
        """Insert runs sharing one set of columns (multi-row INSERTs); the stored rows, in order."""

    def runs_claim_many(self, items: Sequence[Row], now: float, *, holder: tuple[str, str], lease_seconds: float,
                        session_id: str | None) -> list[Row]:
        """Claim many queued runs in one guarded update (named statement ``claim_take``), one lease
        for all; ``items``: id, token_hash, timeout_at. Returns the claimed runs, with the columns
        a claim's run record and the commit hooks read (``CLAIMED_RUN_COLUMNS``), not whole rows."""

    def runs_complete_many(self, items: Sequence[Row], now: float, fence: Row) -> list[Row]:
        """Complete many live runs in one guarded update (named statement ``complete_batch``);
        ``items``: id, result, terminal_key, token_hash. Returns the completed runs, with the
        columns a lease and the commit hooks read (``COMPLETED_RUN_COLUMNS``), not whole rows."""

    def runs_fail_many(self, items: Sequence[Row], now: float, fence: Row) -> list[Row]:
        """Fail many live runs in one guarded update (named statement ``fail_batch``); ``items``:
        id, error, terminal_key, token_hash. Returns the failed runs, with the columns a lease and
        the commit hooks read (``COMPLETED_RUN_COLUMNS``), not whole rows."""


class EventStore(Protocol):
    """The append-only, per-task numbered event log."""

    def events_insert_many(self, rows: list[EventRow]) -> None: ...

    def event_insert(self, row: EventRow) -> None: ...

    def events_of_task(
        self, task_id: str, *, after_sequence: int = 0, limit: int = 1000, exclude_type: str | None = None
    ) -> list[Row]: ...

    def latest_event_at(self) -> float | None: ...


class TriageStore(Protocol):
    """Per-person inbox state of a task (read, archived, snoozed)."""

    def triage_get(self, actor_kind: str, actor_ref: str, task_id: str) -> Row | None: ...

    def triage_upsert(self, row: Row) -> Row: ...

    def triage_for_actor(self, actor_kind: str, actor_ref: str) -> dict[str, Row]: ...


class ObserveStore(Protocol):
    """Read-only counts for the dashboard and the inbox."""

    def task_status_counts(self, filters: Row) -> dict[str, int]: ...

    def task_blocked_counts(self, filters: Row) -> dict[str, int]: ...

    def run_status_counts(self, filters: Row) -> dict[str, int]: ...

    def queue_depth(self, filters: Row) -> list[Row]: ...

    def live_runs(self, filters: Row, limit: int = 200) -> list[Row]: ...

    def forced_stop_count(self, filters: Row) -> int:
        """Runs the engine took back (lease lapsed or timed out), not failed by their agent."""

    def latency_stats(self, since: float) -> Row: ...

    def queue_waits(self, filters: Row, since: float, step: float) -> list[Row]:
        """What the queue depth history is made of, per channel."""

    def live_run_counts_by_channel(self, filters: Row, now: float, silent_before: float) -> list[Row]:
        """Per channel."""

    def claimer_activity(self, since: float) -> list[Row]:
        """Per claimer of runs claimed since ``since`` (a covering index)."""


class ServiceStateStore(Protocol):
    """Small named values the background services keep between ticks."""

    def service_state_get(self, name: str) -> Row | None: ...

    def service_state_put(self, name: str, value: str, now: float) -> None: ...


class AgentStore(Protocol):
    """The agent registry and the tasks submitted to agents."""

    def agent_insert(self, row: Row) -> None: ...

    def agent_get(self, agent_id: str, *, for_update: bool = False) -> Row | None: ...

    def agent_state(self, agent_id: str) -> str | None: ...

    def agent_list(self, *, team: str | None, state: str | None, limit: int, offset: int) -> list[Row]: ...

    def agent_update(self, agent_id: str, changes: Row) -> Row | None: ...

    def agent_delete(self, agent_id: str) -> int: ...

    def agent_open_task_ids(self, agent_id: str) -> list[str]: ...

    def agent_task_insert(self, row: Row) -> None: ...

    def agent_task_get(self, task_id: str) -> Row | None: ...

    def agent_tasks_get_many(self, task_ids: Sequence[str]) -> dict[str, Row]: ...

    def agent_task_list(
        self, agent_id: str, *, state: str | None, visible_workspaces: Sequence[str] | None, limit: int, offset: int
    ) -> list[Row]:
        """Tasks owned by the agent (whichever API created them), newest first."""


class WebhookStore(Protocol):
    """The webhook outbox: deliveries and their attempts."""

    def webhook_delivery_insert(self, row: Row) -> None: ...

    def webhook_deliveries_of_task(self, task_id: str) -> list[Row]: ...

    def webhook_attempts_of(self, delivery_ids: Sequence[str]) -> dict[str, list[Row]]: ...

    def webhook_due_ids(self, now: float, limit: int) -> list[str]: ...

    def webhook_lock(self, delivery_id: str, now: float, until: float) -> Row | None:
        """Take one due delivery for sending (a guarded update."""

    def webhook_delivery_update(self, delivery_id: str, changes: Row) -> Row | None: ...

    def webhook_attempt_insert(self, row: Row) -> None: ...


class ApiKeyStore(Protocol):
    """API keys (only their hashes are stored)."""

    def api_key_insert(self, row: Row) -> None: ...

    def api_key_by_hash(self, key_hash: str) -> Row | None: ...

    def api_key_get(self, key_id: str) -> Row | None: ...

    def api_key_list(self, *, include_revoked: bool, limit: int, offset: int) -> list[Row]: ...

    def api_key_revoke(self, key_id: str, now: float) -> bool: ...

    def api_key_touch(self, key_id: str, now: float, min_interval: float) -> None:
        """Record a use, at most once per ``min_interval`` seconds (the guard holds across processes)."""


class BacklogStore(Protocol):
    """Per-agent backlogs: prefixes and the backlog views of tasks."""

    def backlog_task_find(self, ref: str) -> Row | None:
        """A task by its backlog id (the core identifier) or by its core id."""

    def backlog_owns_tasks(self, agent_id: str) -> bool: ...

    def backlog_task_list(self, filters: Row, *, limit: int, offset: int) -> list[Row]: ...

    def backlog_task_count(self, filters: Row) -> int: ...

    def backlog_status_counts(self, agent_id: str, workspaces: Sequence[str] | None = None) -> dict[str, int]:
        """Core status → task count for one agent's backlog (one index-only scan)."""

    def backlog_agent_get(self, agent_id: str) -> Row | None: ...

    def backlog_agent_insert(self, agent_id: str, prefix: str, now: float) -> bool:
        """Record the agent's first prefix."""

    def backlog_agent_set_prefix(self, agent_id: str, prefix: str, now: float) -> Row: ...

    def backlog_prefix_reserve(self, prefix: str, agent_id: str, now: float) -> bool:
        """Reserve ``prefix`` for ``agent_id``."""

    def backlog_prefix_release(self, prefix: str, agent_id: str) -> None: ...

    def backlog_prefix_owner(self, prefix: str) -> str | None: ...

    def backlog_prefixes_of(self, agent_id: str) -> list[str]: ...

    def backlog_counter_peek(self, name: str) -> int:
        """The last value a counter handed out (0 if none), without taking one."""


class BudgetStore(Protocol):
    """Token and cost budgets per agent, channel or workspace."""

    def budget_insert(self, row: Row) -> None: ...

    def budget_get(self, budget_id: str, *, for_update: bool = False) -> Row | None: ...

    def budget_list(self, *, scope: str | None = None, exhausted: bool | None = None, limit: int = 1000) -> list[Row]: ...

    def budget_update(self, budget_id: str, changes: Row) -> Row | None: ...

    def budget_delete(self, budget_id: str) -> int: ...

    def budgets_covering(self, agent: str, channel: str, workspace: str, *, for_update: bool = False) -> list[Row]:
        """Budgets whose scope takes in a run of this agent, channel and workspace."""

    def budgets_exhausted(self) -> list[Row]:
        """Budgets marked spent (the claim check."""


class MessageStore(Protocol):
    """A task's coordination channel (questions, answers, messages)."""

    def message_insert(self, row: Row) -> Row:
        """Insert with the task's next sequence (callers hold the task row lock)."""

    def messages_of_task(
        self, task_id: str, *, after_sequence: int = 0, role: str | None = None, limit: int = 1000
    ) -> list[Row]: ...

    def messages_of_run(self, run_id: str, *, after_sequence: int = 0, limit: int = 100) -> list[Row]: ...

    def last_question(self, task_id: str) -> Row | None: ...


class OpsStore(Protocol):
    """Readiness, the /metrics gauges and retention."""

    def migrations_applied(self) -> set[str]: ...

    def metrics_snapshot(self, now: float, stuck_after: float) -> Row:
        """The gauges of /metrics, read in one transaction."""

    def retention_candidates(self, cutoff: float, cursor: tuple[float, str] | None, limit: int) -> list[Row]:
        """Closed tasks older than ``cutoff`` (oldest first, after ``cursor``) that are not scheduled."""

    def retention_group_step(self, ids: list[str]) -> list[Row]:
        """These tasks with their status, age, whether scheduled, and the ids they link to."""

    def tasks_delete(self, ids: list[str]) -> int:
        """Delete these tasks."""


class OutputStore(Protocol):
    """Streamed run output, in chunks."""

    def output_insert(self, run_id: str, start: int, chunk: str, now: float) -> None: ...

    def output_after(self, run_id: str, offset: int, max_chars: int) -> list[Row]:
        """The chunks holding text after ``offset``, in order, about ``max_chars`` of them."""


class ScheduleStore(Protocol):
    """Scheduled tasks and their firings."""

    def schedule_insert(self, row: Row) -> None: ...

    def schedule_get(self, task_id: str, *, for_update: bool = False) -> Row | None: ...

    def schedule_update(self, task_id: str, changes: Row, *, guard: Row | None = None) -> Row | None:
        """Apply ``changes``."""

    def schedules_due(self, now: float, limit: int) -> list[Row]: ...

    def schedule_tasks_reopen(self, task_ids: list[str], now: float) -> dict[str, Row]:
        """Reopen many tasks for a new firing in one statement."""

    def schedules_claim_firings(
        self, task_ids: list[str], due: float, next_run_at: float | None, now: float, missed: int
    ) -> list[Row]:
        """Claim the firing at ``due`` of each schedule still due then and active."""

    def schedules_waiting_ready(self, limit: int) -> list[Row]:
        """Active schedules holding a waiting firing whose task has no open run any more."""

    def schedules_for_events(self) -> list[Row]: ...

    def schedule_list(self, filters: Row, *, limit: int, offset: int) -> list[Row]: ...

    def schedule_count(self, filters: Row) -> int: ...

    def dedupe_blocking_run(self, key: str, since: float | None) -> Row | None:
        """A run with ``key`` queued at or after ``since`` (None."""

    def run_of_attempt(self, task_id: str, attempt: int) -> Row | None: ...

    def schedule_runs(self, task_id: str, *, status: str | None, limit: int, offset: int) -> list[Row]: ...

    def latest_run_of_task(self, task_id: str) -> Row | None: ...


class UsageStore(Protocol):
    """Usage per run and its daily roll-up."""

    def run_usage_get(self, run_id: str) -> Row | None: ...

    def run_usage_put(self, row: Row) -> None: ...

    def usage_rollup_add(self, key: Row, delta: Row, runs: int) -> None:
        """Add ``delta`` (signed sums) and ``runs`` to the roll-up row of ``key``."""

    def usage_sums(
        self,
        dims: Sequence[str],
        filters: Row,
        *,
        visible_workspaces: Sequence[str] | None,
        full_days: tuple[str, str] | None,
        edges: tuple[float | None, float | None] | None,
    ) -> list[Row]:
        """Sums grouped by ``dims``."""


class WorkQueueStore(Protocol):
    """The work-queues API's queues and its view of tasks and runs."""

    def wq_insert(self, row: Row) -> Row | None:
        """Insert a queue."""

    def wq_get(self, queue_id: str, *, lock: LockMode | None = None) -> Row | None:
        """The queue."""

    def wq_list(self, team_id: str | None, visible: Sequence[str] | None, *, limit: int, offset: int) -> list[Row]: ...

    def wq_delete(self, queue_id: str) -> int: ...

    def wq_status_counts(self, queue_ids: Sequence[str], now: float) -> dict[str, dict[str, int]]:
        """Per queue, how many tasks are in each work-queue status (every status present, 0 if none)."""

    def wq_tasks(self, queue_id: str, now: float, *, status: str | None, limit: int, offset: int) -> list[Row]:
        """Tasks of a queue, oldest first, each with its derived ``wq_status``."""

    def wq_task_status(self, task_id: str, now: float) -> str | None: ...

    def wq_open_task_ids(self, queue_id: str, now: float) -> list[str]:
        """Tasks that are pending or assigned (what a forced delete cancels)."""

    def wq_next_run(self, queue_id: str, now: float, filters: Row, skip: Sequence[str] = ()) -> Row | None:
        """The queue's best claimable run in dequeue order (most urgent, then earliest deadline, then oldest), locked
        on PostgreSQL (rows others hold are skipped)."""

    def wq_steal_sources(self, team_id: str, exclude_queue: str, now: float, filters: Row) -> list[Row]:
        """The team's other queues that have claimable work, most loaded first (ties."""


class RateBucketStore(Protocol):
    """The per-caller rate limit's token buckets, shared by every process on the database."""

    def rate_bucket_take(self, caller: str, now: float, rate: float, burst: float) -> float | None:
        """Take one token from ``caller``'s bucket (refilled at ``rate`` per second up to ``burst``):
        None if taken, else the tokens it holds (fewer than one)."""

    def rate_buckets_purge(self, idle_before: float) -> int:
        """Forget buckets untouched since ``idle_before``."""


class Tx(
    TxState,
    CounterStore,
    TaskStore,
    DependencyStore,
    RunStore,
    EventStore,
    TriageStore,
    ObserveStore,
    ServiceStateStore,
    AgentStore,
    WebhookStore,
    ApiKeyStore,
    BacklogStore,
    BudgetStore,
    MessageStore,
    OpsStore,
    OutputStore,
    ScheduleStore,
    UsageStore,
    WorkQueueStore,
    RateBucketStore,
    Protocol,
):
    """One transaction: every family. Engine operations take this; a function that needs one
    family only may ask for just that protocol."""
