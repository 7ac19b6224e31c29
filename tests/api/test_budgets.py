"""Budgets (issue 16): CRUD for admins, spent totals kept by usage reports, spent budgets stop
the claims they cover (claim-next, claim-batch, dequeue), the inbox's budgets lane, the dashboard."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import create, must_claim
from tests.conftest import MEMBER, Api, agent, auth


def _budget(api: Api, **fields: Any) -> dict[str, Any]:
    r = api.post("/api/budgets", {"period": "day", **fields})
    assert r.status_code == 201, r.text
    return r.json()["budget"]


def _report(api: Api, run_id: str, who: str = "a1", **usage: Any) -> None:
    r = api.post(f"/api/agent/tasks/{run_id}/heartbeat", usage, headers=agent(who))
    assert r.status_code == 200, r.text


def test_crud_is_for_admins(api: Api) -> None:
    b = _budget(api, scope="agent", ref="a1", max_tokens=1000, currency="USD")
    assert b["spent_tokens"] == 0 and b["exhausted"] is False and b["period_start"].endswith("T00:00:00Z")
    assert api.get(f"/api/budgets/{b['id']}").json()["budget"]["max_tokens"] == 1000
    assert [x["id"] for x in api.get("/api/budgets").json()["budgets"]] == [b["id"]]
    r = api.patch(f"/api/budgets/{b['id']}", {"max_cost": 2.5, "period": "month"})
    assert r.status_code == 200 and r.json()["budget"]["max_cost"] == 2.5 and r.json()["budget"]["period"] == "month"
    for headers in (MEMBER, agent("a1")):
        assert api.get("/api/budgets", headers=headers).status_code == 403
        assert api.post("/api/budgets", {"scope": "agent", "ref": "x", "period": "day", "max_tokens": 1},
                        headers=headers).status_code == 403
    bad = api.post("/api/budgets", {"scope": "agent", "ref": "x", "period": "day"})
    assert bad.status_code == 400 and "max_tokens" in bad.json()["error"]
    assert api.post("/api/budgets", {"scope": "team", "ref": "x", "period": "day", "max_tokens": 1}).status_code == 400
    assert api.post("/api/budgets", {"scope": "agent", "ref": "x", "period": "week",
                                     "max_tokens": 1}).status_code == 400
    assert api.delete(f"/api/budgets/{b['id']}").status_code == 204
    assert api.get(f"/api/budgets/{b['id']}").status_code == 404
    assert api.delete(f"/api/budgets/{b['id']}").status_code == 404


def test_reports_move_spent_totals_and_mark_a_budget_spent(api: Api) -> None:
    create(api, network_channel="alpha")
    run_id = must_claim(api, network_channel="alpha")["run"]["id"]
    _report(api, run_id, input_tokens=300, output_tokens=100, total_cost=0.2)
    # Created after usage was reported: it starts from what this period already spent.
    by_agent = _budget(api, scope="agent", ref="a1", max_tokens=1000)
    by_channel = _budget(api, scope="channel", ref="alpha", period="total", max_cost=0.5)
    other = _budget(api, scope="workspace", ref="w9", max_tokens=1)
    assert by_agent["spent_tokens"] == 400 and by_channel["spent_cost"] == 0.2
    _report(api, run_id, input_tokens=800, output_tokens=100, total_cost=0.4)  # running totals: +500 tokens
    got = {b["id"]: b for b in api.get("/api/budgets").json()["budgets"]}
    assert got[by_agent["id"]]["spent_tokens"] == 900 and got[by_agent["id"]]["exhausted"] is False
    assert got[by_channel["id"]]["spent_cost"] == 0.4 and got[other["id"]]["spent_tokens"] == 0
    _report(api, run_id, input_tokens=900, output_tokens=150, total_cost=0.6)
    got = {b["id"]: b for b in api.get("/api/budgets", params={"exhausted": True}).json()["budgets"]}
    assert set(got) == {by_agent["id"], by_channel["id"]} and got[by_agent["id"]]["exhausted_at"] is not None
    # Raising the cap makes it available again.
    r = api.patch(f"/api/budgets/{by_agent['id']}", {"max_tokens": 5000})
    assert r.json()["budget"]["exhausted"] is False and r.json()["budget"]["exhausted_at"] is None


def test_spent_budgets_show_in_the_inbox_and_the_dashboard(api: Api) -> None:
    create(api, scope="workspace", workspace_id="w1")
    run_id = must_claim(api, workspace="w1")["run"]["id"]
    ws = _budget(api, scope="workspace", ref="w1", max_tokens=10)
    _report(api, run_id, input_tokens=11)
    inbox = api.get("/api/observe/tasks/inbox", params={"lane": "budgets"}, headers=MEMBER).json()["inbox"]
    group = inbox["groups"][0]
    assert group["lane"] == "budgets" and group["count"] == 1
    item = group["items"][0]
    assert item["budget"]["id"] == ws["id"] and "11 of 10 tokens today" in item["blocking_reason"]
    assert api.get("/api/observe/tasks/inbox", params={"lane": "budgets"}, headers=auth(
        "bob", workspaces=["w2"])).json()["inbox"]["groups"][0]["count"] == 0
    dash = api.get("/api/observe/tasks/dashboard").json()["dashboard"]
    assert dash["budgets"]["exhausted_total"] == 1 and dash["budgets"]["exhausted"][0]["id"] == ws["id"]
