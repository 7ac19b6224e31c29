"""Limits per key (issue 16): concurrency_limit beside concurrency_key, and rate_limit {key, per_minute}.

The race tests serve the app over real HTTP and send 20 claimers at once (claim-next and
claim-batch mixed), on both backends; the limit must hold exactly, not once exceeded.
Time is a manual clock, so "per minute" is decided by the test, not by the machine's speed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from taskloom.api.app import create_app
from taskloom.clock import ManualClock
from tests.api.helpers import claim, create, must_claim
from tests.api.live import serve_in_thread
from tests.api.test_stream import make_settings
from tests.conftest import ADMIN, Api, ApiFactory, agent

CLAIMERS = 20


async def _race(base: str, channel: str, rounds: int = 3) -> list[dict[str, Any]]:
    """20 claimers at once, each trying ``rounds`` times (even claimers use claim-next, odd ones
    claim-batch of 5); no run is completed. Every claim answered."""
    claims: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        async def claimer(i: int) -> None:
            headers = agent(f"racer-{i}")
            for _ in range(rounds):
                if i % 2:
                    r = await http.post("/api/agent/tasks/claim-batch", json={"network_channel": channel, "max_runs": 5},
                                        headers=headers)
                    assert r.status_code in (200, 204), r.text
                    claims.extend(r.json()["claims"] if r.status_code == 200 else [])
                else:
                    r = await http.post("/api/agent/tasks/claim-next", json={"network_channel": channel},
                                        headers=headers)
                    assert r.status_code in (200, 204), r.text
                    if r.status_code == 200:
                        claims.append(r.json()["claim"])

        await asyncio.gather(*(claimer(i) for i in range(CLAIMERS)))
    return claims


def _complete_all(http: httpx.Client, claims: list[dict[str, Any]]) -> None:
    for c in claims:
        r = http.post(f"/api/agent/tasks/{c['run']['id']}/complete", json={"claim_token": c["claim_token"]},
                      headers=agent(c["run"]["claimed_by"]["ref"]))
        assert r.status_code == 200, r.text


def test_concurrency_limit_holds_exactly_under_twenty_claimers(database_url: str, tmp_path: Any) -> None:
    app = create_app(make_settings(database_url, str(tmp_path)), clock=ManualClock(), run_services=False)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=ADMIN, timeout=30) as http:
        for i in range(40):
            r = http.post("/api/tasks", json={"title": f"k{i}", "network_channel": "climit",
                                              "concurrency_key": "gpu", "concurrency_limit": 3})
            assert r.status_code == 201, r.text
        for i in range(10):  # unkeyed work in the same channel is not held back
            http.post("/api/tasks", json={"title": f"free{i}", "network_channel": "climit"})
        first = asyncio.run(_race(base, "climit"))
        keyed = [c for c in first if c["task"]["title"].startswith("k")]
        assert len(keyed) == 3, f"{len(keyed)} live runs of a key with concurrency_limit 3"
        assert len(first) - len(keyed) == 10
        assert len({c["run"]["id"] for c in first}) == len(first)
        for round_ in range(3):  # slots freed by completes go to exactly as many new claims
            _complete_all(http, keyed[:2])
            keyed = keyed[2:] + asyncio.run(_race(base, "climit", rounds=2))
            assert len(keyed) == 3, f"round {round_}: {len(keyed)} live runs of the key"


def test_rate_limit_holds_exactly_under_twenty_claimers_and_the_rest_wait(database_url: str, tmp_path: Any) -> None:
    clock = ManualClock()
    app = create_app(make_settings(database_url, str(tmp_path)), clock=clock, run_services=False)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=ADMIN, timeout=30) as http:
        for i in range(10):
            r = http.post("/api/tasks", json={"title": f"r{i}", "network_channel": "rlimit",
                                              "rate_limit": {"key": "openai", "per_minute": 4}})
            assert r.status_code == 201, r.text
        got: list[dict[str, Any]] = []
        for minute in range(3):
            now = asyncio.run(_race(base, "rlimit"))
            _complete_all(http, now)  # not concurrency: finished runs still count in their minute
            assert len(now) == min(4, 10 - len(got)), f"minute {minute}: {len(now)} claims, per_minute 4"
            assert asyncio.run(_race(base, "rlimit", rounds=1)) == []
            got += now
            clock.advance(30)
            assert asyncio.run(_race(base, "rlimit", rounds=1)) == []  # a rolling minute, not a fresh one
            clock.advance(30.5)
        assert sorted(c["task"]["title"] for c in got) == sorted(f"r{i}" for i in range(10))  # none dropped


def test_limits_are_shown_validated_and_changeable(api: Api) -> None:
    t = create(api, concurrency_key="db", concurrency_limit=2, rate_limit={"key": "llm", "per_minute": 30})
    assert (t["concurrency_key"], t["concurrency_limit"], t["rate_limit"]) == ("db", 2, {"key": "llm",
                                                                                         "per_minute": 30})
    assert create(api)["concurrency_limit"] == 1 and create(api)["rate_limit"] is None
    for bad in ({"concurrency_limit": 0}, {"concurrency_limit": -1}, {"concurrency_limit": "two"},
                {"concurrency_limit": True}, {"concurrency_limit": 10**9}, {"rate_limit": {"key": "x"}},
                {"rate_limit": {"key": "", "per_minute": 3}}, {"rate_limit": {"key": "x", "per_minute": 0}},
                {"rate_limit": {"key": "x", "per_minute": 1.5}}, {"rate_limit": {"per_minute": 3}},
                {"rate_limit": {"key": "x", "per_minute": 3, "burst": 2}}, {"rate_limit": "x"}):
        r = api.post("/api/tasks", {"title": "bad", **bad})
        assert r.status_code == 400, (bad, r.text)
        assert "error" in r.json() and ("concurrency_limit" in r.json()["error"] or "rate_limit" in r.json()["error"])
        r = api.patch(f"/api/tasks/{t['id']}", bad)
        assert r.status_code == 400, (bad, r.text)
    r = api.patch(f"/api/tasks/{t['id']}", {"concurrency_limit": None})
    assert r.status_code == 400 and "concurrency_limit" in r.json()["error"]
    changed = api.patch(f"/api/tasks/{t['id']}", {"concurrency_limit": 5}).json()["task"]
    assert changed["concurrency_limit"] == 5 and changed["rate_limit"] == {"key": "llm", "per_minute": 30}
    cleared = api.patch(f"/api/tasks/{t['id']}", {"rate_limit": None}).json()["task"]
    assert cleared["rate_limit"] is None and cleared["concurrency_limit"] == 5
    spec = api.get("/openapi.json").json()["components"]["schemas"]
    assert {"concurrency_limit", "rate_limit"} <= set(spec["taskloom__api__schemas__TaskCreate"]["properties"])
    assert {"concurrency_limit", "rate_limit"} <= set(spec["TaskOut"]["properties"])
    assert {"concurrency_limit", "rate_limit"} <= set(spec["ScheduledTaskCreate"]["properties"])


def test_a_raised_limit_lets_queued_runs_in(api: Api) -> None:
    a = create(api, concurrency_key="k", network_channel="raise")
    b = create(api, concurrency_key="k", network_channel="raise")
    must_claim(api, network_channel="raise")
    assert claim(api, "a2", network_channel="raise") is None
    api.patch(f"/api/tasks/{b['id']}", {"concurrency_limit": 2})
    got = must_claim(api, "a2", network_channel="raise")
    assert got["task"]["id"] == b["id"] and a["id"] != b["id"]


def test_a_named_claim_obeys_the_limits(api: Api) -> None:
    create(api, concurrency_key="named", network_channel="named")
    b = create(api, concurrency_key="named", network_channel="named")
    must_claim(api, network_channel="named")
    run_id = api.get(f"/api/tasks/{b['id']}/runs").json()["runs"][0]["id"]
    r = api.post(f"/api/task-runs/{run_id}/claim", {}, headers=agent("a2"))
    assert r.status_code == 409 and "concurrency_limit 1" in r.json()["error"]


def test_schedules_take_and_show_the_limits(make_api: ApiFactory) -> None:
    api = make_api()
    body = {"title": "nightly", "description": "d", "schedule_kind": "cron", "schedule_expr": "0 3 * * *",
            "payload": {}, "created_by": "6f1c1a8e-6d8e-4f43-9d7a-3b8d3c9f0a11", "concurrency_key": "etl",
            "concurrency_limit": 4, "rate_limit": {"key": "warehouse", "per_minute": 10}}
    r = api.post("/tasks", body)
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["concurrency_limit"], t["rate_limit"]) == (4, {"key": "warehouse", "per_minute": 10})
    t = api.put(f"/tasks/{t['id']}", {"concurrency_limit": 2, "rate_limit": None}).json()
    assert (t["concurrency_limit"], t["rate_limit"]) == (2, None)
    for bad in ({"concurrency_limit": 0}, {"rate_limit": {"key": "w", "per_minute": -1}}, {"concurrency_limit": None}):
        r = api.put(f"/tasks/{t['id']}", bad)
        assert r.status_code == 400 and "error" in r.json(), r.text
    r = api.post("/tasks", {**body, "concurrency_limit": 0})
    assert r.status_code == 400 and "concurrency_limit" in r.json()["error"]
