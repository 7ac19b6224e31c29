"""D6/D7: an agent cancels and answers only work it holds, owns or submitted (issue 13)."""

from __future__ import annotations

from tests.api.helpers import create, runs, task
from tests.api.test_agent_tasks import ask, must_claim
from tests.api.test_agents import register, status, submit
from tests.conftest import ADMIN, MEMBER, Api, agent


def test_d6_an_agent_cannot_cancel_another_agents_queued_run(api: Api) -> None:
    t = create(api, title="alice's", headers=MEMBER)
    run_id = runs(api, t["id"])[0]["id"]
    r = api.post(f"/api/task-runs/{run_id}/cancel", {}, headers=agent("intruder"))
    assert r.status_code == 403, r.text
    assert runs(api, t["id"])[0]["status"] == "queued" and task(api, t["id"])["status"] == "ready"


def test_d6_the_submitter_agent_and_people_may_cancel_a_queued_run(api: Api) -> None:
    mine = create(api, title="mine", headers=agent("maker"))
    r = api.post(f"/api/task-runs/{runs(api, mine['id'])[0]['id']}/cancel", {}, headers=agent("maker"))
    assert r.status_code == 200, r.text
    theirs = create(api, title="theirs", headers=agent("maker"))
    r = api.post(f"/api/task-runs/{runs(api, theirs['id'])[0]['id']}/cancel", {}, headers=MEMBER)
    assert r.status_code == 200, r.text


def test_d7_another_agent_cannot_cancel_or_answer_a_submitted_task(api: Api) -> None:
    register(api, "bot")
    t = submit(api, message="which region?")
    c = must_claim(api, "bot")
    assert ask(api, c["run"]["id"]).status_code == 200
    path = f"/api/agents/bot/tasks/{t['task_id']}"
    r = api.post(f"{path}/messages", {"message": "eu-west"}, headers=agent("intruder"))
    assert r.status_code == 403, r.text
    r = api.post(f"{path}/cancel", {}, headers=agent("intruder"))
    assert r.status_code == 403, r.text
    assert status(api, t["task_id"])["status"] == "awaiting_input"
    # The person who submitted it may answer; an admin may cancel.
    assert api.post(f"{path}/messages", {"message": "eu-west"}, headers=MEMBER).status_code == 200
    assert api.post(f"{path}/cancel", {}, headers=ADMIN).status_code == 200


def test_d7_an_agent_may_answer_and_cancel_what_it_submitted(api: Api) -> None:
    register(api, "bot")
    t = submit(api, message="which region?", headers=agent("planner"))
    c = must_claim(api, "bot")
    assert ask(api, c["run"]["id"]).status_code == 200
    path = f"/api/agents/bot/tasks/{t['task_id']}"
    assert api.post(f"{path}/messages", {"message": "eu-west"}, headers=agent("planner")).status_code == 200
    assert api.post(f"{path}/cancel", {}, headers=agent("planner")).status_code == 200
