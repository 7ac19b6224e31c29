"""Scheduled tasks API (seed 003) at /tasks and POST /events, on both backends.

Time is a ManualClock and background services are off: ``tick`` runs one
scheduler pass, so nothing sleeps through real minutes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from taskloom.clock import ManualClock
from tests.conftest import ADMIN, MEMBER, Api, ApiFactory, agent

T0 = datetime(2030, 1, 15, 10, 0, tzinfo=UTC).timestamp()  # a Tuesday, on a whole hour
CREATOR = str(uuid.uuid4())


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def body(**fields: Any) -> dict[str, Any]:
    return {"title": "nightly", "description": "run the pipeline", "schedule_kind": "cron",
            "schedule_expr": "*/5 * * * *", "payload": {"steps": ["a", "b"]}, "created_by": CREATOR, **fields}


def create(api: Api, **fields: Any) -> dict[str, Any]:
    r = api.post("/tasks", body(**fields))
    assert r.status_code == 201, r.text
    return r.json()


def tick(api: Api) -> None:
    api.run_services_once()


def runs(api: Api, task_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/tasks/{task_id}/runs")
    assert r.status_code == 200, r.text
    return r.json()["runs"]


def claim(api: Api, who: str = "a1", **kw: Any) -> dict[str, Any] | None:
    r = api.post("/api/agent/tasks/claim-next", kw, headers=agent(who))
    if r.status_code == 204:
        return None
    assert r.status_code == 200, r.text
    return r.json()["claim"]


def complete(api: Api, c: dict[str, Any], who: str = "a1") -> None:
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": {"ok": True}}, headers=agent(who))
    assert r.status_code == 200, r.text


def fail(api: Api, c: dict[str, Any], who: str = "a1") -> None:
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": "boom"}, headers=agent(who))
    assert r.status_code == 200, r.text


@pytest.fixture
def sapi(make_api: ApiFactory) -> Api:
    return make_api(clock=ManualClock(T0 + 60), services=False)


# -- create & validation ---------------------------------------------------------------------


def test_create_defaults_and_next_run_at(sapi: Api) -> None:
    t = create(sapi)
    uuid.UUID(t["id"])
    assert t["status"] == "active" and t["timezone"] == "UTC" and t["priority"] == 5
    assert t["max_retries"] == 3 and t["backoff_strategy"] == "exponential_jitter"
    assert t["next_run_at"] == "2030-01-15T10:05:00Z"
    assert t["payload"] == {"steps": ["a", "b"]} and t["created_by"] == CREATOR
    assert t["dedupe_key"] is None and t["concurrency_key"] is None and t["dedupe_window_seconds"] is None
    assert runs(sapi, t["id"]) == []
    got = sapi.get(f"/tasks/{t['id']}").json()
    assert got["next_run_at"] == t["next_run_at"] and got["task_status"] == "pending"
    # The same row through the runtime API: source schedule, max_attempts = retries + 1.
    core = sapi.get(f"/api/tasks/{t['id']}").json()["task"]["task"]
    assert core["max_attempts"] == 4 and core["metadata"] == {"steps": ["a", "b"]}


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"schedule_kind": "hourly"}, "schedule_kind"),
        ({"schedule_expr": None}, "schedule_expr"),
        ({"schedule_kind": "rrule", "schedule_expr": None}, "schedule_expr"),
        ({"schedule_kind": "once", "schedule_expr": None}, "schedule_expr"),
        ({"schedule_expr": "61 * * * *"}, "cron"),
        ({"schedule_expr": "* * * *"}, "5 fields"),
        ({"schedule_expr": "every day"}, "schedule_expr"),
        ({"schedule_kind": "rrule", "schedule_expr": "FREQ=SOMETIMES"}, "RRULE"),
        ({"schedule_kind": "rrule", "schedule_expr": "DTSTART:20200101T000000\nRRULE:FREQ=DAILY;COUNT=2"},
         "no occurrence"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_kind": "once", "schedule_expr": "2020-01-01T00:00:00Z"}, "past"),
        ({"schedule_kind": "once", "schedule_expr": "tomorrow"}, "ISO 8601"),
        ({"priority": 0}, "priority"),
        ({"priority": 10}, "priority"),
        ({"max_retries": -1}, "max_retries"),
        ({"backoff_strategy": "random"}, "backoff_strategy"),
        ({"created_by": "not-a-uuid"}, "created_by"),
        ({"payload": None}, "payload"),
        ({"payload": [1, 2]}, "payload"),
        ({"title": ""}, "title"),
        ({"dedupe_window_seconds": 0}, "dedupe_window_seconds"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create_rejects_bad_input(sapi: Api, fields: dict[str, Any], needle: str) -> None:
    r = sapi.post("/tasks", body(**fields))
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]
    assert sapi.get("/tasks").json()["total"] == 0  # nothing half-written


def test_create_requires_seed_fields(sapi: Api) -> None:
    for missing in ("title", "description", "schedule_kind", "payload", "created_by"):
        b = body()
        del b[missing]
        r = sapi.post("/tasks", b)
        assert r.status_code == 400 and missing in r.json()["error"], r.text
    assert sapi.client.post("/tasks", json=body()).status_code == 401


def test_priority_scale_maps_to_core_and_claim_order(sapi: Api) -> None:
    low = create(sapi, priority=9)
    high = create(sapi, priority=1)
    mid = create(sapi)
    assert sapi.get(f"/api/tasks/{high['id']}").json()["task"]["task"]["priority"] == "urgent"
    assert sapi.get(f"/api/tasks/{low['id']}").json()["task"]["task"]["priority"] == "low"
    for t in (low, mid, high):
        assert sapi.post(f"/tasks/{t['id']}/run_now").status_code == 201
    order = [claim(sapi)["task"]["id"] for _ in range(3)]  # type: ignore[index]
    assert order == [high["id"], mid["id"], low["id"]]
    assert [sapi.get(f"/tasks/{t['id']}").json()["priority"] for t in (low, mid, high)] == [9, 5, 1]


# -- firing ------------------------------------------------------------------------------------


def test_cron_firing_is_routed_to_queue_and_visible_in_timeline(sapi: Api) -> None:
    t = create(sapi, queue="reports")
    tick(sapi)
    assert runs(sapi, t["id"]) == []  # not due yet
    sapi.clock.set(ts("2030-01-15T10:05:00Z"))
    tick(sapi)
    tick(sapi)  # a second pass in the same instant fires nothing more
    rs = runs(sapi, t["id"])
    assert len(rs) == 1 and rs[0]["status"] == "queued" and rs[0]["network_channel"] == "reports"
    assert rs[0]["firing"]["trigger"] == "schedule" and rs[0]["firing"]["scheduled_for"] == "2030-01-15T10:05:00Z"
    assert claim(sapi, network_channel="elsewhere") is None
    c = claim(sapi, network_channel="reports")
    assert c is not None and c["task"]["id"] == t["id"] and c["task"]["metadata"] == {"steps": ["a", "b"]}
    complete(sapi, c)
    got = sapi.get(f"/tasks/{t['id']}").json()
    assert got["next_run_at"] == "2030-01-15T10:10:00Z" and got["run_count"] == 1
    assert got["last_firing"]["status"] == "completed" and got["last_run_at"] == "2030-01-15T10:05:00Z"
    types = [e["event_type"] for e in sapi.get(f"/api/tasks/{t['id']}/timeline").json()["timeline"]]
    assert "schedule.created" in types and "run.queued" in types and "run.completed" in types
    timeline = sapi.get(f"/api/tasks/{t['id']}/timeline").json()["timeline"]
    queued = [e for e in timeline if e["event_type"] == "run.queued"]
    assert queued[0]["payload"]["firing"]["trigger"] == "schedule"


def test_payload_queue_routes_when_no_queue_field(sapi: Api) -> None:
    t = create(sapi, payload={"queue": "etl", "steps": []})
    assert t["network_channel"] == "etl"
    sapi.post(f"/tasks/{t['id']}/run_now")
    assert claim(sapi, network_channel="etl") is not None


def _fire_through(api: Api, task_id: str, start: str, end: str, step: int = 600) -> list[dict[str, Any]]:
    """Tick every ``step`` seconds from start to end, completing each run; return the runs."""
    api.clock.set(ts(start))
    while api.clock.now() <= ts(end):
        tick(api)
        c = claim(api)
        if c is not None:
            complete(api, c)
        api.clock.advance(step)
    return runs(api, task_id)


def test_dst_spring_forward_chisinau_fires_once_after_the_gap(make_api: ApiFactory) -> None:
    api = make_api(clock=ManualClock(ts("2025-03-29T10:00:00Z")), services=False)
    t = create(api, schedule_expr="30 2 * * *", timezone="Europe/Chisinau")
    # 02:30 does not exist on 2025-03-30 (02:00 EET -> 03:00 EEST): it fires at 03:00 local.
    assert t["next_run_at"] == "2025-03-30T00:00:00Z"
    rs = _fire_through(api, t["id"], "2025-03-29T12:00:00Z", "2025-03-31T12:00:00Z", step=900)
    fired = sorted(r["firing"]["scheduled_for"] for r in rs)
    assert fired == ["2025-03-30T00:00:00Z", "2025-03-30T23:30:00Z"]  # 03:00 EEST, then 02:30 EEST


def test_dst_fall_back_chisinau_fires_once_not_twice(make_api: ApiFactory) -> None:
    api = make_api(clock=ManualClock(ts("2025-10-25T10:00:00Z")), services=False)
    t = create(api, schedule_expr="30 2 * * *", timezone="Europe/Chisinau")
    # 02:30 happens twice on 2025-10-26: it fires at the first (EEST, 23:30Z) only.
    assert t["next_run_at"] == "2025-10-25T23:30:00Z"
    rs = _fire_through(api, t["id"], "2025-10-25T12:00:00Z", "2025-10-27T12:00:00Z", step=900)
    fired = sorted(r["firing"]["scheduled_for"] for r in rs)
    assert fired == ["2025-10-25T23:30:00Z", "2025-10-27T00:30:00Z"]  # then 02:30 EET


def test_rrule_with_dtstart_count_and_until(sapi: Api) -> None:
    counted = create(sapi, schedule_kind="rrule",
                     schedule_expr="DTSTART:20300116T090000\nRRULE:FREQ=DAILY;COUNT=3", timezone="Europe/Chisinau")
    until = create(sapi, schedule_kind="rrule",
                   schedule_expr="DTSTART:20300116T090000Z\nRRULE:FREQ=DAILY;UNTIL=20300117T090000Z")
    assert counted["next_run_at"] == "2030-01-16T07:00:00Z"  # 09:00 EET
    assert until["next_run_at"] == "2030-01-16T09:00:00Z"
    _fire_through(sapi, counted["id"], "2030-01-16T00:00:00Z", "2030-01-21T00:00:00Z", step=3600)
    assert sorted(r["firing"]["scheduled_for"] for r in runs(sapi, counted["id"])) == [
        "2030-01-16T07:00:00Z", "2030-01-17T07:00:00Z", "2030-01-18T07:00:00Z"]
    assert sorted(r["firing"]["scheduled_for"] for r in runs(sapi, until["id"])) == [
        "2030-01-16T09:00:00Z", "2030-01-17T09:00:00Z"]
    done = sapi.get(f"/tasks/{counted['id']}").json()
    assert done["next_run_at"] is None and done["status"] == "active" and done["run_count"] == 3


def test_once_fires_exactly_once(sapi: Api) -> None:
    t = create(sapi, schedule_kind="once", schedule_expr="2030-01-15T13:00:00", timezone="Europe/Chisinau")
    assert t["next_run_at"] == "2030-01-15T11:00:00Z"
    assert create(sapi, schedule_kind="once", schedule_expr="2030-01-15T11:00:00+00:00")["next_run_at"] == \
        "2030-01-15T11:00:00Z"
    rs = _fire_through(sapi, t["id"], "2030-01-15T10:50:00Z", "2030-01-16T00:00:00Z")
    assert len(rs) == 1 and rs[0]["status"] == "completed"
    assert sapi.get(f"/tasks/{t['id']}").json()["next_run_at"] is None


def test_event_schedule_fires_on_matching_event_with_payload(sapi: Api) -> None:
    t = create(sapi, schedule_kind="event", schedule_expr="deploy.*")
    exact = create(sapi, schedule_kind="event", schedule_expr="invoice.paid")
    assert t["next_run_at"] is None
    r = sapi.post("/events", {"type": "build.done", "payload": {"x": 1}})
    assert r.status_code == 202 and r.json()["matched"] == []
    r = sapi.post("/events", {"type": "deploy.finished", "payload": {"sha": "abc123"}})
    assert r.status_code == 202, r.text
    matched = r.json()["matched"]
    assert [m["task_id"] for m in matched] == [t["id"]] and matched[0]["outcome"] == "enqueued"
    c = claim(sapi)
    assert c is not None and c["run"]["metadata"]["event"]["payload"] == {"sha": "abc123"}
    assert c["run"]["metadata"]["event"]["type"] == "deploy.finished"
    assert runs(sapi, exact["id"]) == []
    assert sapi.post("/events", {"payload": {}}).status_code == 400
    # A paused event schedule ignores events.
    sapi.post(f"/tasks/{exact['id']}/pause")
    assert sapi.post("/events", {"type": "invoice.paid"}).json()["matched"] == []


def test_catch_up_after_downtime_fires_once(make_api: ApiFactory) -> None:
    first = make_api(clock=ManualClock(T0 + 60), services=False)
    t = create(first, schedule_expr="*/5 * * * *")
    first.client.__exit__(None, None, None)  # the server stops before 10:05
    # It comes back an hour later: 12 occurrences (10:05 .. 11:00) were missed.
    second = make_api(clock=ManualClock(ts("2030-01-15T11:02:00Z")), services=False)
    tick(second)
    tick(second)
    rs = runs(second, t["id"])
    assert len(rs) == 1
    assert rs[0]["firing"]["trigger"] == "catch_up" and rs[0]["firing"]["missed_firings"] == 11
    assert rs[0]["firing"]["scheduled_for"] == "2030-01-15T10:05:00Z"
    got = second.get(f"/tasks/{t['id']}").json()
    assert got["next_run_at"] == "2030-01-15T11:05:00Z" and got["missed_firings"] == 11


def test_retries_with_backoff_then_firing_failed(sapi: Api) -> None:
    t = create(sapi, max_retries=2, backoff_strategy="linear", backoff_seconds=30)
    sapi.clock.set(ts("2030-01-15T10:05:00Z"))
    tick(sapi)
    fail(sapi, claim(sapi))  # type: ignore[arg-type]
    assert claim(sapi) is None  # waiting out its backoff
    sapi.clock.advance(30)
    fail(sapi, claim(sapi))  # type: ignore[arg-type]
    sapi.clock.advance(59)
    assert claim(sapi) is None
    sapi.clock.advance(1)
    fail(sapi, claim(sapi))  # type: ignore[arg-type]
    rs = sorted(runs(sapi, t["id"]), key=lambda r: r["attempt"])
    assert [r["status"] for r in rs] == ["failed", "failed", "failed"]
    assert [r["retry_delay_seconds"] for r in rs] == [None, 30, 60]
    assert ts(rs[1]["available_at"]) == ts("2030-01-15T10:05:30Z")
    assert len({r["firing"]["id"] for r in rs}) == 1
    got = sapi.get(f"/tasks/{t['id']}").json()
    assert got["last_firing"]["status"] == "failed" and got["last_firing"]["attempts"] == 3
    assert got["task_status"] == "failed" and got["status"] == "active"
    # The next firing starts again with a fresh retry budget.
    sapi.clock.set(ts("2030-01-15T10:10:00Z"))
    tick(sapi)
    got = sapi.get(f"/tasks/{t['id']}").json()
    assert got["last_firing"]["status"] == "queued" and got["last_firing"]["attempts"] == 1


def test_dedupe_window_across_tasks_and_paths(sapi: Api) -> None:
    a = create(sapi, dedupe_key="report-42", dedupe_window_seconds=600)
    b = create(sapi, dedupe_key="report-42", dedupe_window_seconds=600, schedule_kind="event",
               schedule_expr="report.requested")
    assert sapi.post(f"/tasks/{a['id']}/run_now").status_code == 201  # 10:01
    complete(sapi, claim(sapi))  # type: ignore[arg-type]
    r = sapi.post(f"/tasks/{b['id']}/run_now")
    assert r.status_code == 409 and "dedupe_key" in r.json()["error"]
    assert sapi.post("/events", {"type": "report.requested"}).json()["matched"][0]["outcome"] == "deduped"
    sapi.clock.set(ts("2030-01-15T10:05:00Z"))
    tick(sapi)  # the scheduled firing falls inside the window too
    assert len(runs(sapi, a["id"])) == 1 and runs(sapi, b["id"]) == []
    assert sapi.get(f"/tasks/{a['id']}").json()["next_run_at"] == "2030-01-15T10:10:00Z"
    sapi.clock.set(ts("2030-01-15T10:15:00Z"))  # 14 min after the first run: window over
    tick(sapi)
    assert len(runs(sapi, a["id"])) == 2
    types = [e["event_type"] for e in sapi.get(f"/api/tasks/{a['id']}/timeline").json()["timeline"]]
    assert "schedule.deduped" in types


def test_dedupe_without_window_blocks_while_open(sapi: Api) -> None:
    a = create(sapi, dedupe_key="k")
    b = create(sapi, dedupe_key="k")
    assert sapi.post(f"/tasks/{a['id']}/run_now").status_code == 201
    assert sapi.post(f"/tasks/{b['id']}/run_now").status_code == 409
    complete(sapi, claim(sapi))  # type: ignore[arg-type]
    assert sapi.post(f"/tasks/{b['id']}/run_now").status_code == 201


def test_concurrency_key_later_runs_wait_not_dropped(sapi: Api) -> None:
    a = create(sapi, concurrency_key="db")
    b = create(sapi, concurrency_key="db")
    sapi.clock.set(ts("2030-01-15T10:05:00Z"))
    tick(sapi)
    assert len(runs(sapi, a["id"])) == 1 and len(runs(sapi, b["id"])) == 1
    first = claim(sapi)
    assert first is not None
    assert claim(sapi, "a2") is None  # the other run waits for the key
    complete(sapi, first)
    second = claim(sapi, "a2")
    assert second is not None and {first["task"]["id"], second["task"]["id"]} == {a["id"], b["id"]}


def test_overlapping_firing_waits_behind_open_run(sapi: Api) -> None:
    t = create(sapi, schedule_expr="* * * * *")
    sapi.clock.set(ts("2030-01-15T10:02:00Z"))
    tick(sapi)
    c = claim(sapi)
    assert c is not None
    sapi.clock.set(ts("2030-01-15T10:03:00Z"))
    tick(sapi)
    sapi.clock.set(ts("2030-01-15T10:04:00Z"))
    tick(sapi)
    assert len(runs(sapi, t["id"])) == 1
    waiting = sapi.get(f"/tasks/{t['id']}").json()["waiting_firing"]
    assert waiting is not None and waiting["coalesced"] == 1
    complete(sapi, c)
    tick(sapi)
    rs = runs(sapi, t["id"])
    assert len(rs) == 2 and rs[0]["status"] == "queued"
    assert sapi.get(f"/tasks/{t['id']}").json()["waiting_firing"] is None


# -- list, get, update -----------------------------------------------------------------------


def test_list_filters_limit_offset(sapi: Api) -> None:
    other = str(uuid.uuid4())
    a = create(sapi)
    b = create(sapi, created_by=other)
    c = create(sapi, schedule_kind="rrule", schedule_expr="FREQ=HOURLY")
    d = create(sapi, schedule_kind="event", schedule_expr="x")
    sapi.post(f"/tasks/{b['id']}/pause")
    sapi.post(f"/tasks/{c['id']}/cancel")
    ids = lambda r: [t["id"] for t in r.json()["tasks"]]  # noqa: E731
    everything = sapi.get("/tasks")
    assert everything.json()["total"] == 4 and everything.json()["limit"] == 50
    assert set(ids(everything)) == {a["id"], b["id"], c["id"], d["id"]}
    assert set(ids(sapi.get("/tasks?status=active"))) == {a["id"], d["id"]}
    assert ids(sapi.get("/tasks?status=paused")) == [b["id"]]
    assert ids(sapi.get("/tasks?status=canceled")) == [c["id"]]
    assert ids(sapi.get(f"/tasks?created_by={other}")) == [b["id"]]
    assert ids(sapi.get("/tasks?schedule_kind=rrule")) == [c["id"]]
    page = sapi.get("/tasks?limit=3&offset=0")
    rest = sapi.get("/tasks?limit=3&offset=3")
    assert len(ids(page)) == 3 and len(ids(rest)) == 1 and not set(ids(page)) & set(ids(rest))
    for bad in ("status=done", "created_by=bob", "schedule_kind=weekly", "limit=0", "offset=-1"):
        r = sapi.get(f"/tasks?{bad}")
        assert r.status_code == 400 and bad.split("=")[0] in r.json()["error"], r.text
    assert sapi.get(f"/tasks/{uuid.uuid4()}").status_code == 404


def test_put_updates_only_given_fields_and_recomputes_next_run(sapi: Api) -> None:
    t = create(sapi, dedupe_key="k", concurrency_key="c")
    r = sapi.put(f"/tasks/{t['id']}", {"schedule_expr": "0 12 * * *", "timezone": "Europe/Chisinau"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["next_run_at"] == "2030-01-16T10:00:00Z"  # 12:00 in Chisinau (EET) has passed today
    assert got["title"] == "nightly" and got["dedupe_key"] == "k" and got["concurrency_key"] == "c"
    got = sapi.put(f"/tasks/{t['id']}", {"title": "renamed", "priority": 2, "max_retries": 0,
                                         "dedupe_key": None}).json()
    assert got["title"] == "renamed" and got["priority"] == 2 and got["max_retries"] == 0
    assert got["dedupe_key"] is None and got["schedule_expr"] == "0 12 * * *"
    before = sapi.get(f"/tasks/{t['id']}").json()
    for bad, needle in (({"schedule_expr": "nope"}, "schedule_expr"), ({"title": None}, "title"),
                        ({"timezone": "Nowhere/Town"}, "timezone"), ({"priority": 11}, "priority"),
                        ({"schedule_kind": "once"}, "schedule_expr"), ({"bogus": 1}, "bogus")):
        r = sapi.put(f"/tasks/{t['id']}", bad)
        assert r.status_code == 400 and needle in r.json()["error"], r.text
    assert sapi.get(f"/tasks/{t['id']}").json() == before  # nothing half-applied
    got = sapi.put(f"/tasks/{t['id']}", {"schedule_kind": "once", "schedule_expr": "2030-02-01T00:00:00Z"}).json()
    assert got["schedule_kind"] == "once" and got["next_run_at"] == "2030-02-01T00:00:00Z"
    assert sapi.put(f"/tasks/{uuid.uuid4()}", {"title": "x"}).status_code == 404


def test_run_now_does_not_disturb_schedule(sapi: Api) -> None:
    t = create(sapi)
    r = sapi.post(f"/tasks/{t['id']}/run_now")
    assert r.status_code == 201 and r.json()["run"]["firing"]["trigger"] == "run_now"
    got = sapi.get(f"/tasks/{t['id']}").json()
    assert got["next_run_at"] == t["next_run_at"] and got["run_count"] == 0
    assert sapi.post(f"/tasks/{t['id']}/run_now").status_code == 409  # one open run at a time
    complete(sapi, claim(sapi))  # type: ignore[arg-type]
    sapi.clock.set(ts("2030-01-15T10:05:00Z"))
    tick(sapi)
    assert len(runs(sapi, t["id"])) == 2


def test_snooze_shifts_next_firing(sapi: Api) -> None:
    t = create(sapi)
    r = sapi.post(f"/tasks/{t['id']}/snooze", {"delay_seconds": 600, "reason": "maintenance"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["next_run_at"] == "2030-01-15T10:15:00Z" and got["snooze_reason"] == "maintenance"
    for bad in ({"delay_seconds": 604_801}, {"delay_seconds": 0}, {}, {"delay_seconds": "soon"}):
        r = sapi.post(f"/tasks/{t['id']}/snooze", bad)
        assert r.status_code == 400 and "delay_seconds" in r.json()["error"], r.text
    assert sapi.post(f"/tasks/{t['id']}/snooze", {"delay_seconds": 604_800}).status_code == 200
    sapi.post(f"/tasks/{t['id']}/snooze", {"delay_seconds": 1})  # stacks on the snoozed time
    expected = ts("2030-01-15T10:15:00Z") + 604_801
    assert ts(sapi.get(f"/tasks/{t['id']}").json()["next_run_at"]) == expected
    sapi.clock.set(ts("2030-01-15T10:10:00Z"))
    tick(sapi)
    assert runs(sapi, t["id"]) == []
    sapi.clock.set(expected)
    tick(sapi)
    rs = runs(sapi, t["id"])
    assert len(rs) == 1 and rs[0]["firing"].get("missed_firings") is None
    got = sapi.get(f"/tasks/{t['id']}").json()
    assert got["snoozed_until"] is None and got["next_run_at"] == "2030-01-22T10:20:00Z"


def test_pause_resume_cancel(sapi: Api) -> None:
    t = create(sapi)
    assert sapi.post(f"/tasks/{t['id']}/pause").json()["status"] == "paused"
    assert sapi.post(f"/tasks/{t['id']}/pause").status_code == 200  # idempotent
    sapi.clock.set(ts("2030-01-15T10:12:00Z"))
    tick(sapi)
    assert runs(sapi, t["id"]) == []
    assert sapi.post(f"/tasks/{t['id']}/snooze", {"delay_seconds": 60}).status_code == 409
    resumed = sapi.post(f"/tasks/{t['id']}/resume").json()
    assert resumed["status"] == "active" and resumed["next_run_at"] == "2030-01-15T10:15:00Z"
    tick(sapi)
    assert runs(sapi, t["id"]) == []  # what fell in the pause is skipped
    sapi.post(f"/tasks/{t['id']}/run_now")
    r = sapi.post(f"/tasks/{t['id']}/cancel", {"reason": "no longer needed"})
    assert r.status_code == 200 and r.json()["status"] == "canceled" and r.json()["next_run_at"] is None
    assert [x["status"] for x in runs(sapi, t["id"])] == ["canceled"]
    for action in ("resume", "pause", "cancel", "run_now"):
        r = sapi.post(f"/tasks/{t['id']}/{action}")
        assert r.status_code == 409 and "canceled" in r.json()["error"], (action, r.text)
    assert sapi.put(f"/tasks/{t['id']}", {"title": "x"}).status_code == 409
    sapi.clock.set(ts("2030-01-15T11:00:00Z"))
    tick(sapi)
    assert len(runs(sapi, t["id"])) == 1
    assert sapi.get(f"/api/tasks/{t['id']}").json()["task"]["task"]["status"] == "canceled"


def test_agents_change_only_their_own(sapi: Api) -> None:
    r = sapi.post("/tasks", body(), headers=agent("bot"))
    assert r.status_code == 201
    tid = r.json()["id"]
    assert sapi.post(f"/tasks/{tid}/pause", headers=agent("other")).status_code == 403
    assert sapi.post(f"/tasks/{tid}/pause", headers=agent("bot")).status_code == 200
    assert sapi.post(f"/tasks/{tid}/resume", headers=MEMBER).status_code == 200
    assert sapi.get("/tasks", headers=ADMIN).json()["total"] == 1


# -- several schedulers on one database ----------------------------------------------------------

_SCHEDULER_PROCESS = r"""
import asyncio, sys, time
from taskloom.clock import ManualClock
from taskloom.engine.engine import Engine
from taskloom.engine.scheduler import Scheduler
from taskloom.storage import open_storage

url, now, start_at = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])

async def main():
    storage = open_storage(url)
    storage.migrate()
    scheduler = Scheduler(batch=25)
    engine = Engine(storage, ManualClock(now), services=[scheduler])
    await engine.start(run_services=False)
    while time.time() < start_at:
        await asyncio.sleep(0.005)
    until = time.time() + 1.5
    while time.time() < until:
        await scheduler.tick(engine)
    await engine.stop()
    print(scheduler.fired)

asyncio.run(main())
"""


def test_two_scheduler_processes_fire_each_firing_once(sapi: Api) -> None:
    import os
    import subprocess
    import sys
    import time

    ids = [create(sapi, title=f"s{i}", schedule_expr="*/5 * * * *")["id"] for i in range(120)]
    now = ts("2030-01-15T10:05:30Z")
    start_at = time.time() + 2.0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["src", os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", _SCHEDULER_PROCESS, sapi.settings.database_url, str(now),
                               str(start_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    fired = [int(out.strip()) for out, _ in outputs]
    print("firings claimed per process:", fired)
    assert sum(fired) == len(ids)  # every firing claimed by exactly one of the two
    for task_id in ids:
        rs = runs(sapi, task_id)
        assert len(rs) == 1 and rs[0]["firing"]["scheduled_for"] == "2030-01-15T10:05:00Z"
    listed = sapi.get("/tasks?limit=1000").json()["tasks"]
    assert {t["run_count"] for t in listed} == {1}


def test_two_engines_on_one_database_tick_concurrently(make_api: ApiFactory) -> None:
    from concurrent.futures import ThreadPoolExecutor

    one = make_api(clock=ManualClock(T0 + 60), services=False)
    two = make_api(clock=ManualClock(T0 + 60), services=False)
    ids = [create(one, title=f"s{i}", schedule_expr="* * * * *")["id"] for i in range(40)]
    with ThreadPoolExecutor(2) as pool:
        for minute in range(2, 5):
            for api in (one, two):
                api.clock.set(T0 + 60 * minute)
            list(pool.map(lambda a: a.run_services_once(), [one, two, one, two]))
            while (c := claim(one)) is not None:  # complete what fired so the next minute can fire
                complete(one, c)
    for task_id in ids:
        assert [r["firing"]["scheduled_for"][11:16] for r in sorted(
            runs(two, task_id), key=lambda r: r["attempt"])] == ["10:02", "10:03", "10:04"]
