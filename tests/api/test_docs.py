"""/docs works offline: Swagger UI's assets come from the pinned package and are served by
Taskloom; every OpenAPI operation has a description beyond its summary."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import Api


def test_docs_use_only_local_assets(api: Api) -> None:
    client: TestClient = api.client
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text), "a remote asset in /docs"
    for asset in re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 500, asset
    assert client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith(
        ("application/javascript", "text/javascript"))


def test_every_operation_has_a_description(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    bare = [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method, op in ops.items()
            if len((op.get("description") or "").strip()) < 20 or op.get("description") == op.get("summary")]
    assert not bare, f"operations without a description (add a docstring to the route function): {bare}"
