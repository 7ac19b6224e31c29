"""Timeline, dashboard and inbox."""

from __future__ import annotations

from tests.api.helpers import claim, complete, create, must_claim, timeline
from tests.conftest import MEMBER, Api, agent, auth


def test_every_change_appends_a_sequenced_event(api: Api) -> None:
    t = create(api)
    c = must_claim(api)
    api.post(f"/api/agent/tasks/{c['run']['id']}/heartbeat", {"progress": "half"}, headers=agent("a1"))
    complete(api, c["run"]["id"])
    items = timeline(api, t["id"])
    seqs = [i["sequence"] for i in items]
    assert seqs == list(range(1, len(items) + 1))
    types = [i["event_type"] for i in items]
    assert types[0] == "task.created" and "run.claimed" in types and types[-1] == "run.completed"
    claimed = items[types.index("run.claimed")]
    assert claimed["run"]["id"] == c["run"]["id"] and claimed["task"]["id"] == t["id"]
    assert claimed["actor"] == {"kind": "agent_session", "ref": "a1"}
    after = timeline(api, t["id"], after_sequence=2, limit=2)
    assert [i["sequence"] for i in after] == [3, 4]


def test_dashboard(api: Api) -> None:
    create(api, title="a", network_channel="alpha")
    create(api, title="b", network_channel="alpha")
    create(api, title="c", network_channel="beta")
    create(api, title="d", approval_policy="required")
    blocker = create(api, title="e", start=False)
    create(api, title="f", dependencies=[blocker["id"]])
    create(api, title="g", draft=True)
    c = must_claim(api, network_channel="beta")
    api.post(f"/api/task-runs/{c['run']['id']}/start", {}, headers=agent("a1"))
    d = api.get("/api/observe/tasks/dashboard").json()["dashboard"]
    totals = d["totals"]
    assert totals["tasks_total"] == 7
    assert totals["ready_tasks"] == 2 and totals["in_progress_tasks"] == 1
    assert totals["awaiting_approval_tasks"] == 1 and totals["dependency_blocked_tasks"] == 1
    assert totals["draft_tasks"] == 1 and totals["pending_tasks"] == 1 and totals["blocked_tasks"] == 2
    assert totals["queued_runs"] == 2 and totals["starting_runs"] == 1 and totals["active_runs"] == 1
    breakdown = {b["status"]: b for b in d["status_breakdown"]}
    assert breakdown["ready"]["count"] == 2 and round(breakdown["ready"]["share_percent"], 1) == 28.6
    depth = {q["network_channel"]: q for q in d["queue"]["depth"]}
    assert depth["alpha"]["count"] == 2 and "beta" not in depth
    assert depth["alpha"]["oldest_queued_at"] is not None and d["queue"]["total"] == 2
    assert d["active_runs"]["items"][0]["run_id"] == c["run"]["id"]
    assert d["active_runs"]["items"][0]["stuck"] is False
    lat = d["cards"]["latency"]
    assert lat["claim_latency_ms"]["samples"] == 1 and lat["start_latency_ms"]["samples"] == 1
    assert d["freshness"]["has_live_work"] is True and d["freshness"]["stale"] is False
    assert d["health"]["stuck_runs"] == 0
    filtered = api.get("/api/observe/tasks/dashboard", params={"network_channel": "alpha"}).json()["dashboard"]
    assert filtered["totals"]["tasks_total"] == 2


def test_dashboard_stuck_runs(manual_api: Api) -> None:
    api = manual_api
    create(api)
    must_claim(api, lease_seconds=10)
    api.clock.advance(30)  # type: ignore[attr-defined]  # lease lapsed, rescuer not yet run
    d = api.get("/api/observe/tasks/dashboard").json()["dashboard"]
    assert d["health"]["stuck_runs"] == 1 and d["active_runs"]["items"][0]["stuck"] is True
    assert d["health"]["status"] == "critical"


def test_inbox_lanes_and_unread(api: Api) -> None:
    alice = MEMBER
    mine = create(api, title="alice work", owner={"kind": "human", "ref": "alice"})
    gated = create(api, title="needs approval", approval_policy="required")
    blocker = create(api, title="blocker", start=False)
    waiting = create(api, title="waiting", dependencies=[blocker["id"]])
    doomed = create(api, title="doomed", max_attempts=1, owner={"kind": "human", "ref": "bob"})
    held = []
    while (c := claim(api)) is not None:
        if c["task"]["id"] == doomed["id"]:
            api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": "kaput"}, headers=agent("a1"))
            break
        held.append(c)
    for c in held:
        api.post(f"/api/agent/tasks/{c['run']['id']}/release", {}, headers=agent("a1"))
    inbox = api.get("/api/observe/tasks/inbox", headers=alice).json()["inbox"]
    lanes = {g["lane"]: [i["task"]["id"] for i in g["items"]] for g in inbox["groups"]}
    assert lanes["my_work"] == [mine["id"]]
    assert lanes["approvals"] == [gated["id"]]
    assert lanes["failed_runs"] == [doomed["id"]]
    assert lanes["blocked"] == [waiting["id"]]
    blocked_item = next(g for g in inbox["groups"] if g["lane"] == "blocked")["items"][0]
    assert "dependencies" in blocked_item["blocking_reason"] and blocker["identifier"] in blocked_item["blocking_reason"]
    assert inbox["unread_total"] == inbox["total"] == 4
    r = api.post(f"/api/tasks/{mine['id']}/triage/read", headers=alice)
    assert r.status_code == 200 and r.json()["triage"]["read"] is True
    inbox = api.get("/api/observe/tasks/inbox", headers=alice, params={"unread": True}).json()["inbox"]
    assert mine["id"] not in [i["task"]["id"] for g in inbox["groups"] for i in g["items"]]
    # New activity makes it unread again.
    api.patch(f"/api/tasks/{mine['id']}", {"description": "more detail"})
    inbox = api.get("/api/observe/tasks/inbox", headers=alice, params={"unread": True}).json()["inbox"]
    assert mine["id"] in [i["task"]["id"] for g in inbox["groups"] for i in g["items"]]
    api.post(f"/api/tasks/{doomed['id']}/triage/archive", headers=alice)
    api.post(f"/api/tasks/{gated['id']}/triage/dismiss", headers=alice)
    inbox = api.get("/api/observe/tasks/inbox", headers=alice).json()["inbox"]
    lanes = {g["lane"]: [i["task"]["id"] for i in g["items"]] for g in inbox["groups"]}
    assert lanes["archived"] == [doomed["id"]] and lanes["failed_runs"] == [] and lanes["approvals"] == []
    assert inbox["archived_total"] == 1
    bob = auth("bob")
    bob_inbox = api.get("/api/observe/tasks/inbox", headers=bob, params={"lane": "failed_runs"}).json()["inbox"]
    assert [i["task"]["id"] for i in bob_inbox["groups"][0]["items"]] == [doomed["id"]], "triage is per caller"
    q = api.get("/api/observe/tasks/inbox", headers=alice, params={"query": "WAIT"}).json()["inbox"]
    assert [i["task"]["id"] for g in q["groups"] for i in g["items"]] == [waiting["id"]]
    limited = api.get("/api/observe/tasks/inbox", headers=alice, params={"limit": 1, "lane": "my_work"}).json()
    assert len(limited["inbox"]["groups"][0]["items"]) <= 1
