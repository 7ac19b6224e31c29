"""Retention with a manual clock: closed tasks older than TASKLOOM_RETENTION_DAYS go with
everything hanging off them; recent and open ones stay; a tree or DAG with an open member
is kept whole; 0 days keeps everything."""

from __future__ import annotations

from tests.acceptance.server import query
from tests.api.helpers import complete, create, must_claim
from tests.conftest import Api, ApiFactory

DAY = 86_400.0


def finish(api: Api, **fields: object) -> dict:
    task = create(api, **fields)
    c = must_claim(api)
    assert c["task"]["id"] == task["id"]
    assert complete(api, c["run"]["id"], claim_token=c["claim_token"]).status_code == 200
    return task


def ids(api: Api) -> set[str]:
    return {r[0] for r in query(api.settings.database_url, "SELECT id FROM tasks")}


def test_retention_deletes_old_closed_groups_only(make_api: ApiFactory) -> None:
    from taskloom.clock import ManualClock

    api = make_api(clock=ManualClock(), services=False, retention_days=30)
    old = finish(api, title="old")
    parent = finish(api, title="tree, all closed")
    child = create(api, title="child", parent_task_id=parent["id"], draft=True)
    api.post(f"/api/tasks/{child['id']}/cancel", {})
    open_parent = finish(api, title="tree with an open child")
    open_child = create(api, title="open child", parent_task_id=open_parent["id"], draft=True)
    blocker = create(api, title="open blocker", draft=True)
    dependent = create(api, title="closed dependent", dependencies=[blocker["id"]], draft=True)
    api.post(f"/api/tasks/{dependent['id']}/cancel", {})
    api.clock.advance(31 * DAY)  # type: ignore[attr-defined]
    recent = finish(api, title="recent")
    api.run_services_once()
    left = ids(api)
    assert old["id"] not in left and parent["id"] not in left and child["id"] not in left
    assert {recent["id"], open_parent["id"], open_child["id"], blocker["id"], dependent["id"]} <= left
    url = api.settings.database_url
    for table in ("runs", "events"):
        assert query(url, f"SELECT COUNT(*) FROM {table} WHERE task_id = ?", (old["id"],)) == [(0,)]
    assert api.get(f"/api/tasks/{old['id']}").status_code == 404
    assert api.get(f"/api/tasks/{recent['id']}").status_code == 200


def test_zero_days_keeps_everything(make_api: ApiFactory) -> None:
    from taskloom.clock import ManualClock

    api = make_api(clock=ManualClock(), services=False, retention_days=0)
    old = finish(api)
    api.clock.advance(3650 * DAY)  # type: ignore[attr-defined]
    api.run_services_once()
    assert old["id"] in ids(api)
