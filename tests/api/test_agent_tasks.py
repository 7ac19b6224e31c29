"""Submitting tasks to agents (seed 002): submit, status, awaiting input, messages, cancel, timeout."""

from __future__ import annotations

from typing import Any

from tests.api.test_agents import claim, register, status, submit
from tests.conftest import ADMIN, MEMBER, Api, agent


def must_claim(api: Api, who: str = "bot") -> dict[str, Any]:
    c = claim(api, who)
    assert c is not None, "expected work for " + who
    return c


def ask(api: Api, run_id: str, question: str = "Which region?", who: str = "bot") -> Any:
    return api.post(f"/api/agent/tasks/{run_id}/awaiting-input", {"question": question}, headers=agent(who))


def send(api: Api, task_id: str, message: str, agent_id: str = "bot") -> Any:
    return api.post(f"/api/agents/{agent_id}/tasks/{task_id}/messages", {"message": message}, headers=MEMBER)


def core(api: Api, task_id: str) -> dict[str, Any]:
    return api.get(f"/api/tasks/{task_id}").json()["task"]["task"]


def test_submit_is_202_queued_and_a_core_task(api: Api) -> None:
    register(api, "bot")
    t = submit(api, message="Summarise the report\nin three bullets", metadata={"ticket": 7}, timeout_override=90)
    assert t["status"] == "queued" and t["task_id"] and t["agent_id"] == "bot"
    assert t["priority"] == 5 and t["callback_mode"] == "poll" and t["timeout_seconds"] == 90
    assert t["metadata"] == {"ticket": 7} and t["message"] == "Summarise the report\nin three bullets"
    assert "webhook_secret" not in t
    c = core(api, t["task_id"])
    assert c["owner"] == {"kind": "agent_session", "ref": "bot"} and c["status"] == "ready"
    assert c["title"] == "Summarise the report" and c["max_attempts"] == 1
    assert status(api, t["task_id"]) == {**t, "updated_at": status(api, t["task_id"])["updated_at"]}


def test_submit_bad_input(api: Api) -> None:
    register(api, "bot")
    cases = [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x", "priority": 0}, "priority"),
        ({"message": "x", "priority": 11}, "priority"),
        ({"message": "x", "priority": "high"}, "priority"),
        ({"message": "x", "timeout_override": -1}, "timeout_override"),
        ({"message": "x", "metadata": [1]}, "metadata"),
        ({"message": "x", "callback_mode": "email"}, "callback_mode"),
        ({"message": "x", "callback_mode": "webhook"}, "webhook_url is required"),
        ({"message": "x", "webhook_url": "https://93.184.216.34/h"}, "callback_mode"),
        ({"message": "x", "surprise": True}, "surprise"),
    ]
    for body, word in cases:
        r = api.post("/api/agents/bot/tasks", body, headers=MEMBER)
        assert r.status_code == 400, (body, r.text)
        assert word in r.json()["error"], (body, r.json())
    json_headers = {**MEMBER, "content-type": "application/json"}
    r = api.client.post("/api/agents/bot/tasks", content=b"{nope", headers=json_headers)
    assert r.status_code == 400
    assert api.get("/api/agents/bot/tasks").json()["tasks"] == []


def test_priority_scale_orders_claims_and_reads_back(api: Api) -> None:
    register(api, "bot")
    ids = {p: submit(api, priority=p)["task_id"] for p in (10, 5, 1, 7)}
    for p, task_id in ids.items():
        assert status(api, task_id)["priority"] == p
    order = [must_claim(api)["task"]["id"] for _ in range(4)]
    assert order == [ids[1], ids[5], ids[7], ids[10]]


def test_only_the_named_agent_gets_the_work_then_completes(api: Api) -> None:
    register(api, "bot")
    register(api, "other")
    t = submit(api, message="find x", metadata={"k": "v"})
    assert claim(api, "other") is None
    c = must_claim(api)
    assert c["task"]["id"] == t["task_id"] and c["task"]["description"] == "find x"
    assert c["task"]["metadata"] == {"k": "v"}
    s = status(api, t["task_id"])
    assert s["status"] == "running" and s["run_id"] == c["run"]["id"] and s["started_at"]
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": {"answer": 42}}, headers=agent("bot"))
    assert r.status_code == 200
    s = status(api, t["task_id"])
    assert s["status"] == "completed" and s["result"] == {"answer": 42} and s["completed_at"] and s["error"] is None


def test_agent_failure_is_failed_with_error(api: Api) -> None:
    register(api, "bot")
    t = submit(api)
    c = must_claim(api)
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": "tool crashed"}, headers=agent("bot"))
    assert r.status_code == 200
    s = status(api, t["task_id"])
    assert s["status"] == "failed" and s["error"] == "tool crashed" and s["result"] is None


def test_awaiting_input_round_trip(api: Api) -> None:
    register(api, "bot")
    t = submit(api, message="book a flight")
    task_id = t["task_id"]
    assert send(api, task_id, "too early").status_code == 409  # queued: nothing is listening yet
    c = must_claim(api)
    run_id = c["run"]["id"]
    r = ask(api, run_id, "Aisle or window?")
    assert r.status_code == 200, r.text
    assert r.json()["task"]["status"] == "awaiting_input" and r.json()["message"]["role"] == "agent"
    s = status(api, task_id)
    assert s["status"] == "awaiting_input" and s["question"] == "Aisle or window?"
    # The core sees a task blocked on a human: the dashboard and the inbox's questions lane say so.
    assert core(api, task_id)["status"] == "blocked" and core(api, task_id)["blocked_reason"] == "awaiting_input"
    dash = api.get("/api/observe/tasks/dashboard").json()["dashboard"]
    assert dash["cards"]["blocked"]["awaiting_input"] == 1
    inbox = api.get("/api/observe/tasks/inbox", headers=MEMBER).json()["inbox"]
    lanes = {g["lane"]: g["items"] for g in inbox["groups"]}
    items = lanes["questions"]
    assert [i["task"]["id"] for i in items] == [task_id] and lanes["blocked"] == []
    assert items[0]["blocking_reason"] == "awaiting input from a person"
    assert items[0]["question"] == "Aisle or window?"
    assert [x["status"] for x in api.get("/api/agents/bot/tasks?status=awaiting_input").json()["tasks"]] == [
        "awaiting_input"]
    # A second question while waiting is refused.
    assert ask(api, run_id, "Again?").status_code == 409
    # The answer: the task returns to running and the agent reads it.
    r = send(api, task_id, "window, please")
    assert r.status_code == 200, r.text
    assert r.json()["task"]["status"] == "running" and r.json()["message"]["sequence"] == 2
    assert status(api, task_id)["question"] is None
    assert core(api, task_id)["status"] == "in_progress"
    read = api.get(f"/api/agent/tasks/{run_id}/messages?role=user", headers=agent("bot"))
    assert read.status_code == 200
    assert [m["message"] for m in read.json()["messages"]] == ["window, please"]
    assert read.json()["status"] == "running" and read.json()["awaiting_input"] is False
    # More messages while running are kept in order, in the conversation and in the timeline.
    assert send(api, task_id, "and a vegetarian meal").status_code == 200
    convo = api.get(f"/api/agents/bot/tasks/{task_id}/messages", headers=MEMBER).json()["messages"]
    assert [(m["sequence"], m["role"], m["message"]) for m in convo] == [
        (1, "agent", "Aisle or window?"), (2, "user", "window, please"), (3, "user", "and a vegetarian meal")]
    after = api.get(f"/api/agent/tasks/{run_id}/messages?after_sequence=2", headers=agent("bot")).json()
    assert [m["sequence"] for m in after["messages"]] == [3]
    timeline = api.get(f"/api/tasks/{task_id}/timeline").json()["timeline"]
    kinds = [(e["event_type"], e["payload"]) for e in timeline
             if e["event_type"] in ("task.awaiting_input", "task.message", "task.input_received")]
    # One mechanism: every message of the conversation is a message on the run's coordination channel.
    assert [k for k, _ in kinds] == ["task.message", "task.awaiting_input", "task.message", "task.input_received",
                                     "task.message"]
    assert kinds[1][1]["question"] == "Aisle or window?"
    assert [(p["kind"], p["body"]) for k, p in kinds if k == "task.message"] == [
        ("question", "Aisle or window?"), ("answer", "window, please"), ("note", "and a vegetarian meal")]
    channel = api.get(f"/api/task-runs/{run_id}/messages", headers=MEMBER).json()
    assert [(m["sequence"], m["kind"], m["role"]) for m in channel["messages"]] == [
        (1, "question", "agent"), (2, "answer", "user"), (3, "note", "user")]
    seqs = [e["sequence"] for e in timeline]
    assert seqs == sorted(seqs)
    r = api.post(f"/api/agent/tasks/{run_id}/complete", {"result": "booked"}, headers=agent("bot"))
    assert r.status_code == 200 and status(api, task_id)["status"] == "completed"
    r = send(api, task_id, "thanks")
    assert r.status_code == 409 and "completed" in r.json()["error"]


def test_awaiting_input_refusals(api: Api) -> None:
    register(api, "bot")
    register(api, "other")
    t = submit(api)
    c = must_claim(api)
    run_id = c["run"]["id"]
    assert ask(api, run_id, who="other").status_code == 403
    r = api.post(f"/api/agent/tasks/{run_id}/awaiting-input", {"question": ""}, headers=agent("bot"))
    assert r.status_code == 400 and "question" in r.json()["error"]
    r = api.post(f"/api/agent/tasks/{run_id}/awaiting-input", {}, headers=agent("bot"))
    assert r.status_code == 400
    r = api.post(f"/api/agent/tasks/{run_id}/awaiting-input", {"question": "q", "claim_token": "ct_wrong"},
                 headers=agent("bot"))
    assert r.status_code == 409 and "claim token" in r.json()["error"]
    assert ask(api, "run_missing").status_code == 404
    assert api.get(f"/api/agent/tasks/{run_id}/messages", headers=agent("other")).status_code == 403
    assert status(api, t["task_id"])["status"] == "running"
    api.post(f"/api/agent/tasks/{run_id}/complete", {}, headers=agent("bot"))
    r = ask(api, run_id)
    assert r.status_code == 409 and "completed" in r.json()["error"]
    r = api.get(f"/api/agent/tasks/{run_id}/messages", headers=agent("bot"))
    assert r.status_code == 409


def test_message_errors(api: Api) -> None:
    register(api, "bot")
    register(api, "other")
    t = submit(api)
    must_claim(api)
    assert send(api, "task_missing", "hi").status_code == 404
    r = send(api, t["task_id"], "hi", agent_id="other")
    assert r.status_code == 404 and "not found for agent other" in r.json()["error"]
    r = api.post(f"/api/agents/bot/tasks/{t['task_id']}/messages", {"message": ""}, headers=MEMBER)
    assert r.status_code == 400
    r = api.post(f"/api/agents/bot/tasks/{t['task_id']}/messages", {"text": "x"}, headers=MEMBER)
    assert r.status_code == 400
    assert api.get(f"/api/agents/bot/tasks/{t['task_id']}/messages").json()["messages"] == []


def test_cancel_queued_running_awaiting(api: Api) -> None:
    register(api, "bot")
    queued = submit(api, priority=10)
    running = submit(api, priority=1)
    c = must_claim(api)
    assert c["task"]["id"] == running["task_id"]
    r = api.post(f"/api/agents/bot/tasks/{queued['task_id']}/cancel", headers=MEMBER)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = api.post(f"/api/agents/bot/tasks/{running['task_id']}/cancel", {"reason": "changed my mind"}, headers=MEMBER)
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["error"] == "changed my mind"
    # The agent's next call learns it: 409 with the reason.
    hb = api.post(f"/api/agent/tasks/{c['run']['id']}/heartbeat", {}, headers=agent("bot"))
    assert hb.status_code == 409 and "canceled" in hb.json()["error"] and "changed my mind" in hb.json()["error"]
    done = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": 1}, headers=agent("bot"))
    assert done.status_code == 409 and status(api, running["task_id"])["status"] == "cancelled"
    waiting = submit(api)
    c2 = must_claim(api)
    assert ask(api, c2["run"]["id"]).status_code == 200
    r = api.post(f"/api/agents/bot/tasks/{waiting['task_id']}/cancel", headers=MEMBER)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api.get(f"/api/agent/tasks/{c2['run']['id']}/messages", headers=agent("bot")).status_code == 409


def test_cancel_closed_is_400_and_unknown_404(api: Api) -> None:
    register(api, "bot")
    t = submit(api)
    c = must_claim(api)
    api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {}, headers=agent("bot"))
    r = api.post(f"/api/agents/bot/tasks/{t['task_id']}/cancel", headers=MEMBER)
    assert r.status_code == 400 and "already completed" in r.json()["error"]
    f = submit(api)
    c = must_claim(api)
    api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": "x"}, headers=agent("bot"))
    r = api.post(f"/api/agents/bot/tasks/{f['task_id']}/cancel", headers=MEMBER)
    assert r.status_code == 400 and "already failed" in r.json()["error"]
    x = submit(api)
    assert api.post(f"/api/agents/bot/tasks/{x['task_id']}/cancel", headers=MEMBER).status_code == 200
    r = api.post(f"/api/agents/bot/tasks/{x['task_id']}/cancel", headers=MEMBER)
    assert r.status_code == 400 and "already cancelled" in r.json()["error"]
    assert api.post("/api/agents/bot/tasks/task_nope/cancel", headers=MEMBER).status_code == 404
    assert api.post(f"/api/agents/ghost/tasks/{x['task_id']}/cancel", headers=MEMBER).status_code == 404
    assert api.get("/api/agents/bot/tasks/task_nope").status_code == 404


def test_timeout_fails_the_task_without_anyone_calling(manual_api: Api) -> None:
    api = manual_api
    register(api, "bot")
    t = submit(api, timeout_override=5)
    c = must_claim(api)
    api.clock.advance(3)  # type: ignore[attr-defined]
    api.run_services_once()
    assert status(api, t["task_id"])["status"] == "running"
    api.clock.advance(3)  # type: ignore[attr-defined]
    api.run_services_once()
    s = status(api, t["task_id"])
    assert s["status"] == "failed" and "timed out" in s["error"]
    hb = api.post(f"/api/agent/tasks/{c['run']['id']}/heartbeat", {}, headers=agent("bot"))
    assert hb.status_code == 409 and "timed out" in hb.json()["error"]


def test_timeout_defaults_agent_then_settings(manual_api: Api) -> None:
    api = manual_api
    register(api, "slow", default_timeout_seconds=2)
    register(api, "plain")
    assert submit(api, "slow", priority=1)["timeout_seconds"] == 2
    assert submit(api, "slow", timeout_override=30)["timeout_seconds"] == 30
    assert submit(api, "plain")["timeout_seconds"] == api.settings.agent_default_timeout_seconds
    c = must_claim(api, "slow")
    assert c["task"]["priority"] == "urgent"
    api.clock.advance(2.5)  # type: ignore[attr-defined]
    api.run_services_once()
    assert status(api, c["task"]["id"], "slow")["status"] == "failed"


def test_list_by_state(api: Api) -> None:
    register(api, "bot")
    done = submit(api, priority=1)
    waiting = submit(api, priority=2)
    running = submit(api, priority=3)
    queued = submit(api, priority=4)
    c = must_claim(api)
    api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {}, headers=agent("bot"))
    assert ask(api, must_claim(api)["run"]["id"]).status_code == 200
    must_claim(api)

    def ids(q: str = "") -> list[str]:
        r = api.get(f"/api/agents/bot/tasks{q}", headers=MEMBER)
        assert r.status_code == 200, r.text
        return [x["task_id"] for x in r.json()["tasks"]]

    assert ids() == [queued["task_id"], running["task_id"], waiting["task_id"], done["task_id"]]
    assert ids("?status=queued") == [queued["task_id"]]
    assert ids("?status=running") == [running["task_id"]]
    assert ids("?status=awaiting_input") == [waiting["task_id"]]
    assert ids("?status=completed") == [done["task_id"]]
    assert ids("?status=cancelled") == []
    assert ids("?limit=2&offset=1") == [running["task_id"], waiting["task_id"]]
    assert api.get("/api/agents/bot/tasks?status=canceled").status_code == 400
    assert api.get("/api/agents/ghost/tasks").status_code == 404


def test_runtime_tasks_owned_by_the_agent_show_here(api: Api) -> None:
    register(api, "bot")
    r = api.post("/api/tasks", {"title": "made elsewhere", "owner": {"kind": "agent_session", "ref": "bot"}},
                 headers=ADMIN)
    task_id = r.json()["task"]["id"]
    s = status(api, task_id)
    assert s["status"] == "queued" and s["message"] == "made elsewhere" and s["callback_mode"] == "poll"
    assert [x["task_id"] for x in api.get("/api/agents/bot/tasks").json()["tasks"]] == [task_id]
    # A task of the same agent seen through the runtime API can be cancelled there too.
    t = submit(api)
    assert api.post(f"/api/tasks/{t['task_id']}/cancel", {}, headers=ADMIN).status_code == 200
    assert status(api, t["task_id"])["status"] == "cancelled"
