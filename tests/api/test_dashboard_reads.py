"""The read endpoints behind the dashboard's queues and agents views, and the questions lane."""

from __future__ import annotations

from tests.api.helpers import create, must_claim
from tests.conftest import MEMBER, Api, agent, auth


def queue(api: Api, channel: str | None) -> dict:
    r = api.get("/api/observe/queues")
    assert r.status_code == 200, r.text
    return next(q for q in r.json()["queues"] if q["network_channel"] == channel)


def test_queues_depth_history_from_queued_and_claimed_times(manual_api: Api) -> None:
    api, clock = manual_api, manual_api.clock
    create(api, title="r1", network_channel="research")
    create(api, title="r2", network_channel="research")
    clock.advance(1000)  # type: ignore[attr-defined]
    c = must_claim(api, network_channel="research", lease_seconds=60)
    clock.advance(700)  # type: ignore[attr-defined]
    q = queue(api, "research")
    # 13 points, every 5 minutes over the last hour (the last one now): none before the tasks were
    # made (28 min 20 s ago), two waiting from then until the claim (11 min 40 s ago), one since.
    assert q["depth_history"] == [0] * 7 + [2] * 3 + [1] * 3
    assert q["depth"] == 1 and q["active_runs"] == 1 and q["stuck_runs"] == 1  # its 60 s lease lapsed
    assert q["oldest_queue_age_ms"] == 1_700_000 and q["work_queue"] is None
    api.post(f"/api/agent/tasks/{c['run']['id']}/heartbeat", {"lease_seconds": 600}, headers=agent("a1"))
    assert queue(api, "research")["stuck_runs"] == 0
    times = api.get("/api/observe/queues").json()["history_times"]
    assert len(times) == 13


def test_a_run_waiting_since_before_the_hour_counts_at_every_point(manual_api: Api) -> None:
    api, clock = manual_api, manual_api.clock
    create(api, title="forgotten", network_channel="slow")
    clock.advance(7200)  # type: ignore[attr-defined]
    assert queue(api, "slow")["depth_history"] == [1] * 13
    must_claim(api, network_channel="slow")
    clock.advance(10)  # type: ignore[attr-defined]
    assert queue(api, "slow")["depth_history"] == [1] * 12 + [0]


def test_queues_list_every_work_queue_and_respect_workspaces(api: Api) -> None:
    wq = api.post("/work-queues", {"name": "bug-triage", "teamId": "eng"}).json()
    empty = queue(api, wq["id"])
    assert empty["work_queue"] == {"id": wq["id"], "name": "bug-triage", "team_id": "eng"}
    assert empty["depth"] == 0 and empty["depth_history"] == [0] * 13
    create(api, title="secret", network_channel="ops", workspace_id="ops")
    outsider = auth("eve", workspaces=["eng"])
    seen = [q["network_channel"] for q in api.get("/api/observe/queues", headers=outsider).json()["queues"]]
    assert wq["id"] in seen and "ops" not in seen
    assert api.client.get("/api/observe/queues").status_code == 401


def test_agent_activity_shows_live_runs_with_lease(manual_api: Api) -> None:
    api, clock = manual_api, manual_api.clock
    t = create(api, title="index the wiki")
    c = must_claim(api, who="indexer", lease_seconds=120)
    clock.advance(30)  # type: ignore[attr-defined]
    r = api.get("/api/observe/agents", headers=MEMBER)
    assert r.status_code == 200, r.text
    (me,) = [a for a in r.json()["agents"] if a["claimer"]["ref"] == "indexer"]
    (run,) = me["live_runs"]
    assert run["run_id"] == c["run"]["id"] and run["task_id"] == t["id"] and run["task_title"] == "index the wiki"
    assert run["lease_remaining_ms"] == 90_000 and run["stuck"] is False
    assert me["last_heartbeat_at"] is not None and me["recent_runs"] == 1
    api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {}, headers=agent("indexer"))
    (me,) = [a for a in api.get("/api/observe/agents").json()["agents"] if a["claimer"]["ref"] == "indexer"]
    assert me["live_runs"] == [] and me["last_claimed_at"] is not None
