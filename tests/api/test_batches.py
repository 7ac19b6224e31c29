"""The batch endpoints: claim-batch, complete-batch, fail-batch and POST /api/tasks/batch, on both backends."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import create, must_claim, runs, task, timeline
from tests.conftest import ADMIN, Api, agent


def claim_batch(api: Api, who: str = "a1", **body: Any) -> list[dict[str, Any]]:
    r = api.post("/api/agent/tasks/claim-batch", body, headers=agent(who))
    if r.status_code == 204:
        return []
    assert r.status_code == 200, r.text
    return list(r.json()["claims"])


def finish(api: Api, kind: str, items: list[dict[str, Any]], who: str = "a1") -> list[dict[str, Any]]:
    r = api.post(f"/api/agent/tasks/{kind}-batch", {"items": items}, headers=agent(who))
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


def test_claim_batch_takes_runs_in_claim_next_order(api: Api) -> None:
    low = create(api, title="low", priority="low", network_channel="q")
    high = create(api, title="high", priority="high", network_channel="q")
    urgent = create(api, title="urgent", priority="urgent", network_channel="q")
    high2 = create(api, title="high2", priority="high", network_channel="q")
    create(api, title="elsewhere", network_channel="other")
    first = claim_batch(api, network_channel="q", max_runs=3, lease_seconds=60)
    assert [c["task"]["id"] for c in first] == [urgent["id"], high["id"], high2["id"]]
    for c in first:  # exactly claim-next's claim object
        assert set(c) == {"coordination_channel", "lease", "run", "task", "claim_token"}
        assert c["lease"]["claim_token"] == c["claim_token"] and c["run"]["status"] == "claimed"
        assert c["lease"]["claimed_by"] == {"kind": "agent_session", "ref": "a1"}
        assert set(c["task"]) >= {"id", "identifier", "title", "description", "metadata", "network_channel"}
    assert [c["task"]["id"] for c in claim_batch(api, network_channel="q")] == [low["id"]]
    r = api.post("/api/agent/tasks/claim-batch", {"network_channel": "q"}, headers=agent("a1"))
    assert r.status_code == 204 and r.content == b""


def test_claim_batch_keeps_concurrency_keys_exclusive(api: Api) -> None:
    for i in range(3):
        create(api, title=f"k{i}", concurrency_key="one-at-a-time")
    create(api, title="free")
    claims = claim_batch(api, max_runs=10)
    assert sorted(c["task"]["title"] for c in claims) == ["free", "k0"]
    assert claim_batch(api, max_runs=10) == []


def test_claim_batch_bounds(api: Api) -> None:
    for body, field in (({"max_runs": 0}, "max_runs"), ({"max_runs": 501}, "max_runs"),
                        ({"wait_seconds": 31}, "wait_seconds"), ({"bogus": 1}, "bogus")):
        r = api.post("/api/agent/tasks/claim-batch", body, headers=agent("a1"))
        assert r.status_code == 400 and field in r.json()["error"], (body, r.text)


def test_complete_batch_applies_each_item_on_its_own(api: Api) -> None:
    for i in range(4):
        create(api, title=f"t{i}")
    mine = claim_batch(api, "a1", max_runs=3)
    theirs = must_claim(api, "a2")
    ok1, stale, keyed = mine
    items = [
        {"run_id": ok1["run"]["id"], "claim_token": ok1["claim_token"], "result": {"n": 1}, "input_tokens": 5},
        {"run_id": "run_does_not_exist", "result": 1},
        {"run_id": theirs["run"]["id"], "claim_token": theirs["claim_token"]},
        {"run_id": stale["run"]["id"], "claim_token": "ct_stale"},
        {"run_id": keyed["run"]["id"], "idempotency_key": "k-1", "usage": {"output_tokens": 7}},
    ]
    results = finish(api, "complete", items)
    assert [(r["run_id"], r["status"]) for r in results] == [
        (ok1["run"]["id"], 200), ("run_does_not_exist", 404), (theirs["run"]["id"], 403),
        (stale["run"]["id"], 409), (keyed["run"]["id"], 200)]
    assert results[0]["lease"]["status"] == "completed" and "error" not in results[0]
    assert all(set(r) == {"run_id", "status", "error"} and r["error"] for r in results[1:4])
    assert task(api, ok1["task"]["id"])["status"] == "completed"
    assert task(api, ok1["task"]["id"])["result"] == {"n": 1}
    assert task(api, theirs["task"]["id"])["status"] == "in_progress"  # the foreign run is untouched
    assert runs(api, stale["task"]["id"])[0]["status"] == "claimed"  # and so is the stale one
    # Repeating an item with its idempotency key is a no-op answered 200; without it, 409.
    again = finish(api, "complete", [items[4], items[0]])
    assert [r["status"] for r in again] == [200, 409]
    assert [e["event_type"] for e in timeline(api, keyed["task"]["id"])].count("run.completed") == 1
    usage = api.get(f"/api/task-runs/{keyed['run']['id']}").json()["run"]["summary"]
    assert usage["output_tokens"] == 7


def test_fail_batch_retries_or_fails_each_task(api: Api) -> None:
    retry = create(api, title="retry", backoff_strategy="fixed", backoff_seconds=0)
    final = create(api, title="final")
    claims = {c["task"]["id"]: c for c in claim_batch(api, max_runs=2)}
    results = finish(api, "fail", [
        {"run_id": claims[retry["id"]]["run"]["id"], "error": "flaky"},
        {"run_id": claims[final["id"]]["run"]["id"], "error": "broken", "retryable": False},
        {"run_id": claims[final["id"]]["run"]["id"], "error": "twice"},
    ])
    assert [r["status"] for r in results] == [200, 200, 409]
    assert results[0]["lease"]["status"] == "failed"
    assert task(api, retry["id"])["status"] == "ready" and len(runs(api, retry["id"])) == 2
    assert task(api, final["id"])["status"] == "failed"


def test_batches_write_the_same_events_as_single_calls(api: Api) -> None:
    single, batched = create(api, title="single"), create(api, title="batched")
    c = must_claim(api)
    assert c["task"]["id"] == single["id"]
    api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": 1}, headers=agent("a1"))
    [b] = claim_batch(api)
    finish(api, "complete", [{"run_id": b["run"]["id"], "result": 1}])

    def shape(task_id: str) -> list[tuple[Any, ...]]:
        return [(e["sequence"], e["event_type"], e["actor"]["ref"]) for e in timeline(api, task_id)]

    assert shape(batched["id"]) == shape(single["id"])
    r = api.post("/api/tasks/batch", {"tasks": [{"title": "x"}]})
    made = r.json()["tasks"][0]
    assert [e[1] for e in shape(made["id"])] == [e[1] for e in shape(create(api, title="y")["id"])]


def test_batch_shape_errors_are_400_for_the_batch(api: Api) -> None:
    create(api)
    [c] = claim_batch(api)
    for kind in ("complete", "fail"):
        item = {"run_id": c["run"]["id"], **({"error": "e"} if kind == "fail" else {})}
        cases = [({"items": []}, "items"), ({"items": [item] * 501}, "items"), ({}, "items"),
                 ({"items": [item, {"result": 1}]}, "items.1.run_id"), ({"items": "nope"}, "items"),
                 ({"items": [{**item, "bogus": 1}]}, "items.0.bogus")]
        if kind == "fail":
            cases.append(({"items": [{"run_id": c["run"]["id"]}]}, "items.0.error"))
        for body, where in cases:
            r = api.post(f"/api/agent/tasks/{kind}-batch", body, headers=agent("a1"))
            assert r.status_code == 400, (kind, body, r.text)
            assert where in r.json()["error"], (kind, where, r.json())
    assert runs(api, c["task"]["id"])[0]["status"] == "claimed"  # nothing was applied


def test_create_batch_is_all_or_nothing(api: Api) -> None:
    r = api.post("/api/tasks/batch", {"tasks": [{"title": "a", "priority": "high"}, {"title": "b",
                                                                                     "network_channel": "q"}]})
    assert r.status_code == 201, r.text
    made = r.json()["tasks"]
    assert [t["title"] for t in made] == ["a", "b"] and made[0]["priority"] == "high"
    assert all(t["status"] == "ready" for t in made) and made[1]["network_channel"] == "q"
    before = len(api.get("/api/tasks", params={"limit": 1000}).json()["tasks"])
    bad_bodies = [
        ({"tasks": [{"title": "ok"}, {"title": "ok"}, {"title": ""}]}, "tasks.2.title"),
        ({"tasks": [{"title": "ok"}, {"title": "ok", "scope": "workspace"}]}, "tasks[1]: workspace_id"),
        ({"tasks": [{"title": "ok"}, {"title": "ok", "parent_task_id": "task_missing"}]}, "tasks[1]: task task_missing"),
        ({"tasks": []}, "tasks"),
        ({"tasks": [{"title": "x"}] * 1001}, "tasks"),
    ]
    for body, message in bad_bodies:
        r = api.post("/api/tasks/batch", body)
        assert r.status_code == 400, r.text
        assert message in r.json()["error"], r.json()
    assert len(api.get("/api/tasks", params={"limit": 1000}).json()["tasks"]) == before


def test_batches_need_a_token_and_keep_role_rules(api: Api) -> None:
    assert api.client.post("/api/agent/tasks/claim-batch", json={}).status_code == 401
    assert api.client.post("/api/tasks/batch", json={"tasks": [{"title": "x"}]}).status_code == 401
    create(api)
    [c] = claim_batch(api, "a1")
    # A member acting on an agent's run is refused per item, as in the single complete.
    r = api.post("/api/agent/tasks/complete-batch", {"items": [{"run_id": c["run"]["id"]}]},
                 headers={**ADMIN, **{"Authorization": agent("a2")["Authorization"]}})
    assert r.json()["results"][0]["status"] == 403


def test_create_batch_numbers_identifiers_as_single_creates_would(api: Api) -> None:
    first = create(api, title="first")
    r = api.post("/api/tasks/batch", {"tasks": [{"title": "a"}, {"title": "b", "dependencies": [first["id"]]},
                                                {"title": "c"}]})
    assert r.status_code == 201, r.text
    last = create(api, title="last")
    numbers = [int(t["identifier"].removeprefix("TL-")) for t in [first, *r.json()["tasks"], last]]
    assert numbers == list(range(numbers[0], numbers[0] + 5)), numbers


def test_batches_refuse_a_nul_in_text_alike_on_both_backends(api: Api) -> None:
    r = api.post("/api/tasks/batch", {"tasks": [{"title": "ok"}, {"title": "nul\u0000inside"}]})
    assert r.status_code == 400 and "tasks[1]: invalid value" in r.json()["error"], r.text
    # The first bad item is named, whatever refuses a later one (plain items are checked as a set).
    for later in ({"title": "ok", "scope": "workspace"}, {"title": "draft", "draft": True}, {"title": "ok"}):
        r = api.post("/api/tasks/batch", {"tasks": [{"title": "ok"}, {"title": "ok", "description": "\u0000"},
                                                    later, {"title": "ok", "scope": "workspace"}]})
        assert r.status_code == 400 and "tasks[1]: invalid value" in r.json()["error"], (later, r.text)
    assert api.get("/api/tasks", params={"limit": 1000}).json()["tasks"] == [], "nothing written"
    made = [create(api, title=f"t{i}", network_channel="nul") for i in range(2)]
    held = claim_batch(api, network_channel="nul", max_runs=2)
    r = api.post("/api/agent/tasks/complete-batch", {"items": [
        {"run_id": c["run"]["id"], "claim_token": c["claim_token"], "idempotency_key": f"k{i}\u0000"}
        for i, c in enumerate(held)]}, headers=agent("a1"))
    assert r.status_code == 400 and "NUL" in r.json()["error"], r.text
    assert [task(api, t["id"])["status"] for t in made] == ["in_progress", "in_progress"], "nothing written"
