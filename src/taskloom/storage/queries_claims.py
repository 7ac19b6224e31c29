"""The agent loop's run writes, shared by both dialects: the claim pick's filters, claim-next
and complete as combined writes (``run_claim_take``, ``run_complete_close``; one statement each
on PostgreSQL, which overrides them), and the set-based batch claims, completes and fails with
their fences. Mixed into ``Tx``; every status change is guarded and recorded in
``run_transitions`` for the commit hooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from taskloom.domain.states import RUN_LIVE, sql_list
from taskloom.rows import Appended, Closed, EventRow, Row, RunTake, Taken, TaskStep
from taskloom.storage.columns import RUN_COLUMNS
from taskloom.storage.named_sql import statement
from taskloom.storage.statements import in_list, set_clause

if TYPE_CHECKING:
    from taskloom.storage.dialects import Dialect

_LIVE = sql_list(RUN_LIVE)


def stepped_event(event: Appended, task: Row, run: Row) -> EventRow:
    """The event row of a combined write's step (see ``Appended``)."""
    return {"task_id": task["id"], "sequence": task["event_seq"], "run_id": run["id"], "event_type": event.event_type,
            "actor_kind": event.actor_kind, "actor_ref": event.actor_ref, "origin_kind": event.origin_kind,
            "origin_ref": event.origin_ref, "payload": orjson.dumps({"attempt": run["attempt"], **event.payload}).decode(),
            "created_at": event.created_at}



class ClaimQueries:
    if TYPE_CHECKING:  # provided by SqlTx
        dialect: str
        sql_dialect: Dialect
        run_transitions: list[Row]

        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _rows_at(self, sql: str, params: dict[str, Any] | None = None,
                     lead: Sequence[Any] = ()) -> list[Row]: ...
        def task_update(self, task_id: str, changes: Row, *,
                        expect_status: Sequence[str] | None = None) -> Row | None: ...
        def run_update(self, run_id: str, changes: Row, *,
                       expect_status: Sequence[str] | None = None) -> Row | None: ...
        def event_insert(self, row: EventRow) -> None: ...
        def dependents_of(self, task_id: str) -> list[str]: ...

    def run_claim_next(self, now: float, filters: Row) -> Row | None:
        """The best claimable run (id, task_id, attempt, concurrency_key), locked for this
        transaction; the caller then claims it with a guarded update."""
        rows = self.runs_claim_candidates(now, filters, 1)
        return rows[0] if rows else None

    def runs_claim_candidates(self, now: float, filters: Row, limit: int) -> list[Row]:
        """Up to ``limit`` claimable runs in claim order, within the limits of their keys (queries_limits.py).
        Dialect-specific: SKIP LOCKED on PostgreSQL, the single writer on SQLite."""
        raise NotImplementedError

    def _claim_params(self, now: float, filters: Row) -> tuple[dict[str, Any], str]:
        """Parameters and the ``filters`` slot of the named claim statements."""
        params: dict[str, Any] = {"now": now, "assignee": filters.get("assignee") or ""}
        return params, "".join(" AND " + c for c in self._claim_filter_clauses(filters, params))

    def _claim_where(self, now: float, filters: Row, params: dict[str, Any]) -> str:
        """The whole claimability condition on ``runs r`` (for queries that are not named yet)."""
        params["now"] = now
        params["assignee"] = filters.get("assignee") or ""
        clauses = ["r.status = 'queued'", "r.held = 0", "r.available_at <= :now",
                   "(r.deadline IS NULL OR r.deadline > :now)", "(r.assignee IS NULL OR r.assignee = :assignee)",
                   "(r.concurrency_key IS NULL OR (SELECT COUNT(*) FROM runs a WHERE a.concurrency_key ="
                   f" r.concurrency_key AND a.status IN {_LIVE}) < r.concurrency_limit)",
                   "(r.rate_limit_key IS NULL OR (SELECT COUNT(*) FROM runs b WHERE b.rate_limit_key ="
                   " r.rate_limit_key AND b.claimed_at IS NOT NULL AND b.claimed_at > :now - 60)"
                   " < r.rate_limit_per_minute)"]
        return " AND ".join(clauses + self._claim_filter_clauses(filters, params))

    def _claim_filter_clauses(self, filters: Row, params: dict[str, Any]) -> list[str]:
        clauses = []
        if filters.get("network_channel") is not None:
            params["channel"] = filters["network_channel"]
            clauses.append("r.network_channel = :channel")
        if filters.get("workspace") is not None:
            params["workspace"] = filters["workspace"]
            clauses.append("r.workspace_id = :workspace")
        if filters.get("visible_workspaces") is not None:
            clauses.append(
                "(r.workspace_id IS NULL OR r.workspace_id IN "
                + in_list("cw", list(filters["visible_workspaces"]) or [""], params) + ")"
            )
        if filters.get("min_priority") is not None:
            params["minp"] = filters["min_priority"]
            clauses.append("r.priority >= :minp")
        if filters.get("task_ids") is not None:
            clauses.append("r.task_id IN " + in_list("ct", list(filters["task_ids"]) or [""], params))
        if filters.get("capabilities") is not None:
            clauses.append(self._capability_clause(filters["capabilities"], params))
        if filters.get("exclude_channels"):  # spent budgets (engine/budgets.py claim_limits)
            clauses.append("(r.network_channel IS NULL OR r.network_channel NOT IN "
                           + in_list("xc", list(filters["exclude_channels"]), params) + ")")
        if filters.get("exclude_workspaces"):
            clauses.append("(r.workspace_id IS NULL OR r.workspace_id NOT IN "
                           + in_list("xw", list(filters["exclude_workspaces"]), params) + ")")
        return clauses

    def _capability_clause(self, capabilities: list[str], params: dict[str, Any]) -> str:
        return self.sql_dialect.capabilities_cover("r.required_capabilities", capabilities, params)

    def run_complete(self, run_id: str, now: float, *, result: str | None, terminal_key: str | None,
                     usage: Row, fence: Row) -> Row | None:
        """Complete a live run in one guarded update (named statement ``complete``). ``fence``
        narrows it to the caller's own run: ``holder`` (kind, ref), ``claim_token_hash``,
        ``visible_workspaces``; ``usage`` sets the reported usage columns (running totals).
        None when refused (the caller reads the run to say why)."""
        params: dict[str, Any] = {}
        row = self._one(self._complete_sql(run_id, now, result, terminal_key, usage, fence, params), params)
        if row is not None:
            # A status change like any other: metrics and logs read run_transitions after commit.
            self.run_transitions.append(row)
        return row

    def _complete_sql(self, run_id: str, now: float, result: str | None, terminal_key: str | None, usage: Row,
                      fence: Row, params: dict[str, Any]) -> str:
        params.update({"id": run_id, "now": now, "result": result, "terminal_key": terminal_key})
        sets = ", " + set_clause(usage, params, RUN_COLUMNS, "runs") if usage else ""
        return statement(self.dialect, "complete", usage=sets, fence=self._fence_sql(fence, params))

    def run_complete_close(self, run_id: str, now: float, *, result: str | None, terminal_key: str | None,
                           usage: Row, fence: Row, close: TaskStep) -> Closed | None:
        """``run_complete``, then its task moved by ``close`` with the step's event, and the tasks
        that depend on it: what completing a run writes, in one statement where the backend can.
        None when refused (nothing written)."""
        run = self.run_complete(run_id, now, result=result, terminal_key=terminal_key, usage=usage, fence=fence)
        if run is None:
            return None
        task = self.task_update(run["task_id"], close.changes, expect_status=close.expect)
        if task is None:
            return Closed(run, None, [])
        self.event_insert(stepped_event(close.event, task, run))
        return Closed(run, task, self.dependents_of(task["id"]))

    def run_claim_take(self, now: float, filters: Row, take: RunTake) -> Taken | None:
        """The best claimable run (``runs_claim_candidates`` with limit 1) taken: its task moved by
        the take's step with its event, then the run moved. None when nothing is claimable; a
        ``Taken`` without task when the run's task was not in the step's states (nothing written)."""
        rows = self.runs_claim_candidates(now, filters, 1)
        if not rows:
            return None
        candidate = rows[0]
        task = self.task_update(candidate["task_id"], take.task.changes, expect_status=take.task.expect)
        if task is None:
            return Taken(candidate)
        self.event_insert(stepped_event(take.task.event, task, candidate))
        changes = dict(take.run_changes)
        if task["timeout_seconds"]:
            changes["timeout_at"] = take.timeout_base + float(task["timeout_seconds"])
        return Taken(candidate, task, self.run_update(candidate["id"], changes, expect_status=take.run_expect))

    def runs_complete_many(self, items: Sequence[Row], now: float, fence: Row) -> list[Row]:
        """Complete many live runs in one guarded update (named statement ``complete_batch``).
        ``items``: ``id``, ``result``, ``terminal_key``, ``token_hash`` (None: any token), run
        ids distinct; ``fence`` as for ``run_complete`` (without a token). Returns the completed
        runs (their ``COMPLETED_RUN_COLUMNS``); the others were refused."""
        return self._runs_end_many("complete_batch", "result", items, now, fence)

    def runs_fail_many(self, items: Sequence[Row], now: float, fence: Row) -> list[Row]:
        """Fail many live runs in one guarded update (named statement ``fail_batch``): ``items``:
        ``id``, ``error``, ``terminal_key``, ``token_hash`` (None: any token), run ids distinct;
        ``fence`` as for ``runs_complete_many``. Returns the failed runs (their
        ``COMPLETED_RUN_COLUMNS``); the others were refused."""
        return self._runs_end_many("fail_batch", "error", items, now, fence)

    def _runs_end_many(self, name: str, outcome: str, items: Sequence[Row], now: float, fence: Row) -> list[Row]:
        """``complete_batch`` or ``fail_batch``: the items' rows (id, ``outcome``, terminal key, token
        hash) as the statement's row source, the fence in its slot."""
        if not items:
            return []
        params: dict[str, Any] = {"now": now}
        values, lead = self.sql_dialect.row_source(
            name[0], [(i["id"], i[outcome], i["terminal_key"], i["token_hash"]) for i in items], ["text"] * 4)
        rows = self._rows_at(statement(self.dialect, name, items=values, fence=self._fence_sql(fence, params)),
                             params, lead)
        self.run_transitions.extend(rows)
        return rows

    def runs_claim_many(self, items: Sequence[Row], now: float, *, holder: tuple[str, str], lease_seconds: float,
                        session_id: str | None) -> list[Row]:
        """Claim many queued runs in one guarded update (named statement ``claim_take``), one lease
        for all: ``items``: ``id``, ``token_hash``, ``timeout_at`` (None: unchanged). Returns the
        claimed runs (their ``CLAIMED_RUN_COLUMNS``); one missing was no longer queued."""
        if not items:  # a claim-batch whose candidates' tasks all turned out not ready
            return []
        params: dict[str, Any] = {"now": now, "kind": holder[0], "ref": holder[1], "lease_until": now + lease_seconds,
                                  "lease_seconds": lease_seconds}
        values, lead = self.sql_dialect.row_source("k", [(i["id"], i["token_hash"], i["timeout_at"]) for i in items],
                                                   ["text", "text", "double precision"])
        session = ""
        if session_id:
            params["session_id"] = session_id
            session = ", session_id = :session_id"
        rows = self._rows_at(statement(self.dialect, "claim_take", items=values, session=session), params, lead)
        self.run_transitions.extend(rows)
        return rows

    def _fence_sql(self, fence: Row, params: dict[str, Any]) -> str:
        """The ``fence`` slot of the terminal statements: holder, claim token, workspaces."""
        clauses = []
        if fence.get("holder") is not None:
            params["holder_kind"], params["holder_ref"] = fence["holder"]
            clauses.append("claimed_by_kind = :holder_kind AND claimed_by_ref = :holder_ref")
        if fence.get("claim_token_hash") is not None:
            params["token_hash"] = fence["claim_token_hash"]
            clauses.append("claim_token_hash = :token_hash")
        if fence.get("visible_workspaces") is not None:
            clauses.append("(workspace_id IS NULL OR workspace_id IN "
                           + in_list("fw", list(fence["visible_workspaces"]) or [""], params) + ")")
        return "".join(" AND " + c for c in clauses)
