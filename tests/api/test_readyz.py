"""/readyz: ready when the database answers and every migration is applied; 503 with the
reasons otherwise; other parts can add their own condition."""

from __future__ import annotations

from tests.conftest import Api


def _execute(url: str, sql: str) -> None:
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql)
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(sql)  # type: ignore[arg-type]


def test_ready_then_missing_migration_then_added_check(api: Api) -> None:
    r = api.client.get("/readyz")  # no token needed
    assert (r.status_code, r.json()) == (200, {"status": "ready"})
    url = api.settings.database_url
    _execute(url, "DELETE FROM schema_migrations WHERE name = '0007_api_keys'")
    try:
        r = api.client.get("/readyz")
        assert (r.status_code, r.json()["problems"]) == (503, ["migrations not applied: 0007_api_keys"])
    finally:  # the PostgreSQL test database is shared by later tests
        _execute(url, "INSERT INTO schema_migrations (name) VALUES ('0007_api_keys')")

    api.engine.readiness_checks.append(lambda: "writes are stuck")
    r = api.client.get("/readyz")
    assert (r.status_code, r.json()) == (503, {"error": "writes are stuck", "problems": ["writes are stuck"]})
