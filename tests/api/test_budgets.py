"""Budgets (issue 16): CRUD for admins, spent totals kept by usage reports, spent budgets stop
the claims they cover (claim-next, claim-batch, a named claim, dequeue, steal: 204 with
X-Taskloom-Budget-Exhausted), the inbox's budgets lane, the dashboard."""

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


HEADER = "X-Taskloom-Budget-Exhausted"


def _spend(api: Api, **budget: Any) -> dict[str, Any]:
    """A budget, then a run it covers whose usage spends it (the run stays held)."""
    b = _budget(api, max_tokens=100, **budget)
    create(api, title="spender", network_channel=budget["ref"] if budget["scope"] == "channel" else "spend",
           **({"scope": "workspace", "workspace_id": budget["ref"]} if budget["scope"] == "workspace" else {}))
    c = must_claim(api, "a1", network_channel=budget["ref"] if budget["scope"] == "channel" else "spend")
    _report(api, c["run"]["id"], input_tokens=150)
    assert api.get(f"/api/budgets/{b['id']}").json()["budget"]["exhausted"] is True
    return {**b, "held": c}


def test_a_spent_agent_budget_stops_every_claim_path_and_held_runs_finish(api: Api) -> None:
    b = _spend(api, scope="agent", ref="a1")
    waiting = create(api, title="waiting", network_channel="spend")
    for path, body in (("/api/agent/tasks/claim-next", {}), ("/api/agent/tasks/claim-next", {"wait_seconds": 1}),
                       ("/api/agent/tasks/claim-batch", {"max_runs": 5})):
        r = api.post(path, body, headers=agent("a1"))
        assert r.status_code == 204 and r.headers[HEADER] == b["id"] and r.content == b"", (path, r.text)
    run_id = api.get(f"/api/tasks/{waiting['id']}/runs").json()["runs"][0]["id"]
    r = api.post(f"/api/task-runs/{run_id}/claim", {}, headers=agent("a1"))
    assert r.status_code == 409 and r.headers[HEADER] == b["id"] and b["id"] in r.json()["error"]
    # The run already held may finish; other agents still get work.
    held = b["held"]
    r = api.post(f"/api/agent/tasks/{held['run']['id']}/complete",
                 {"claim_token": held["claim_token"], "input_tokens": 200}, headers=agent("a1"))
    assert r.status_code == 200, r.text
    assert api.get(f"/api/budgets/{b['id']}").json()["budget"]["spent_tokens"] == 200  # complete's usage counts
    other = api.post("/api/agent/tasks/claim-next", {}, headers=agent("a2"))
    assert other.status_code == 200 and HEADER not in other.headers
    # Nothing claimable for an agent no budget covers: plain 204.
    none = api.post("/api/agent/tasks/claim-next", {}, headers=agent("a2"))
    assert none.status_code == 204 and HEADER not in none.headers
    # Raising the cap lets the agent claim again.
    create(api, title="after", network_channel="spend")
    api.patch(f"/api/budgets/{b['id']}", {"max_tokens": 10_000})
    assert api.post("/api/agent/tasks/claim-next", {}, headers=agent("a1")).status_code == 200


def test_a_spent_channel_budget_stops_claims_on_it_and_wide_claims_skip_it(api: Api) -> None:
    b = _spend(api, scope="channel", ref="pricey")
    create(api, title="pricey work", network_channel="pricey", priority="urgent")
    create(api, title="cheap work", network_channel="cheap")
    r = api.post("/api/agent/tasks/claim-next", {"network_channel": "pricey"}, headers=agent("a2"))
    assert r.status_code == 204 and r.headers[HEADER] == b["id"]
    wide = api.post("/api/agent/tasks/claim-batch", {"max_runs": 10}, headers=agent("a2"))
    assert wide.status_code == 200
    assert [c["task"]["title"] for c in wide.json()["claims"]] == ["cheap work"]  # the urgent pricey run is left out
    api.delete(f"/api/budgets/{b['id']}")  # deleting it lets the channel's claims go on at once
    assert must_claim(api, "a2", network_channel="pricey")["task"]["title"] == "pricey work"


def test_a_spent_workspace_budget_stops_claims_in_it(api: Api) -> None:
    b = _spend(api, scope="workspace", ref="w1")
    create(api, title="in w1", scope="workspace", workspace_id="w1", network_channel="spend")
    create(api, title="global", network_channel="spend")
    r = api.post("/api/agent/tasks/claim-next", {"workspace": "w1"}, headers=agent("a2"))
    assert r.status_code == 204 and r.headers[HEADER] == b["id"]
    got = api.post("/api/agent/tasks/claim-batch", {"max_runs": 10}, headers=agent("a2")).json()["claims"]
    assert [c["task"]["title"] for c in got] == ["global"]


def test_a_new_budget_gates_the_next_claim_at_once(api: Api) -> None:
    """The per-process "no budget exists" answer is dropped when a budget is created."""
    create(api, title="first", network_channel="fresh")
    create(api, title="second", network_channel="fresh")
    c = must_claim(api, "a1", network_channel="fresh")  # no budget yet: remembered as none
    _report(api, c["run"]["id"], input_tokens=50)
    b = _budget(api, scope="agent", ref="a1", max_tokens=10)  # already spent by what a1 reported today
    r = api.post("/api/agent/tasks/claim-next", {"network_channel": "fresh"}, headers=agent("a1"))
    assert r.status_code == 204 and r.headers[HEADER] == b["id"]


def test_dequeue_and_steal_answer_204_with_the_header(api: Api) -> None:
    b = _budget(api, scope="agent", ref="wq-agent", max_tokens=10)
    home = api.post("/work-queues", {"name": "home", "teamId": "t"}).json()
    other = api.post("/work-queues", {"name": "other", "teamId": "t"}).json()
    api.post(f"/work-queues/{home['id']}/tasks", {"name": "one"})
    api.post(f"/work-queues/{other['id']}/tasks", {"name": "two"})
    api.post(f"/work-queues/{other['id']}/tasks", {"name": "three"})
    me = agent("wq-agent")
    first = api.post(f"/work-queues/{home['id']}/dequeue", {"agentId": "wq-agent"}, headers=me)
    assert first.status_code == 200, first.text
    _report(api, first.json()["runId"], "wq-agent", input_tokens=20)
    assert api.get(f"/api/budgets/{b['id']}").json()["budget"]["exhausted"] is True
    api.post(f"/work-queues/{home['id']}/tasks", {"name": "four"})
    for path in (f"/work-queues/{home['id']}/dequeue", f"/work-queues/{home['id']}/steal"):
        r = api.post(path, {"agentId": "wq-agent"}, headers=me)
        assert r.status_code == 204 and r.headers[HEADER] == b["id"], (path, r.text)
    assert api.post(f"/work-queues/{home['id']}/dequeue", {"agentId": "wq-b"}, headers=agent("wq-b")).status_code == 200
