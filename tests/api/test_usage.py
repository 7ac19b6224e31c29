"""GET /api/observe/usage: sums by agent, model, channel, workspace and day (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskloom.clock import ManualClock
from tests.api.helpers import create, must_claim
from tests.conftest import Api, ApiFactory, agent, auth

DAY1 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()


def _usage(api: Api, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    r = api.get("/api/observe/usage", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _work(api: Api, who: str, *, model: str | None, tokens: tuple[int, int], cost: float, tools: int = 0,
          **task: Any) -> str:
    create(api, **task)
    c = must_claim(api, who, network_channel=task.get("network_channel"))
    run_id = c["run"]["id"]
    # Running totals: a heartbeat's figures are replaced, not added, by the final report.
    hb = api.post(f"/api/agent/tasks/{run_id}/heartbeat", {"input_tokens": 1, "model": model, "provider": "acme"},
                  headers=agent(who))
    assert hb.status_code == 200, hb.text
    done = api.post(f"/api/agent/tasks/{run_id}/complete",
                    {"usage": {"input_tokens": tokens[0], "output_tokens": tokens[1], "total_cost": cost,
                               "tool_call_count": tools, "model": model}}, headers=agent(who))
    assert done.status_code == 200, done.text
    return run_id


def test_usage_groups_by_agent_model_channel_and_day(make_api: ApiFactory) -> None:
    clock = ManualClock(DAY1)
    api = make_api(clock=clock, services=False)
    _work(api, "a1", model="m1", tokens=(100, 10), cost=0.5, tools=2, network_channel="alpha")
    _work(api, "a1", model="m2", tokens=(50, 5), cost=0.25, network_channel="alpha")
    clock.advance(86_400)
    _work(api, "a2", model="m1", tokens=(7, 3), cost=1.0, tools=1, network_channel="beta")

    total = _usage(api)
    assert total["group_by"] == [] and total["since"] is None and total["until"] is None
    assert total["groups"] == [{"input_tokens": 157, "output_tokens": 18, "cost": 1.75, "tool_calls": 3, "runs": 3}]

    by = _usage(api, group_by="agent,day")
    assert by["group_by"] == ["agent", "day"]
    assert by["groups"] == [
        {"agent": "a1", "day": "2026-12-01", "input_tokens": 150, "output_tokens": 15, "cost": 0.75,
         "tool_calls": 2, "runs": 2},
        {"agent": "a2", "day": "2026-12-02", "input_tokens": 7, "output_tokens": 3, "cost": 1.0,
         "tool_calls": 1, "runs": 1},
    ]
    models = {g["model"]: g for g in _usage(api, group_by="model")["groups"]}
    assert models["m1"]["runs"] == 2 and models["m1"]["input_tokens"] == 107 and models["m2"]["runs"] == 1
    channels = {g["channel"]: g["runs"] for g in _usage(api, group_by="channel")["groups"]}
    assert channels == {"alpha": 2, "beta": 1}
    assert _usage(api, group_by="workspace")["groups"][0]["workspace"] is None
    only = _usage(api, group_by="agent", model="m1")["groups"]
    assert [(g["agent"], g["input_tokens"]) for g in only] == [("a1", 100), ("a2", 7)]

    # The run's model and provider show on the run.
    run = api.get(f"/api/task-runs/{_work(api, 'a3', model='m9', tokens=(1, 1), cost=0)}").json()["run"]
    assert run["summary"]["model"] == "m9" and run["summary"]["provider"] == "acme"


def test_since_and_until_cut_inside_a_day(make_api: ApiFactory) -> None:
    clock = ManualClock(DAY1)
    api = make_api(clock=clock, services=False)
    _work(api, "a1", model="m1", tokens=(1, 0), cost=0)      # 2026-12-01 10:00
    clock.advance(3 * 3600)
    _work(api, "a1", model="m1", tokens=(10, 0), cost=0)     # 2026-12-01 13:00
    clock.advance(86_400)
    _work(api, "a1", model="m1", tokens=(100, 0), cost=0)    # 2026-12-02 13:00
    clock.advance(86_400)
    _work(api, "a1", model="m1", tokens=(1000, 0), cost=0)   # 2026-12-03 13:00

    def tokens(**params: Any) -> int:
        return sum(g["input_tokens"] for g in _usage(api, **params)["groups"])

    assert tokens() == 1111
    assert tokens(since="2026-12-01T12:00:00Z") == 1110
    assert tokens(since="2026-12-01T12:00:00Z", until="2026-12-03T00:00:00Z") == 110
    assert tokens(since="2026-12-01", until="2026-12-02") == 11
    assert tokens(since=str(DAY1 + 1), until=str(DAY1 + 3 * 3600 + 1)) == 10
    assert tokens(until="2026-12-03T13:00:00Z") == 111
    answer = _usage(api, since="2026-12-02T00:00:00+00:00")
    assert answer["since"] == "2026-12-02T00:00:00Z" and answer["until"] is None


def test_a_changed_model_moves_the_run_between_groups(manual_api: Api) -> None:
    api = manual_api
    create(api)
    run_id = must_claim(api)["run"]["id"]
    api.post(f"/api/agent/tasks/{run_id}/heartbeat", {"input_tokens": 5, "model": "small"}, headers=agent("a1"))
    api.post(f"/api/agent/tasks/{run_id}/heartbeat", {"input_tokens": 8, "model": "big"}, headers=agent("a1"))
    api.post(f"/api/agent/tasks/{run_id}/heartbeat", {"input_tokens": 8, "model": "big"}, headers=agent("a1"))
    assert _usage(api, group_by="model")["groups"] == [
        {"model": "big", "input_tokens": 8, "output_tokens": 0, "cost": 0.0, "tool_calls": 0, "runs": 1}]


def test_workspace_callers_see_their_workspaces_only(manual_api: Api) -> None:
    api = manual_api
    for ws in ("w1", "w2"):
        create(api, scope="workspace", workspace_id=ws)
        run_id = must_claim(api, "a1", workspace=ws)["run"]["id"]
        api.post(f"/api/agent/tasks/{run_id}/complete", {"input_tokens": 3}, headers=agent("a1"))
    mine = _usage(api, auth("bob", workspaces=["w1"]), group_by="workspace")["groups"]
    assert [g["workspace"] for g in mine] == ["w1"]
    assert len(_usage(api, group_by="workspace")["groups"]) == 2


def test_bad_usage_queries_are_400(manual_api: Api) -> None:
    api = manual_api
    for params, words in [({"group_by": "agent,colour"}, "colour"), ({"group_by": "day,day"}, "twice"),
                          ({"since": "yesterday"}, "since"), ({"until": "nan"}, "until"),
                          ({"since": "2026-12-02", "until": "2026-12-01"}, "later")]:
        r = api.get("/api/observe/usage", params=params)
        assert r.status_code == 400 and words in r.json()["error"], (params, r.text)
    r = api.post("/api/agent/tasks/x/heartbeat", {"model": ""}, headers=agent("a1"))
    assert r.status_code == 400 and "model" in r.json()["error"]


def test_the_agent_day_roll_up_agrees_with_the_full_one(make_api: ApiFactory) -> None:
    """group_by agent/day without other filters reads usage_rollup_agent_day; a channel filter
    reads the full roll-up: over the same runs (all on one channel) both say the same, also after
    a run changed model mid-way."""
    clock = ManualClock(DAY1)
    api = make_api(clock=clock, services=False)
    for who, model, tokens in (("a1", "m1", (100, 10)), ("a2", "m2", (50, 5)), ("a1", "m2", (7, 1))):
        _work(api, who, model=model, tokens=tokens, cost=0.25, tools=1, network_channel="one")
        clock.advance(86_400 * 0.6)
    switched = _work(api, "a2", model="m1", tokens=(9, 9), cost=0.1, network_channel="one")
    api.post(f"/api/agent/tasks/{switched}/heartbeat", {"model": "m3"}, headers=agent("a2"))  # finished: refused
    for group_by in ("agent,day", "day,agent", "agent", "day"):
        fast = _usage(api, group_by=group_by)["groups"]
        full = _usage(api, group_by=group_by, channel="one")["groups"]
        assert fast == full and fast, group_by
    by_agent = {g["agent"]: g for g in _usage(api, group_by="agent")["groups"]}
    assert (by_agent["a1"]["input_tokens"], by_agent["a1"]["runs"]) == (107, 2)
    assert _usage(api, group_by="day", agent="a2")["groups"] == _usage(api, group_by="day", agent="a2",
                                                                        channel="one")["groups"]
