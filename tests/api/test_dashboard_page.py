"""The dashboard is static files served without a token, under a strict Content-Security-Policy."""

from __future__ import annotations

import re

from tests.conftest import Api


def test_every_ui_path_is_the_page_with_a_strict_csp(api: Api) -> None:
    assert api.client.get("/", follow_redirects=False).headers["location"] == "/ui"
    for path in ("/ui", "/ui/tasks", "/ui/tasks/task_123?x=1", "/ui/agents", "/ui/signin"):
        r = api.client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "unsafe-inline" not in csp and "http" not in csp
        # No inline script, and nothing from another origin.
        assert re.search(r"<script(?![^>]*\bsrc=)", r.text) is None
        assert "//" not in re.sub(r"<!--.*?-->", "", r.text).replace("http-equiv", "")


def test_assets_are_served_from_the_package(api: Api) -> None:
    r = api.client.get("/ui/assets/app.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "content-security-policy" in r.headers
    assert api.client.get("/ui/assets/app.css").headers["content-type"].startswith("text/css")
    for bad in ("/ui/assets/nope.js", "/ui/assets/..app.js", "/ui/assets/__init__.py", "/ui/assets/index.html"):
        r = api.client.get(bad)
        assert r.status_code == 404 and "error" in r.json(), bad
