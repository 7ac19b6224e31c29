"""Per-agent backlogs API (seed 001): creating, ids, listing, summaries, delete — on both backends.

Status changes (PATCH, claims, reopen) are in test_backlogs_status.py.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskloom.domain.actors import SYSTEM
from taskloom.engine import backlogs as backlog_ops
from tests.conftest import ADMIN, MEMBER, Api, agent, auth

Json = dict[str, Any]


def add(api: Api, agent_id: str, title: str = "t", **fields: Any) -> Json:
    r = api.post(f"/api/backlogs/{agent_id}", {"title": title, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def engine_write(api: Api, fn: Callable[..., Any]) -> Any:
    return api.client.portal.call(api.engine.write, SYSTEM, fn)  # type: ignore[attr-defined]


def summary(api: Api, agent_id: str) -> Json:
    r = api.get(f"/api/backlogs/{agent_id}/summary")
    assert r.status_code == 200, r.text
    return r.json()


# -- POST ----------------------------------------------------------------------------------


def test_create_returns_the_seed_shape(api: Api) -> None:
    r = api.post("/api/backlogs/marketing-lead", {"title": "Audit competitor pricing pages",
                                                   "description": "Compare top 5 competitors...", "priority": 5})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["id"] == "MKT-001"
    assert task["title"] == "Audit competitor pricing pages"
    assert task["description"] == "Compare top 5 competitors..."
    assert task["priority"] == 5 and task["status"] == "queued"
    assert task["created"].endswith("Z") and len(task["created"]) == len("2026-03-28T11:00:00Z")
    assert task["started"] is None and task["completed"] is None and task["result"] is None


def test_default_priority_is_5_and_bounds_accepted(api: Api) -> None:
    assert add(api, "ops")["priority"] == 5
    assert add(api, "ops", priority=1)["priority"] == 1
    assert add(api, "ops", priority=10)["priority"] == 10
    assert add(api, "ops", description="")["description"] == ""


BAD_CREATES: list[tuple[Json, str]] = [
    ({"title": "x", "priority": 0}, "priority"),
    ({"title": "x", "priority": 11}, "priority"),
    ({"title": "x", "priority": -3}, "priority"),
    ({"title": "x", "priority": 2.5}, "priority"),
    ({"title": "x", "priority": "high"}, "priority"),
    ({"title": "x", "priority": True}, "priority"),
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"description": "no title"}, "title"),
    ({"title": None}, "title"),
    ({"title": "x", "colour": "red"}, "colour"),
]


def test_create_refuses_bad_input(api: Api) -> None:
    for body, word in BAD_CREATES:
        r = api.post("/api/backlogs/marketing-lead", body)
        assert r.status_code == 400, (body, r.text)
        assert word in r.json()["error"], body
    # Nothing was half-written: the agent still has no backlog.
    assert api.get("/api/backlogs/marketing-lead").status_code == 404


def test_create_refuses_bad_agent_id_and_bodies(api: Api) -> None:
    assert api.post("/api/backlogs/-bad", {"title": "x"}).status_code == 400
    assert api.post("/api/backlogs/" + "a" * 200, {"title": "x"}).status_code == 400
    json_headers = {**ADMIN, "content-type": "application/json"}
    r = api.client.post("/api/backlogs/ops", content=b"{not json", headers=json_headers)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert api.post("/api/backlogs/ops", None).status_code == 400
    assert api.client.post("/api/backlogs/ops", json={"title": "x"}).status_code == 401


def test_any_caller_may_add_and_the_task_is_owned_by_the_agent(api: Api) -> None:
    add(api, "support-bot", "from admin")
    assert api.post("/api/backlogs/support-bot", {"title": "from a person"}, headers=MEMBER).status_code == 201
    r = api.post("/api/backlogs/support-bot", {"title": "delegated"}, headers=agent("marketing-lead"))
    assert r.status_code == 201 and r.json()["id"] == "SUP-003"
    # The same row through the runtime API, owned by the agent.
    got = api.get("/api/tasks/SUP-003").json()["task"]["task"]
    assert got["owner"] == {"kind": "agent_session", "ref": "support-bot"}
    assert got["identifier"] == "SUP-003" and got["status"] == "ready"
    listed = api.get("/api/tasks", params={"owner_ref": "support-bot"}).json()["tasks"]
    assert len(listed) == 3


# -- ids -------------------------------------------------------------------------------------


def test_seed_prefixes_and_per_agent_numbers(api: Api) -> None:
    assert [add(api, "marketing-lead")["id"] for _ in range(3)] == ["MKT-001", "MKT-002", "MKT-003"]
    assert [add(api, "support-bot")["id"] for _ in range(2)] == ["SUP-001", "SUP-002"]
    assert add(api, "marketing-lead")["id"] == "MKT-004"


def test_two_agents_never_share_a_prefix(api: Api) -> None:
    assert add(api, "marketing-lead")["id"] == "MKT-001"
    assert add(api, "marketing-ops")["id"] == "MKT2-001"
    assert add(api, "marketing-team")["id"] == "MKT3-001"
    assert add(api, "marketing-ops")["id"] == "MKT2-002"


def test_numbers_keep_counting_past_999(api: Api) -> None:
    add(api, "marketing-lead")
    engine_write(api, lambda tx, ctx: tx._exec(
        "UPDATE counters SET value = 997 WHERE name = :n", {"n": backlog_ops.counter_name("marketing-lead")}))
    assert [add(api, "marketing-lead")["id"] for _ in range(3)] == ["MKT-998", "MKT-999", "MKT-1000"]
    assert api.get("/api/backlogs/marketing-lead/MKT-1000").json()["id"] == "MKT-1000"


def test_deleted_ids_are_never_reused(api: Api) -> None:
    ids = [add(api, "support-bot")["id"] for _ in range(3)]
    for task_id in reversed(ids):
        assert api.delete(f"/api/backlogs/support-bot/{task_id}").json() == {"deleted": task_id}
    assert add(api, "support-bot")["id"] == "SUP-004"
    assert summary(api, "support-bot")["total"] == 1


def test_prefix_can_be_set_explicitly(api: Api) -> None:
    r = api.put("/api/backlogs/growth-bot/prefix", {"prefix": "grw"})
    assert r.status_code == 200, r.text
    assert r.json() == {"agent_id": "growth-bot", "prefix": "GRW", "next_id": "GRW-001", "previous_prefixes": []}
    # Setting a prefix creates an (empty) backlog.
    assert api.get("/api/backlogs/growth-bot").json() == {"agent_id": "growth-bot", "tasks": [], "total": 0}
    assert add(api, "growth-bot")["id"] == "GRW-001"
    # Changing it later: old ids keep theirs, numbering continues, the old prefix stays reserved.
    assert api.put("/api/backlogs/growth-bot/prefix", {"prefix": "GROW"}).json()["next_id"] == "GROW-002"
    assert add(api, "growth-bot")["id"] == "GROW-002"
    assert api.get("/api/backlogs/growth-bot/GRW-001").status_code == 200
    info = api.get("/api/backlogs/growth-bot/prefix").json()
    assert info["prefix"] == "GROW" and info["previous_prefixes"] == ["GRW"]
    r = api.put("/api/backlogs/other-bot/prefix", {"prefix": "GRW"})
    assert r.status_code == 409 and "growth-bot" in r.json()["error"]
    # An agent may go back to a prefix of its own.
    assert api.put("/api/backlogs/growth-bot/prefix", {"prefix": "GRW"}).status_code == 200
    assert add(api, "growth-bot")["id"] == "GRW-003"


def test_explicit_prefix_is_respected_by_derivation(api: Api) -> None:
    api.put("/api/backlogs/social-bot/prefix", {"prefix": "MKT"})
    assert add(api, "marketing-lead")["id"] == "MKT2-001"


def test_prefix_errors(api: Api) -> None:
    for bad in ("M", "1AB", "MK-T", "ABCDEFGHIJK", "TL"):
        r = api.put("/api/backlogs/growth-bot/prefix", {"prefix": bad})
        assert r.status_code == 400 and "prefix" in r.json()["error"], bad
    assert api.put("/api/backlogs/growth-bot/prefix", {"prefix": "GRW"}, headers=MEMBER).status_code == 403
    assert api.put("/api/backlogs/growth-bot/prefix", {}).status_code == 400
    assert api.get("/api/backlogs/nobody/prefix").status_code == 404
    add(api, "marketing-lead")
    assert api.put("/api/backlogs/growth-bot/prefix", {"prefix": "MKT"}).status_code == 409


def test_concurrent_creates_never_duplicate_ids(api: Api) -> None:
    """Many requests at once, for one agent and for agents competing for one prefix."""
    agents = ["marketing-lead", "marketing-ops", "marketing-team", "support-bot"]
    jobs = [agents[i % len(agents)] for i in range(80)]

    def create(agent_id: str) -> tuple[str, str]:
        r = api.post(f"/api/backlogs/{agent_id}", {"title": "race"})
        assert r.status_code == 201, r.text
        return agent_id, r.json()["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(create, jobs))
    ids = [task_id for _, task_id in results]
    assert len(set(ids)) == len(ids) == 80
    prefixes: dict[str, set[str]] = {}
    for agent_id, task_id in results:
        prefixes.setdefault(agent_id, set()).add(task_id.rsplit("-", 1)[0])
    assert all(len(p) == 1 for p in prefixes.values())  # one prefix per agent
    assert len({next(iter(p)) for p in prefixes.values()}) == len(agents)  # never shared
    assert prefixes["support-bot"] == {"SUP"}
    for agent_id in agents:
        numbers = sorted(int(t.rsplit("-", 1)[1]) for a, t in results if a == agent_id)
        assert numbers == list(range(1, 21))  # no gaps, no repeats


def test_concurrent_creates_through_the_engine(api: Api) -> None:
    """The same, without HTTP in between: 60 operations issued at once on one event loop."""
    import asyncio

    async def burst() -> list[str]:
        ops = [api.engine.write(SYSTEM, lambda tx, ctx, i=i: backlog_ops.create(
            tx, ctx, f"agent-{i % 3}", title=f"t{i}", description="", priority=5)) for i in range(60)]
        return [t["identifier"] for t in await asyncio.gather(*ops)]

    ids = api.client.portal.call(burst)  # type: ignore[attr-defined]
    assert len(set(ids)) == 60
    assert sorted({i.split("-")[0] for i in ids}) == ["AGE", "AGE2", "AGE3"]


# -- GET one backlog ----------------------------------------------------------------------------


def test_backlog_is_ordered_by_priority_then_age(manual_api: Api) -> None:
    api = manual_api
    made = []
    for priority in (5, 1, 5, 10, 1):
        made.append(add(api, "marketing-lead", f"p{priority}", priority=priority)["id"])
        api.clock.advance(1)  # type: ignore[attr-defined]
    body = api.get("/api/backlogs/marketing-lead").json()
    assert body["agent_id"] == "marketing-lead" and body["total"] == 5
    assert [t["id"] for t in body["tasks"]] == [made[1], made[4], made[0], made[2], made[3]]
    assert set(body["tasks"][0]) >= {"id", "title", "description", "priority", "status", "created", "started",
                                     "completed", "result"}


def test_backlog_status_filter(api: Api) -> None:
    for _ in range(3):
        add(api, "support-bot")
    api.patch("/api/backlogs/support-bot/SUP-002", {"status": "in_progress"})
    api.patch("/api/backlogs/support-bot/SUP-003", {"status": "blocked", "blocker": "needs access"})

    def ids(status: str) -> list[str]:
        r = api.get("/api/backlogs/support-bot", params={"status": status})
        assert r.status_code == 200, r.text
        assert r.json()["total"] == len(r.json()["tasks"])
        return [t["id"] for t in r.json()["tasks"]]

    assert ids("queued") == ["SUP-001"]
    assert ids("in_progress") == ["SUP-002"]
    assert ids("blocked") == ["SUP-003"]
    assert ids("complete") == []
    r = api.get("/api/backlogs/support-bot", params={"status": "done"})
    assert r.status_code == 400 and "status" in r.json()["error"]


def test_unknown_agent_is_404(api: Api) -> None:
    for path in ("/api/backlogs/ghost", "/api/backlogs/ghost/summary", "/api/backlogs/ghost/GHO-001"):
        r = api.get(path)
        assert r.status_code == 404 and "ghost" in r.json()["error"], path
    assert api.patch("/api/backlogs/ghost/GHO-001", {"title": "x"}).status_code == 404
    assert api.delete("/api/backlogs/ghost/GHO-001").status_code == 404


def test_tasks_owned_through_other_apis_are_in_the_backlog(api: Api) -> None:
    r = api.post("/api/tasks", {"title": "runtime task", "owner": {"kind": "agent_session", "ref": "helper"},
                                "priority": "urgent"})
    task = r.json()["task"]
    body = api.get("/api/backlogs/helper").json()
    assert body["total"] == 1 and body["tasks"][0]["id"] == task["identifier"]
    assert body["tasks"][0]["priority"] == 2 and body["tasks"][0]["status"] == "queued"
    assert api.get(f"/api/backlogs/helper/{task['identifier']}").status_code == 200
    assert api.get(f"/api/backlogs/helper/{task['id']}").status_code == 200
    assert add(api, "helper")["id"] == "HEL-001"


# -- GET /api/backlogs (cross-agent) ---------------------------------------------------------------


def seed_three_agents(api: Api) -> None:
    add(api, "marketing-lead", "Write LinkedIn posts", priority=3)
    add(api, "support-bot", "Triage inbox", priority=2)
    add(api, "support-bot", "Draft FAQ responses", priority=2)
    add(api, "support-bot", "Refund policy", priority=7)
    add(api, "research-bot", "Market sizing", priority=3)
    api.patch("/api/backlogs/marketing-lead/MKT-001", {"status": "complete", "result": "3 posts"})


def test_cross_agent_view(api: Api) -> None:
    seed_three_agents(api)
    body = api.get("/api/backlogs").json()
    assert set(body) == {"tasks", "total"} and body["total"] == 5
    first = body["tasks"][0]
    assert first["agent_id"] == "support-bot" and first["id"] == "SUP-001" and first["priority"] == 2
    assert {t["agent_id"] for t in body["tasks"]} == {"marketing-lead", "support-bot", "research-bot"}
    assert [t["priority"] for t in body["tasks"]] == [2, 2, 3, 3, 7]


CROSS_AGENT_FILTERS: list[tuple[Json, list[str]]] = [
    ({"status": "complete"}, ["MKT-001"]),
    ({"status": "queued"}, ["SUP-001", "SUP-002", "RES-001", "SUP-003"]),
    ({"status": "in_progress"}, []),
    ({"priority": 3}, ["MKT-001", "RES-001"]),
    ({"priority": 9}, []),
    ({"agent_id": "support-bot"}, ["SUP-001", "SUP-002", "SUP-003"]),
    ({"agent_id": "support-bot", "priority": 2}, ["SUP-001", "SUP-002"]),
    ({"status": "queued", "priority": 3}, ["RES-001"]),
    ({"status": "queued", "priority": 3, "agent_id": "research-bot"}, ["RES-001"]),
    ({"status": "complete", "agent_id": "support-bot"}, []),
    ({"agent_id": "nobody"}, []),
]


def test_cross_agent_filters(api: Api) -> None:
    seed_three_agents(api)
    for params, expected in CROSS_AGENT_FILTERS:
        body = api.get("/api/backlogs", params=params).json()
        assert [t["id"] for t in body["tasks"]] == expected, params
        assert body["total"] == len(expected), params


def test_cross_agent_pagination(api: Api) -> None:
    seed_three_agents(api)
    page = api.get("/api/backlogs", params={"limit": 2, "offset": 1}).json()
    assert [t["id"] for t in page["tasks"]] == ["SUP-002", "MKT-001"] and page["total"] == 5
    assert api.get("/api/backlogs", params={"offset": 10}).json() == {"tasks": [], "total": 5}
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"priority": 0}, {"priority": "x"},
                {"status": "done"}, {"agent_id": "a b"}):
        r = api.get("/api/backlogs", params=bad)
        assert r.status_code == 400 and r.json()["error"], bad


# -- summary ----------------------------------------------------------------------------------------


def test_summary_shape(api: Api) -> None:
    for _ in range(2):
        add(api, "support-bot")
    s = summary(api, "support-bot")
    assert s == {"queued": 2, "in_progress": 0, "complete": 0, "blocked": 0, "failed": 0, "canceled": 0,
                 "total": 2}


# -- DELETE -----------------------------------------------------------------------------------------


def test_delete(api: Api) -> None:
    add(api, "support-bot")
    add(api, "marketing-lead")
    r = api.delete("/api/backlogs/support-bot/SUP-001")
    assert r.status_code == 200 and r.json() == {"deleted": "SUP-001"}
    assert api.get("/api/tasks/SUP-001").status_code == 404
    assert api.delete("/api/backlogs/support-bot/SUP-001").status_code == 404
    assert api.delete("/api/backlogs/support-bot/SUP-999").status_code == 404
    # A task of another agent is not in this backlog.
    r = api.delete("/api/backlogs/support-bot/MKT-001")
    assert r.status_code == 404 and "support-bot" in r.json()["error"]
    assert api.delete("/api/backlogs/marketing-lead/MKT-001", headers=MEMBER).status_code == 403
    assert api.delete("/api/backlogs/marketing-lead/MKT-001", headers=agent("marketing-lead")).status_code == 403
    assert summary(api, "marketing-lead")["total"] == 1


def test_delete_in_progress_is_refused(api: Api) -> None:
    add(api, "support-bot")
    api.patch("/api/backlogs/support-bot/SUP-001", {"status": "in_progress"})
    r = api.delete("/api/backlogs/support-bot/SUP-001")
    assert r.status_code == 409 and "in progress" in r.json()["error"]
    api.patch("/api/backlogs/support-bot/SUP-001", {"status": "complete"})
    assert api.delete("/api/backlogs/support-bot/SUP-001").status_code == 200


def test_task_ids_are_case_insensitive_in_paths(api: Api) -> None:
    add(api, "support-bot")
    assert api.get("/api/backlogs/support-bot/sup-001").json()["id"] == "SUP-001"


def test_workspace_scoped_callers_see_only_their_workspaces(api: Api) -> None:
    add(api, "helper", "global task")
    for workspace in ("w1", "w2"):
        r = api.post("/api/tasks", {"title": f"in {workspace}", "workspace_id": workspace,
                                    "owner": {"kind": "agent_session", "ref": "helper"}})
        assert r.status_code == 201, r.text
    w1_task = api.get("/api/backlogs", params={"agent_id": "helper"}).json()["tasks"]
    assert len(w1_task) == 3
    scoped = auth("bob", workspaces=["w1"])
    titles = sorted(t["title"] for t in api.get("/api/backlogs/helper", headers=scoped).json()["tasks"])
    assert titles == ["global task", "in w1"]
    assert api.get("/api/backlogs", headers=scoped).json()["total"] == 2
    assert api.get("/api/backlogs/helper/summary", headers=scoped).json()["total"] == 2
    hidden = next(t["id"] for t in w1_task if t["title"] == "in w2")
    assert api.get(f"/api/backlogs/helper/{hidden}", headers=scoped).status_code == 404
    assert api.patch(f"/api/backlogs/helper/{hidden}", {"title": "x"}, headers=scoped).status_code == 404


def test_registered_agent_has_an_empty_backlog(api: Api) -> None:
    assert api.get("/api/backlogs/fresh-agent").status_code == 404
    assert api.post("/api/agents", {"id": "fresh-agent", "name": "Fresh"}).status_code == 201
    r = api.get("/api/backlogs/fresh-agent")
    assert r.status_code == 200 and r.json() == {"agent_id": "fresh-agent", "tasks": [], "total": 0}
