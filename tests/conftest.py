"""Shared fixtures: every storage and API test runs on SQLite and on PostgreSQL.

PostgreSQL tests use ``TASKLOOM_TEST_POSTGRES_URL``; a fresh database is made
for the test session and dropped after. Without the variable they are skipped
with a reason, except under CI (``CI=true``), where a missing server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from taskloom.api.app import create_app
from taskloom.api.auth import issue_token
from taskloom.clock import Clock, ManualClock
from taskloom.config import Settings
from taskloom.engine.engine import Service
from tests.harness import Harness

# A status write the state table lacks raises in tests (engine/transitions.py); servers the
# acceptance tests start inherit it.
os.environ["TASKLOOM_STRICT_TRANSITIONS"] = "1"

SECRET = "test-secret-0123456789-0123456789-abcdef"
BACKENDS = ("sqlite", "postgres")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session."""
    base = os.environ.get("TASKLOOM_TEST_POSTGRES_URL")
    if not base:
        if _in_ci():
            pytest.fail("CI=true but TASKLOOM_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL tests need TASKLOOM_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    name = f"taskloom_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL at {base} is not reachable: {exc}")
        pytest.skip(f"PostgreSQL at {base} is not reachable: {exc}")
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset_postgres(url: str) -> None:
    """Empty every table (keeping the schema) so each test starts clean."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        ).fetchall()
        if rows:
            conn.execute("TRUNCATE " + ", ".join(f'"{r[0]}"' for r in rows) + " RESTART IDENTITY CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/taskloom.db"
    url: str = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    return url


def auth(sub: str, *, kind: str = "human", role: str = "member", workspaces: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(SECRET, sub, kind=kind, role=role, workspaces=workspaces)}


ADMIN = auth("root", role="admin")
MEMBER = auth("alice", role="member")


def agent(name: str) -> dict[str, str]:
    return auth(name, kind="agent_session", role="agent")


@dataclass
class Api:
    """A TestClient on a fresh app plus the app's engine and clock."""

    client: TestClient
    clock: Clock
    settings: Settings

    @property
    def engine(self) -> Any:
        return self.client.app.state.engine  # type: ignore[attr-defined]

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers=headers or ADMIN, **kw)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, headers=headers or ADMIN, **kw)

    def patch(self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.patch(path, json=json, headers=headers or ADMIN, **kw)

    def put(self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.put(path, json=json, headers=headers or ADMIN, **kw)

    def delete(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.delete(path, headers=headers or ADMIN, **kw)

    def run_services_once(self) -> None:
        """Run one tick of every background service (tests use services=False plus this)."""
        portal = self.client.portal  # type: ignore[attr-defined]
        for service in self.engine.services:
            portal.call(service.tick, self.engine)


ApiFactory = Callable[..., Api]


@pytest.fixture
def make_api(database_url: str, tmp_path: Any) -> Iterator[ApiFactory]:
    """Build an app on this test's database. ``clock=ManualClock()`` freezes time;
    ``services=False`` keeps background loops off (call ``api.run_services_once()``)."""
    opened: list[TestClient] = []

    def factory(*, clock: Clock | None = None, services: bool = True, extra_services: list[Service] | None = None,
                **overrides: Any) -> Api:
        settings = Settings(database_url=database_url, data_dir=str(tmp_path), jwt_secret=SECRET,
                            rescuer_interval_seconds=0.2)
        for key, value in overrides.items():
            setattr(settings, key, value)
        app = create_app(settings, clock=clock, services=extra_services, run_services=services)
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return Api(client=client, clock=clock or Clock(), settings=settings)

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: ApiFactory) -> Api:
    return make_api()


@pytest.fixture
def manual_api(make_api: ApiFactory) -> Api:
    """An app on a manual clock with background services off."""
    return make_api(clock=ManualClock(), services=False)


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    """An engine on this test's database and a manual clock, services off, no HTTP."""
    h = Harness(database_url)
    yield h
    h.close()
