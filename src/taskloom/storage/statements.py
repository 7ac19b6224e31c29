"""Building blocks for the generic INSERT and UPDATE statements every query module writes.

Column names come from code, never from requests; ``allowed`` makes a typo fail loudly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from taskloom.rows import Row


class Coalesce:
    """An update value that is written only where the column is still NULL."""

    def __init__(self, value: Any):
        self.value = value


def check_columns(names: Iterable[str], allowed: Iterable[str] | None, table: str) -> None:
    if allowed is None:
        return
    bad = sorted(set(names) - set(allowed))
    if bad:
        raise ValueError(f"unknown {table} columns: {bad}")


def insert_statement(table: str, row: Mapping[str, Any], allowed: Iterable[str] | None = None, *,
                     returning: bool = False) -> str:
    """``INSERT INTO table (cols) VALUES (:cols)`` for the keys of ``row``."""
    check_columns(row, allowed, table)
    cols = ", ".join(row)
    vals = ", ".join(f":{c}" for c in row)
    return f"INSERT INTO {table} ({cols}) VALUES ({vals})" + (" RETURNING *" if returning else "")


def set_clause(changes: Row, params: dict[str, Any], allowed: Iterable[str] | None = None, table: str = "",
               prefix: str = "v_") -> str:
    """``a = :v_a, b = :v_b`` for ``changes`` (adding the values to ``params``; another ``prefix``
    where one statement sets two tables)."""
    check_columns(changes, allowed, table)
    sets = []
    for k, v in changes.items():
        if isinstance(v, Coalesce):
            params[f"{prefix}{k}"] = v.value
            sets.append(f"{k} = COALESCE({k}, :{prefix}{k})")
        else:
            params[f"{prefix}{k}"] = v
            sets.append(f"{k} = :{prefix}{k}")
    return ", ".join(sets)


def in_list(prefix: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``(:p0, :p1, ...)`` for ``values`` (adding them to ``params`` as ``p0``, ``p1``, ...).

    The one IN-list helper of storage. An empty list is an error, not SQL that silently
    matches nothing (``IN ()`` is invalid, and ``NOT IN (NULL)`` would drop every row): a
    caller leaves the clause out, or passes a value no row has (``or [""]``)."""
    if not values:
        raise ValueError(f"an empty IN list ({prefix}): leave the clause out or pass a placeholder value")
    names = []
    for i, value in enumerate(values):
        params[f"{prefix}{i}"] = value
        names.append(f":{prefix}{i}")
    return "(" + ", ".join(names) + ")"


def visible_clause(prefix: str, workspaces: Sequence[str], params: dict[str, Any], column: str = "workspace_id") -> str:
    """A workspace-scoped caller sees global rows (``column`` NULL) and those of its own workspaces."""
    return f"({column} IS NULL OR {column} IN {in_list(prefix, list(workspaces) or [''], params)})"
