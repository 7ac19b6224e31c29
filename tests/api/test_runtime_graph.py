"""Dependencies, trees, drafts, approvals and the rules of what is claimable."""

from __future__ import annotations

from tests.api.helpers import claim, complete, create, must_claim, task, timeline
from tests.conftest import MEMBER, Api, agent


def test_dependency_blocks_until_completed(api: Api) -> None:
    first = create(api, title="first")
    second = create(api, title="second", dependencies=[first["id"]])
    assert second["status"] == "blocked" and second["blocked_reason"] == "dependencies"
    c = must_claim(api)
    assert c["task"]["id"] == first["id"]
    assert claim(api) is None, "a blocked task must not be claimable"
    assert complete(api, c["run"]["id"]).status_code == 200
    assert task(api, second["id"])["status"] == "ready"
    assert must_claim(api)["task"]["id"] == second["id"]


def test_dependency_cycle_refused_with_names(api: Api) -> None:
    a = create(api, title="a")
    b = create(api, title="b", dependencies=[a["id"]])
    c = create(api, title="c", dependencies=[b["id"]])
    r = api.post(f"/api/tasks/{a['id']}/dependencies", {"depends_on_task_id": c["id"]})
    assert r.status_code == 422
    message = r.json()["error"]
    assert "cycle" in message and a["id"] in message and c["id"] in message and b["id"] in message
    self_dep = api.post(f"/api/tasks/{a['id']}/dependencies", {"depends_on_task_id": a["id"]})
    assert self_dep.status_code == 422
    assert task(api, a["id"])["status"] == "ready", "a refused dependency changes nothing"


def test_add_and_remove_dependency(api: Api) -> None:
    blocker = create(api, title="blocker", start=False)
    t = create(api, title="t")
    r = api.post(f"/api/tasks/{t['id']}/dependencies", {"depends_on_task_id": blocker["id"]})
    assert r.status_code == 200
    detail = r.json()["task"]
    assert detail["task"]["status"] == "blocked"
    assert detail["dependencies"][0]["depends_on_task_id"] == blocker["id"]
    assert detail["dependency_references"][0]["depends_on"]["id"] == blocker["id"]
    assert claim(api) is None, "its queued run is held while blocked"
    r = api.delete(f"/api/tasks/{t['id']}/dependencies/{blocker['id']}")
    assert r.status_code == 200 and r.json()["task"]["task"]["status"] == "ready"
    assert must_claim(api)["task"]["id"] == t["id"]
    assert api.delete(f"/api/tasks/{t['id']}/dependencies/{blocker['id']}").status_code == 404


def test_tree_depth_and_cancel_subtree(api: Api) -> None:
    root = create(api, title="root", start=False)
    child = api.post(f"/api/tasks/{root['id']}/children", {"title": "child"}).json()["task"]
    grandchild = api.post(f"/api/tasks/{child['id']}/children", {"title": "grandchild"}).json()["task"]
    other = create(api, title="unrelated")
    assert child["parent_task_id"] == root["id"]
    tree = api.get(f"/api/tasks/{root['id']}/tree").json()["tree"]
    assert tree["root"]["task"]["id"] == root["id"] and tree["root"]["depth"] == 0
    assert tree["root"]["child_count"] == 1
    depths = {d["task"]["id"]: d["depth"] for d in tree["descendants"]}
    assert depths == {child["id"]: 1, grandchild["id"]: 2}
    # Claim the grandchild's run so the cancel has a live run to stop.
    claimed = []
    while (c := claim(api)) is not None:
        claimed.append(c)
    by_task = {c["task"]["id"]: c for c in claimed}
    assert grandchild["id"] in by_task and other["id"] in by_task
    r = api.post(f"/api/tasks/{root['id']}/cancel", {"reason": "no longer needed"})
    assert r.status_code == 200 and r.json()["task"]["status"] == "canceled"
    for t in (root, child, grandchild):
        assert task(api, t["id"])["status"] == "canceled"
    assert task(api, other["id"])["status"] == "in_progress", "cancel stays inside the subtree"
    gc_run = by_task[grandchild["id"]]["run"]["id"]
    assert api.get(f"/api/task-runs/{gc_run}").json()["run"]["run"]["status"] == "canceled"
    hb = api.post(f"/api/agent/tasks/{gc_run}/heartbeat", {}, headers=agent("a1"))
    assert hb.status_code == 409 and "canceled" in hb.json()["error"]
    assert api.post(f"/api/tasks/{root['id']}/cancel", {}).status_code == 409


def test_draft_publish(api: Api) -> None:
    draft = create(api, title="draft", draft=True)
    assert draft["status"] == "draft" and draft["draft"] is True
    assert claim(api) is None
    listed = api.get("/api/tasks").json()["tasks"]
    assert draft["id"] not in [t["id"] for t in listed], "drafts are hidden unless include_drafts"
    assert draft["id"] in [t["id"] for t in api.get("/api/tasks", params={"include_drafts": True}).json()["tasks"]]
    r = api.post(f"/api/tasks/{draft['id']}/publish", {})
    assert r.status_code == 200
    body = r.json()
    assert body["task"]["status"] == "ready" and body["run"]["status"] == "queued"
    assert api.post(f"/api/tasks/{draft['id']}/publish", {}).status_code == 409
    assert must_claim(api)["task"]["id"] == draft["id"]


def test_approval_gate(api: Api) -> None:
    gated = create(api, title="deploy", approval_policy="required")
    assert gated["status"] == "blocked" and gated["approval_state"] == "pending"
    assert claim(api) is None
    inbox = api.get("/api/observe/tasks/inbox", params={"lane": "approvals"}).json()["inbox"]
    assert [i["task"]["id"] for i in inbox["groups"][0]["items"]] == [gated["id"]]
    assert api.post(f"/api/tasks/{gated['id']}/approve", {}, headers=agent("a1")).status_code == 403
    r = api.post(f"/api/tasks/{gated['id']}/approve", {"comment": "ok"}, headers=MEMBER)
    assert r.status_code == 200
    assert r.json()["task"]["approval_state"] == "approved" and r.json()["run"]["status"] == "queued"
    assert must_claim(api)["task"]["id"] == gated["id"]
    assert api.post(f"/api/tasks/{gated['id']}/approve", {}).status_code == 409


def test_reject_closes(api: Api) -> None:
    gated = create(api, title="risky", approval_policy="required")
    r = api.post(f"/api/tasks/{gated['id']}/reject")
    assert r.status_code == 200
    assert r.json()["task"]["status"] == "canceled" and r.json()["task"]["approval_state"] == "rejected"
    assert r.json()["task"]["closed_at"] is not None
    assert claim(api) is None
    assert "task.rejected" in [e["event_type"] for e in timeline(api, gated["id"])]


def test_pending_start_and_rerun(api: Api) -> None:
    t = create(api, start=False)
    assert t["status"] == "pending" and claim(api) is None
    r = api.post(f"/api/tasks/{t['id']}/start", {})
    assert r.status_code == 200 and r.json()["run"]["attempt"] == 1
    assert api.post(f"/api/tasks/{t['id']}/start", {}).status_code == 409
    c = must_claim(api)
    assert complete(api, c["run"]["id"]).status_code == 200
    again = api.post(f"/api/tasks/{t['id']}/runs", {})
    assert again.status_code == 201 and again.json()["run"]["attempt"] == 2
    assert task(api, t["id"])["status"] == "ready"
    assert api.post(f"/api/tasks/{t['id']}/runs", {}).status_code == 409, "one open run at a time"


def test_patch_priority_follows_queued_run_and_manual_blocker(api: Api) -> None:
    low = create(api, title="low", priority="low")
    high = create(api, title="high", priority="high")
    r = api.patch(f"/api/tasks/{low['id']}", {"priority": "urgent", "title": "now urgent"})
    assert r.status_code == 200 and r.json()["task"]["priority"] == "urgent"
    r = api.patch(f"/api/tasks/{high['id']}", {"blocker": "waiting on legal"})
    assert r.json()["task"]["status"] == "blocked" and r.json()["task"]["blocked_reason"] == "manual"
    assert must_claim(api)["task"]["id"] == low["id"]
    assert claim(api) is None
    assert api.patch(f"/api/tasks/{high['id']}", {"blocker": ""}).json()["task"]["status"] == "ready"
    assert must_claim(api)["task"]["id"] == high["id"]


def test_delete_rules(api: Api) -> None:
    t = create(api)
    assert api.delete(f"/api/tasks/{t['id']}", headers=MEMBER).status_code == 403
    c = must_claim(api)
    assert api.delete(f"/api/tasks/{t['id']}").status_code == 409, "live run: cancel first"
    complete(api, c["run"]["id"])
    assert api.delete(f"/api/tasks/{t['id']}").status_code == 204
    assert api.get(f"/api/tasks/{t['id']}").status_code == 404
    assert api.delete(f"/api/tasks/{t['id']}").status_code == 404


def test_rerun_of_blocked_task_is_a_conflict(api: Api) -> None:
    blocker = create(api, title="blocker", start=False)
    waiting = create(api, title="waiting", dependencies=[blocker["id"]])
    r = api.post(f"/api/tasks/{waiting['id']}/runs", {})
    assert r.status_code == 409 and "blocked" in r.json()["error"]
    assert task(api, waiting["id"])["status"] == "blocked"
