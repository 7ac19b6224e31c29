"""Storage: one interface (``Storage`` + ``Tx``), two backends (SQLite, PostgreSQL)."""

from __future__ import annotations

from taskloom.storage.base import Storage


def open_storage(url: str) -> Storage:
    """Pick the backend from the URL scheme; import it lazily."""
    if url.startswith("sqlite:"):
        from taskloom.storage.sqlite import SqliteStorage

        return SqliteStorage(url)
    if url.startswith(("postgresql:", "postgres:")):
        from taskloom.storage.postgres import PostgresStorage

        return PostgresStorage(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://...")
