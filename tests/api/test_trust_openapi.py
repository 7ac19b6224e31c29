"""The OpenAPI document tells the truth (issue 13, D10)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN, Api, agent

ERROR_REF = "#/components/schemas/ErrorOut"


@pytest.fixture
def spec(api: Api) -> dict[str, Any]:
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def test_no_2xx_schema_is_a_plain_string(spec: dict[str, Any]) -> None:
    strings = [(m, p, code) for m, p, op in _operations(spec) for code, r in op["responses"].items()
               if code.startswith("2") and r.get("content", {}).get("application/json", {}).get("schema")
               == {"type": "string"}]
    assert strings == []


def test_runtime_operations_declare_their_models(spec: dict[str, Any]) -> None:
    ok = spec["paths"]["/api/tasks"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/TaskEnvelope"}


def test_every_error_status_is_documented_with_the_error_schema(spec: dict[str, Any]) -> None:
    missing = []
    for method, path, op in _operations(spec):
        if path in ("/healthz", "/readyz", "/metrics"):
            continue
        for code in ("400", "401", "403", "404", "413", "429", "503"):
            entry = op["responses"].get(code)
            schema = (entry or {}).get("content", {}).get("application/json", {}).get("schema", {})
            if schema != {"$ref": ERROR_REF}:
                missing.append(f"{method} {path} {code}")
    assert missing == []
    assert "HTTPValidationError" not in str(spec)


def test_bearer_and_api_key_schemes_are_declared(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert spec["security"] == [{"bearer": []}, {"apiKey": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []


def test_405_carries_allow(api: Api) -> None:
    r = api.client.put("/api/tasks", headers=ADMIN, json={})
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert "error" in r.json()


def test_405_on_a_static_path_names_its_own_methods(api: Api) -> None:
    """/api/tasks/batch fits /api/tasks/{task_id}'s pattern too; its Allow is what its document says."""
    r = api.client.request("OPTIONS", "/api/tasks/batch", headers=ADMIN)
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"


def test_fields_that_refuse_null_are_not_nullable_in_the_document(spec: dict[str, Any], api: Api) -> None:
    props = spec["components"]["schemas"]["TaskPatch"]["properties"]
    assert props["title"]["type"] == "string" and "anyOf" not in props["title"] and "default" not in props["title"]
    assert "anyOf" in props["owner"]  # null clears an owner: still nullable
    task = api.post("/api/tasks", {"title": "t"}).json()["task"]
    r = api.patch(f"/api/tasks/{task['id']}", {"title": None})
    assert r.status_code == 400 and "title" in r.json()["error"]


def test_usage_counters_stop_where_both_backends_keep_them(spec: dict[str, Any], api: Api) -> None:
    """A run's counters are INTEGER columns on PostgreSQL: beyond 2**31 - 1 the document and both
    backends answer 400 naming the field (PostgreSQL used to answer "integer out of range")."""
    assert spec["components"]["schemas"]["Usage"]["properties"]["input_tokens"]["anyOf"][0]["maximum"] == 2**31 - 1
    api.post("/api/tasks", {"title": "t", "network_channel": "u"})
    claim = api.post("/api/agent/tasks/claim-next", {"network_channel": "u"}, headers=agent("u1")).json()["claim"]
    path = f"/api/agent/tasks/{claim['run']['id']}/heartbeat"
    refused = api.post(path, {"input_tokens": 2**31}, headers=agent("u1"))
    assert refused.status_code == 400 and "input_tokens" in refused.json()["error"]
    assert api.post(path, {"input_tokens": 2**31 - 1}, headers=agent("u1")).status_code == 200


def test_rules_the_schema_cannot_state_are_listed_on_their_400(spec: dict[str, Any]) -> None:
    entry = spec["paths"]["/api/agents/{agent_id}/tasks"]["post"]["responses"]["400"]
    assert any("callback_mode" in rule for rule in entry["x-rules"])
    assert entry["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
    assert "x-rules" not in spec["paths"]["/api/tasks"]["post"]["responses"]["400"]


def test_a_number_is_not_a_boolean(api: Api) -> None:
    """Found by the deep fuzz run: ``"retryable": 0`` was taken as false (pydantic's lax mode)."""
    for value in (0, 1, "true", "yes"):
        r = api.post("/api/tasks", {"title": "t", "draft": value})
        assert r.status_code == 400 and "draft: expected true or false" in r.json()["error"], (value, r.text)
    assert api.post("/api/tasks", {"title": "t", "draft": True}).status_code == 201
