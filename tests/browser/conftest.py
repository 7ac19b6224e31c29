"""Browser tests: Playwright's Python package driving Debian's Chromium against a real ``taskloom serve``.

No browser is ever downloaded (no ``playwright install``): the tests launch the ``chromium`` on PATH.
Without it (or without Playwright) they skip with the reason, except under CI=true, where they fail.
Screenshots go to ``test-artifacts/browser/`` (git-ignored), or to ``$TASKLOOM_ARTIFACTS_DIR``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance import server as srv_mod

ROOT = Path(__file__).resolve().parents[2]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"CI=true but the browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        _unavailable("no `chromium` on PATH (apt-get install -y chromium)")
    return str(path)


# Module scope, not session: Playwright's sync API keeps an event loop running in the
# main thread while it is open, which breaks asyncio.run() in every later test module.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    out = Path(os.environ.get("TASKLOOM_ARTIFACTS_DIR") or ROOT / "test-artifacts" / "browser")
    out.mkdir(parents=True, exist_ok=True)
    return out


class Live:
    """A running server plus an HTTP client for making data through the API."""

    def __init__(self, server: srv_mod.Server):
        self.server = server
        self.url = server.base_url
        self.admin = server.token("admin-1", role="admin")
        self.http = httpx.Client(base_url=server.base_url, timeout=15)

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
             expect: int | tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        headers = {"Authorization": "Bearer " + (token or self.admin)}
        r = self.http.request(method, path, json=body, headers=headers)
        wanted = (expect,) if isinstance(expect, int) else expect
        assert r.status_code in wanted, f"{method} {path} -> {r.status_code} {r.text}"
        return r.json() if r.content else None

    def restart(self) -> None:
        """Kill the server (a dropped connection for every open stream) and start it again on the
        same port and database."""
        old = self.server
        old.kill()
        self.server = srv_mod.start(old.database_url, data_dir=old.data_dir, secret=old.secret, port=old.port,
                                    env=SERVER_ENV)

    def agent_token(self, name: str) -> str:
        return self.server.token(name, kind="agent_session", role="agent")

    def claim(self, token: str, **body: Any) -> Any:
        return self.call("POST", "/api/agent/tasks/claim-next", {"wait_seconds": 0, **body}, token=token,
                         expect=(200, 204))


SERVER_ENV = {"TASKLOOM_RESCUER_INTERVAL_SECONDS": "0.5", "TASKLOOM_SSE_KEEPALIVE_SECONDS": "2"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("ui-server")
    running = Live(srv_mod.start(f"sqlite:///{tmp}/taskloom.db", data_dir=str(tmp), env=SERVER_ENV))
    try:
        yield running
    finally:
        running.server.stop()


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    """A fresh tab (own sessionStorage) that fails the test on any script error or CSP violation."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
           if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    tab.on("dialog", lambda d: (problems.append(f"unexpected dialog: {d.message}"), d.dismiss()))
    tab.problems = problems
    yield tab
    context.close()
    assert not problems, problems


def sign_in(page: Any, token: str, path: str = "/ui") -> None:
    page.goto(path)
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.locator("header.top").wait_for()
