"""Named SQL: statements kept in ``.sql`` files, one per name and dialect.

Layout: ``storage/sql/<dialect>/<name>.sql``. Every name exists in every dialect
folder (a test checks), so code asks for a statement by name and gets its own
dialect's text; where the dialects agree the two files are the same. The exceptions,
``ONLY``, are statements one dialect alone can express (PostgreSQL's data-modifying
CTEs); the other backend does the same work in several statements.

A file holds one statement with ``:param`` placeholders (the PostgreSQL backend
rewrites them to ``%(param)s``). Parts that code must choose at run time (an
optional filter, an index hint) are *slots*: an SQL comment ``/*slot_name*/`` in
the file, replaced by ``statement(..., slot_name="...")``. Slot text comes from
code, never from requests; values always go in parameters. A slot not given is
removed; a slot given but not in the file is an error, so typos fail loudly.

    from taskloom.storage.named_sql import statement
    sql = statement("sqlite", "claim_batch", filters=" AND r.priority >= :minp")

Files are read once and cached. Add a statement by adding the file to every
dialect folder; nothing needs registering.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgres"]
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgres")
_SLOT = re.compile(r"/\*(\w+)\*/")
# Names that exist for one dialect only (see the module's docstring).
ONLY: dict[str, frozenset[str]] = {"postgres": frozenset({"claim_one", "complete_close", "task_step"})}


class UnknownStatement(LookupError):
    pass


def _folder(dialect: str) -> resources.abc.Traversable:
    return resources.files("taskloom.storage").joinpath("sql", dialect)


@cache
def names(dialect: str) -> frozenset[str]:
    """The statement names available for ``dialect``."""
    return frozenset(p.name[:-4] for p in _folder(dialect).iterdir() if p.name.endswith(".sql"))


@cache
def raw(dialect: str, name: str) -> str:
    """The file's text, comments and slots included."""
    if name not in names(dialect):
        raise UnknownStatement(f"no SQL statement {name!r} for dialect {dialect!r}")
    return _folder(dialect).joinpath(f"{name}.sql").read_text(encoding="utf-8")


@cache
def slots(dialect: str, name: str) -> frozenset[str]:
    return frozenset(_SLOT.findall(raw(dialect, name)))


def _without_comment_lines(text: str) -> str:
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


def statement(dialect: str, name: str, **fill: str) -> str:
    """The statement ``name`` for ``dialect``, with its slots filled from ``fill``."""
    return _filled(dialect, name, tuple(sorted(fill.items())))


@lru_cache(maxsize=4096)  # the hot path asks for the same few fillings again and again
def _filled(dialect: str, name: str, fill: tuple[tuple[str, str], ...]) -> str:
    values = dict(fill)
    unknown = set(values) - slots(dialect, name)
    if unknown:
        raise UnknownStatement(f"SQL statement {name!r} has no slot(s) {sorted(unknown)}")
    return _without_comment_lines(_SLOT.sub(lambda m: values.get(m.group(1), ""), raw(dialect, name)))
