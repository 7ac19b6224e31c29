"""Queries for usage by agent and model (issue 16). Mixed into ``Tx``.

``run_usage`` holds each reporting run's running totals; ``usage_rollup`` their sums per
(day, agent, model, channel, workspace), and ``usage_rollup_agent_day`` per (agent, day), both
moved by every report (see engine/usage.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskloom.rows import Row
from taskloom.storage.named_sql import statement
from taskloom.storage.statements import in_list, insert_statement

USAGE_DIMS = ("agent", "model", "channel", "workspace", "day")
USAGE_SUMS = ("input_tokens", "output_tokens", "cost", "tool_calls")
_RUN_USAGE_COLUMNS = ("run_id", "at", "day", "agent", "model", "channel", "workspace", *USAGE_SUMS)


def _where(filters: Row, params: dict[str, Any], visible_workspaces: Sequence[str] | None) -> list[str]:
    clauses = ["1 = 1"]
    for dim in ("agent", "model", "channel", "workspace"):
        if filters.get(dim) is not None:
            params[f"f_{dim}"] = filters[dim]
            clauses.append(f"{dim} = :f_{dim}")
    if visible_workspaces is not None:
        clauses.append(f"(workspace = '' OR workspace IN {in_list('vw', list(visible_workspaces) or [''], params)})")
    return clauses


def _rollup_for(dims: Sequence[str], filters: Row, visible_workspaces: Sequence[str] | None) -> str:
    """The roll-up that answers: the (agent, day) one when nothing else is grouped or filtered on
    (one row per answer group, in key order), else the full one."""
    other = {"model", "channel", "workspace"}
    if visible_workspaces is None and not other & set(dims) and all(filters.get(d) is None for d in other):
        return "usage_rollup_agent_day"
    return "usage_rollup"


class UsageQueries:
    if TYPE_CHECKING:  # provided by SqlTx
        dialect: str

        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...

    def run_usage_get(self, run_id: str) -> Row | None:
        return self._one("SELECT * FROM run_usage WHERE run_id = :id", {"id": run_id})

    def run_usage_put(self, row: Row) -> None:
        sets = ", ".join(f"{c} = excluded.{c}" for c in _RUN_USAGE_COLUMNS if c != "run_id")
        self._exec(insert_statement("run_usage", row, _RUN_USAGE_COLUMNS) + f" ON CONFLICT (run_id) DO UPDATE SET {sets}",
                   row)

    def usage_rollup_add(self, key: Row, delta: Row, runs: int) -> None:
        """Add ``delta`` (signed sums) and ``runs`` to the roll-up row of ``key``."""
        params = {**key, **{k: delta[k] for k in USAGE_SUMS}, "runs": runs}
        self._exec(statement(self.dialect, "usage_rollup_add"), params)
        self._exec(statement(self.dialect, "usage_rollup_agent_day_add"),
                   {k: params[k] for k in ("agent", "day", *USAGE_SUMS, "runs")})

    def usage_sums(self, dims: Sequence[str], filters: Row, *, visible_workspaces: Sequence[str] | None,
                   full_days: tuple[str, str] | None, edges: tuple[float | None, float | None] | None) -> list[Row]:
        """Sums grouped by ``dims``: from the roll-up for whole days (all days, or the days in
        ``full_days`` = [first, last)), plus, when ``edges`` = (since, until) is given, the runs
        reported in the part-days at either end, read from ``run_usage``. The caller merges the two."""
        group = ", ".join(dims)
        select = (group + ", " if dims else "") + ", ".join(f"SUM({s}) AS {s}" for s in USAGE_SUMS)
        out: list[Row] = []
        params: dict[str, Any] = {}
        clauses = _where(filters, params, visible_workspaces)
        if full_days is None or full_days[0] < full_days[1]:
            where = list(clauses)
            if full_days is not None:
                params.update(d0=full_days[0], d1=full_days[1])
                where.append("day >= :d0 AND day < :d1")
            out += self._rows(f"SELECT {select}, SUM(runs) AS runs FROM {_rollup_for(dims, filters, visible_workspaces)}"
                              f" WHERE {' AND '.join(where)}"
                              + (f" GROUP BY {group} ORDER BY {group}" if dims else ""), params)
        if edges is not None:
            where = list(clauses)
            since, until = edges
            if since is not None:
                params["since"] = since
                where.append("at >= :since")
            if until is not None:
                params["until"] = until
                where.append("at < :until")
            if full_days is not None and full_days[0] < full_days[1]:
                where.append("(day < :d0 OR day >= :d1)")
            out += self._rows(f"SELECT {select}, COUNT(*) AS runs FROM run_usage WHERE {' AND '.join(where)}"
                              + (f" GROUP BY {group}" if dims else ""), params)
        return out
