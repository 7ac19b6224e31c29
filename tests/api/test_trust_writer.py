"""No input may hold the writer (issue 13, D1-D3) and the write watchdog, on both backends."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from taskloom.domain import schedules as sched_math
from taskloom.domain.actors import SYSTEM
from tests.api.test_schedules import body, create
from tests.conftest import Api, ApiFactory, agent

pytestmark = pytest.mark.timeout(60)


def _write_still_works(api: Api) -> None:
    r = api.post("/api/tasks", {"title": "after"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("expr", ["FREQ=MINUTELY;INTERVAL=0", "FREQ=DAILY;INTERVAL=-2", "FREQ=HOURLY;INTERVAL=x"])
def test_d1_interval_below_one_is_refused_at_once(api: Api, expr: str) -> None:
    for headers in (None, agent("a1")):  # any token, an agent's included
        r = api.post("/tasks", body(schedule_kind="rrule", schedule_expr=expr), headers=headers)
        assert r.status_code == 400, r.text
        assert "schedule_expr" in r.json()["error"] and "INTERVAL" in r.json()["error"]
    _write_still_works(api)


def test_d1_update_with_interval_zero_is_refused(api: Api) -> None:
    task = create(api)
    r = api.put(f"/tasks/{task['id']}", {"schedule_kind": "rrule", "schedule_expr": "FREQ=MINUTELY;INTERVAL=0"})
    assert r.status_code == 400, r.text
    assert "INTERVAL" in r.json()["error"]
    assert api.get(f"/tasks/{task['id']}").json()["schedule_expr"] == "*/5 * * * *"  # nothing half-applied
    _write_still_works(api)


@pytest.mark.timeout(150)
def test_d2_sparse_rule_is_refused_without_holding_other_writes(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a never-matching rule is being validated, another write goes through.

    The validation is held open until the other write has answered, so the test does not
    depend on how fast this machine runs the rule: were validation done under the writer,
    the other write would wait out the hold (30 s) and the elapsed check fails."""
    entered, release = threading.Event(), threading.Event()
    real = sched_math.validate

    def observed(*args: Any, **kw: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(*args, **kw)

    monkeypatch.setattr(sched_math, "validate", observed)
    answer: dict[str, Any] = {}

    def bad() -> None:
        answer["r"] = api.post("/tasks", body(schedule_kind="rrule", schedule_expr="FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"))

    thread = threading.Thread(target=bad)
    thread.start()
    assert entered.wait(60)
    started = time.monotonic()
    _write_still_works(api)
    elapsed = time.monotonic() - started
    release.set()
    thread.join(60)
    r = answer["r"]
    assert r.status_code == 400, r.text
    assert "no occurrence within" in r.json()["error"]
    assert elapsed < 20, f"the other write waited {elapsed:.1f} s for the rule's validation"


@pytest.mark.parametrize("expr", ["DTSTART:20000101T000000Z\nRRULE:FREQ=SECONDLY",  # 800M candidates to now
                                  "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=YEARLY;BYYEARDAY=366;BYMONTH=2"])
def test_rules_without_occurrence_in_bounds_are_400(api: Api, expr: str) -> None:
    r = api.post("/tasks", body(schedule_kind="rrule", schedule_expr=expr))
    assert r.status_code == 400, r.text
    assert "no occurrence within" in r.json()["error"]


def test_cron_without_occurrence_in_ten_years_is_400(api: Api) -> None:
    r = api.post("/tasks", body(schedule_expr="0 0 30 2 *"))
    assert r.status_code == 400, r.text
    assert "no occurrence within" in r.json()["error"]


def test_d3_out_of_range_once_is_400_naming_the_field(api: Api) -> None:
    r = api.post("/tasks", body(schedule_kind="once", schedule_expr="9999-12-31T23:59:59", timezone="Pacific/Pago_Pago"))
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("schedule_expr")
    _write_still_works(api)


@pytest.mark.parametrize("fields, named", [
    ({"schedule_kind": "rrule", "schedule_expr": "DTSTART;TZID=Mars/Olympus:20300101T000000\nRRULE:FREQ=DAILY"},
     "timezone"),
    ({"timezone": "Not/AZone"}, "timezone"),
    ({"schedule_kind": "rrule", "schedule_expr": "FREQ=DAILY;BYHOUR=99"}, "schedule_expr"),
    ({"schedule_kind": "rrule", "schedule_expr": "DTSTART:99991231T235959\nRRULE:FREQ=SECONDLY"}, "schedule_expr"),
    ({"schedule_kind": "once", "schedule_expr": "0001-01-01T00:00:00", "timezone": "Asia/Tokyo"}, "schedule_expr"),
])
def test_every_parse_error_is_400_naming_the_field(api: Api, fields: dict[str, Any], named: str) -> None:
    r = api.post("/tasks", body(**fields))
    assert r.status_code == 400, r.text
    assert named in r.json()["error"]


def test_watchdog_names_a_stuck_write_and_readyz_turns_503(make_api: ApiFactory,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    api = make_api(write_timeout_seconds=0.2)
    assert api.client.get("/readyz").status_code == 200
    release = threading.Event()

    def stuck(tx: Any, ctx: Any) -> None:
        release.wait(20)

    portal = api.client.portal  # type: ignore[attr-defined]
    future = portal.start_task_soon(lambda: api.engine.write(SYSTEM, stuck, name="test.stuck_write"))
    try:
        deadline = time.monotonic() + 10
        while api.client.get("/readyz").status_code != 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        r = api.client.get("/readyz")
        assert r.status_code == 503, r.text
        assert "test.stuck_write" in r.json()["error"]
        with caplog.at_level(logging.ERROR, logger="taskloom.engine"):
            deadline = time.monotonic() + 5
            while "test.stuck_write" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
        assert "test.stuck_write" in caplog.text
    finally:
        release.set()
        future.result(10)
    assert api.client.get("/readyz").status_code == 200
