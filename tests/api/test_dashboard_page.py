"""The web dashboard page is served without a token and reads the observe API."""

from __future__ import annotations

from tests.conftest import Api


def test_dashboard_page(api: Api) -> None:
    r = api.client.get("/ui")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/api/observe/tasks/dashboard" in r.text and "/api/observe/tasks/inbox" in r.text
    assert api.client.get("/", follow_redirects=False).headers["location"] == "/ui"
