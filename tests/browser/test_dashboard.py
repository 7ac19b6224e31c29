"""The dashboard in a real browser against a real ``taskloom serve``, with data made through the API.

Each test signs in its own tab. The actions a person takes are checked through the API afterwards.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

from tests.browser.conftest import Live, sign_in

XSS = "<img src=x onerror=alert(1)>"


def uid() -> str:
    return uuid.uuid4().hex[:6]


def inbox_item(page: Any, lane: str, task: dict[str, Any]) -> Any:
    item = page.locator(f"#lane-{lane} li.item[data-task='{task['id']}']")
    item.wait_for()
    return item


def flash(page: Any, text: str) -> None:
    page.locator(".flash", has_text=text).first.wait_for()


def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_sign_in_keeps_the_token_out_of_the_page_and_url(page: Any, live: Live) -> None:
    page.goto("/ui/tasks?status=ready")
    assert "/ui/signin" in page.url
    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    # The server's own message for a refused token.
    refused = live.http.get("/api/observe/tasks/inbox", headers={"Authorization": "Bearer not-a-token"}).json()["error"]
    page.get_by_role("alert").filter(has_text=refused).wait_for()
    assert page.evaluate("sessionStorage.length") == 0

    page.get_by_label("Token").fill(live.admin)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Tasks").wait_for()
    assert page.url.endswith("/ui/tasks?status=ready")  # back where the person was going
    assert page.get_by_label("Status").input_value() == "ready"
    page.reload()  # a deep link survives a reload
    page.get_by_role("heading", name="Tasks").wait_for()
    for path in ("/ui", "/ui/agents", "/ui/queues", "/ui/schedules", "/ui/usage"):
        page.goto(path)
        page.locator("main h1").wait_for()
        assert live.admin not in page.url and live.admin not in page.content()
        assert live.admin not in page.inner_text("body")
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("sessionStorage.getItem('taskloom.token')") == live.admin

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Token").wait_for()
    assert page.evaluate("sessionStorage.length") == 0


def test_approve_and_reject_from_the_inbox(page: Any, live: Live) -> None:
    ok = live.call("POST", "/api/tasks", {"title": f"ship it {uid()}", "approval_policy": "required"})["task"]
    no = live.call("POST", "/api/tasks", {"title": f"drop prod {uid()}", "approval_policy": "required"})["task"]
    sign_in(page, live.server.token("alice", role="member"))

    inbox_item(page, "approvals", ok).get_by_role("button", name="Approve").click()
    flash(page, f"Approve: {ok['identifier']}")
    runs = live.call("GET", f"/api/tasks/{ok['id']}/runs")["runs"]
    assert [r["status"] for r in runs] == ["queued"]
    assert live.call("GET", f"/api/tasks/{ok['id']}")["task"]["task"]["approval_state"] == "approved"
    page.locator(f"#lane-approvals li.item[data-task='{ok['id']}']").wait_for(state="detached")

    item = inbox_item(page, "approvals", no)
    item.get_by_role("button", name="Reject").click()
    item.get_by_label(f"Reason to reject {no['identifier']}").fill("too risky on a Friday")
    item.get_by_role("button", name="Confirm reject").click()
    flash(page, f"Confirm reject: {no['identifier']}")
    task = live.call("GET", f"/api/tasks/{no['id']}")["task"]
    assert task["task"]["approval_state"] == "rejected" and task["task"]["status"] == "canceled"
    assert any("too risky on a Friday" in str(e["payload"]) for e in task["events"])


def test_answer_an_agents_question(page: Any, live: Live) -> None:
    bot = f"bot-{uid()}"
    live.call("POST", "/api/agents", {"id": bot, "name": "Travel bot"})
    submitted = live.call("POST", f"/api/agents/{bot}/tasks", {"message": "Book a flight to Lisbon"})
    token = live.agent_token(bot)
    claim = live.claim(token)["claim"]
    run_id = claim["run"]["id"]
    live.call("POST", f"/api/agent/tasks/{run_id}/awaiting-input", {"question": "Aisle or window?"}, token=token)
    sign_in(page, live.admin)

    task = {"id": submitted["task_id"]}
    item = inbox_item(page, "questions", task)
    assert "Aisle or window?" in item.inner_text()
    name = claim["task"]["identifier"]
    item.get_by_label(f"Answer to {name}").fill("Window, please")
    item.get_by_role("button", name="Answer").click()
    flash(page, f"Answer: {name}")
    read = live.call("GET", f"/api/agent/tasks/{run_id}/messages?role=user", token=token)
    assert [m["message"] for m in read["messages"]] == ["Window, please"]
    assert read["awaiting_input"] is False
    # The task page shows the conversation.
    page.goto(f"/ui/tasks/{task['id']}")
    page.locator(".msg.agent", has_text="Aisle or window?").wait_for()
    page.locator(".msg.user", has_text="Window, please").wait_for()


def test_retry_a_failed_task_and_cancel_another(page: Any, live: Live) -> None:
    channel = f"retry-{uid()}"
    worker = live.agent_token(f"w-{uid()}")
    doomed = live.call("POST", "/api/tasks", {"title": f"flaky {uid()}", "max_attempts": 1,
                                              "network_channel": channel})["task"]
    run = live.claim(worker, network_channel=channel)["claim"]["run"]
    live.call("POST", f"/api/agent/tasks/{run['id']}/fail", {"error": "upstream 502"}, token=worker)
    mine = live.call("POST", "/api/tasks", {"title": f"mine {uid()}", "owner": {"kind": "human", "ref": "alice"},
                                            "network_channel": channel})["task"]
    sign_in(page, live.server.token("alice", role="member"))

    failed = inbox_item(page, "failed_runs", doomed)
    assert "upstream 502" in failed.inner_text()
    failed.get_by_role("button", name="Retry").click()
    flash(page, f"Retry: {doomed['identifier']}")
    runs = live.call("GET", f"/api/tasks/{doomed['id']}/runs")["runs"]
    assert sorted(r["status"] for r in runs) == ["failed", "queued"]

    inbox_item(page, "my_work", mine).get_by_role("button", name="Cancel").click()
    flash(page, f"Cancel: {mine['identifier']}")
    assert live.call("GET", f"/api/tasks/{mine['id']}")["task"]["task"]["status"] == "canceled"


def test_pause_an_agent_then_its_claim_gets_nothing(page: Any, live: Live) -> None:
    bot = f"pausy-{uid()}"
    live.call("POST", "/api/agents", {"id": bot, "name": "Pausy"})
    live.call("POST", f"/api/agents/{bot}/tasks", {"message": "Tidy the backlog"})
    sign_in(page, live.admin, "/ui/agents")
    row = page.locator(f"tr[data-agent='{bot}']")
    row.get_by_role("button", name="Pause").click()
    row.get_by_role("button", name="Resume").wait_for()
    assert live.call("GET", f"/api/agents/{bot}")["state"] == "paused"
    assert live.claim(live.agent_token(bot)) is None  # 204: nothing for a paused agent
    row.get_by_role("button", name="Resume").click()
    row.get_by_role("button", name="Pause").wait_for()
    claim = live.claim(live.agent_token(bot))["claim"]
    assert claim["task"]["title"] == "Tidy the backlog"
    # The registry shows what it now holds, with a lease countdown.
    page.get_by_role("link", name="Agents").click()
    row.locator(".lease").wait_for()
    assert re.search(r"\d+ (s|min).* left", row.inner_text())


def test_agent_token_sees_pages_but_actions_are_refused(page: Any, live: Live) -> None:
    gated = live.call("POST", "/api/tasks", {"title": f"gated {uid()}", "approval_policy": "required"})["task"]
    token = live.agent_token(f"nosy-{uid()}")
    refused = live.http.post(f"/api/tasks/{gated['id']}/approve", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    sign_in(page, token)
    inbox_item(page, "approvals", gated).get_by_role("button", name="Approve").click()
    page.get_by_role("alert").filter(has_text=refused.json()["error"]).wait_for()
    assert live.call("GET", f"/api/tasks/{gated['id']}")["task"]["task"]["approval_state"] == "pending"


def test_a_hostile_title_renders_as_text(page: Any, live: Live) -> None:
    t = live.call("POST", "/api/tasks", {"title": XSS, "approval_policy": "required", "metadata": {"note": XSS}})["task"]
    sign_in(page, live.admin)
    assert XSS in inbox_item(page, "approvals", t).inner_text()
    page.goto(f"/ui/tasks?q={t['identifier']}")
    page.get_by_role("link", name=re.compile(re.escape(XSS))).click()
    page.get_by_role("heading", name=re.compile(re.escape(XSS))).wait_for()
    assert XSS in page.inner_text(".json")
    assert page.locator("img").count() == 0
    assert page.evaluate("document.title").startswith(t["identifier"])


def test_task_page_is_live_and_resumes_after_a_dropped_stream(page: Any, live: Live, artifacts: Path) -> None:
    streams: list[dict[str, str]] = []
    page.on("request", lambda req: streams.append(req.headers) if req.url.endswith("/stream") else None)
    parent = live.call("POST", "/api/tasks", {"title": "Write the report", "metadata": {"quarter": "Q3"},
                                              "network_channel": "reports"})["task"]
    live.call("POST", f"/api/tasks/{parent['id']}/children", {"title": "Collect incidents", "start": False})
    sign_in(page, live.admin, f"/ui/tasks/{parent['id']}")
    page.get_by_role("heading", name=re.compile("Write the report")).wait_for()
    indicator = page.locator(".live-indicator")
    indicator.filter(has_text="live").wait_for()
    page.evaluate("window.__sameDocument = true")
    assert "Collect incidents" in page.inner_text("ul.tree")

    token = live.agent_token("writer")
    run = live.claim(token, network_channel="reports")["claim"]["run"]
    live.call("POST", f"/api/agent/tasks/{run['id']}/heartbeat",
              {"usage": {"input_tokens": 1200, "output_tokens": 340, "total_cost": 0.0123}}, token=token)
    page.locator(".event[data-type='run.claimed']").wait_for()
    live.call("POST", f"/api/agent/tasks/{run['id']}/complete", {"result": {"summary": "all good"}}, token=token)
    page.locator(".event[data-type='run.completed']").wait_for()
    page.locator("dl.fields .badge", has_text="completed").wait_for()
    page.locator("pre.json", has_text='"summary": "all good"').wait_for()
    page.locator("td", has_text="1,200 in / 340 out").wait_for()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    page.screenshot(path=str(artifacts / "task.png"), full_page=True)

    # Drop the stream: kill the server, then start it again on the same port and database.
    last = max(int(x) for x in page.locator(".event").evaluate_all("els => els.map(e => e.dataset.sequence)"))
    page.evaluate("""() => {
        window.__states = [];
        const el = document.querySelector('.live-indicator');
        new MutationObserver(() => window.__states.push(el.textContent)).observe(el, {childList: true});
    }""")
    live.restart()
    indicator.filter(has_text="live").wait_for(timeout=15000)
    assert "reconnecting…" in page.evaluate("window.__states")
    live.call("POST", f"/api/tasks/{parent['id']}/runs")  # a re-run: new events after the reconnect
    page.locator(".event[data-type='run.queued']").nth(1).wait_for()
    assert streams[0].get("last-event-id") is None
    assert any(h.get("last-event-id") == str(last) for h in streams[1:]), streams
    sequences = page.locator(".event").evaluate_all("els => els.map(e => Number(e.dataset.sequence))")
    assert len(sequences) == len(set(sequences)) and max(sequences) > last  # nothing twice, nothing lost
    assert sorted(sequences) == list(range(1, max(sequences) + 1))


def test_tasks_queues_schedules_usage_and_a_screenshot_of_every_view(page: Any, live: Live, artifacts: Path) -> None:
    # Something in every inbox lane. (The planner's task is the most urgent: its claim takes any channel.)
    live.call("POST", "/api/tasks", {"title": "Publish the Q3 incident report", "approval_policy": "required"})
    live.call("POST", "/api/agents", {"id": "planner", "name": "Planner"})
    asked = live.call("POST", "/api/agents/planner/tasks", {"message": "Plan the offsite", "priority": 1})
    planner = live.agent_token("planner")
    run = live.claim(planner)["claim"]["run"]
    live.call("POST", f"/api/agent/tasks/{run['id']}/awaiting-input", {"question": "Which week suits the team?"},
              token=planner)
    live.call("POST", "/api/tasks", {"title": "Re-index the wiki", "max_attempts": 1, "network_channel": "wiki"})
    crawler = live.agent_token("crawler")
    run = live.claim(crawler, network_channel="wiki")["claim"]["run"]
    live.call("POST", f"/api/agent/tasks/{run['id']}/fail", {"error": "search cluster unreachable"}, token=crawler)
    first = live.call("POST", "/api/tasks", {"title": "Collect the incident list", "start": False})["task"]
    waiting = live.call("POST", "/api/tasks", {"title": "Draft the summary", "dependencies": [first["id"]]})["task"]
    channel = f"research-{uid()}"
    for i in range(27):
        live.call("POST", "/api/tasks", {"title": f"paper {i:02d}", "network_channel": channel})
    wq = live.call("POST", "/work-queues", {"name": "bug-triage", "teamId": "eng"})
    live.call("POST", f"/work-queues/{wq['id']}/tasks", {"name": "crash on save", "priority": 4})
    for who, tokens in (("summariser", 1500), ("reviewer", 400)):
        token = live.agent_token(who)
        run = live.claim(token, network_channel=channel)["claim"]["run"]
        live.call("POST", f"/api/agent/tasks/{run['id']}/complete",
                  {"model": "m-1", "usage": {"input_tokens": tokens, "output_tokens": tokens // 10,
                                             "total_cost": tokens / 1000}}, token=token)
    live.call("POST", "/api/agents", {"id": "summariser", "name": "Summariser", "team": "research"})
    live.call("POST", "/api/budgets", {"scope": "agent", "ref": "summariser", "period": "day", "max_tokens": 1000})
    sched = live.call("POST", "/tasks", {"title": "Nightly digest", "description": "", "schedule_kind": "cron",
                                         "schedule_expr": "0 6 * * *", "timezone": "Europe/Lisbon", "payload": {},
                                         "created_by": str(uuid.uuid4())})
    sign_in(page, live.admin)
    inbox_item(page, "questions", {"id": asked["task_id"]})
    assert "summariser" in page.locator("#lane-budgets").inner_text()  # a lane the API adds, shown as it comes
    page.screenshot(path=str(artifacts / "inbox.png"), full_page=True)

    # Tasks: a filter is a URL; 25 per page.
    page.goto(f"/ui/tasks?channel={channel}")
    rows = page.locator("tbody tr")
    rows.nth(24).wait_for()
    assert rows.count() == 25
    page.screenshot(path=str(artifacts / "tasks.png"), full_page=True)
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile("offset=25"))
    page.get_by_text("26–27").wait_for()
    assert rows.count() == 2
    live.call("POST", "/api/tasks", {"title": "zoe's paper", "network_channel": channel,
                                     "owner": {"kind": "human", "ref": "zoe"}, "start": False})
    page.get_by_label("Owner").fill("human:zoe")
    page.get_by_label("Status").select_option("pending")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("owner=human%3Azoe"))
    page.get_by_role("link", name="zoe's paper").wait_for()
    assert rows.count() == 1
    page.goto(f"/ui/tasks?channel={channel}")
    page.get_by_label("Search").fill("paper 03")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=re.compile("paper 03")).click()
    page.get_by_role("heading", name=re.compile("paper 03")).wait_for()

    # A task page lists what the task waits for, with each dependency's status.
    page.goto(f"/ui/tasks/{waiting['id']}")
    deps = page.locator("section", has=page.get_by_role("heading", name="Dependencies"))
    deps.get_by_role("link", name=re.compile("Collect the incident list")).wait_for()
    assert "pending" in deps.inner_text()

    # Queues: depth, active, and a sparkline per channel and work queue.
    page.goto("/ui/queues")
    row = page.locator(f"tr[data-channel='{channel}']")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "25" and cells[3] == "0"  # 27 made, 2 claimed and completed
    assert row.locator("svg.sparkline path").count() == 1
    assert "bug-triage" in page.locator(f"tr[data-channel='{wq['id']}']").inner_text()
    page.screenshot(path=str(artifacts / "queues.png"), full_page=True)

    # Schedules: pause, resume, run now, each confirmed by the API.
    page.goto("/ui/schedules")
    srow = page.locator(f"tr[data-schedule='{sched['id']}']")
    assert "Europe/Lisbon" in srow.inner_text() and "0 6 * * *" in srow.inner_text()
    page.screenshot(path=str(artifacts / "schedules.png"), full_page=True)
    srow.get_by_role("button", name="Pause").click()
    srow.get_by_role("button", name="Resume").wait_for()
    assert live.call("GET", f"/tasks/{sched['id']}")["status"] == "paused"
    srow.get_by_role("button", name="Resume").click()
    srow.get_by_role("button", name="Pause").wait_for()
    assert live.call("GET", f"/tasks/{sched['id']}")["status"] == "active"
    srow.get_by_role("button", name="Run now").click()
    flash(page, "Run now: ")
    assert [r["status"] for r in live.call("GET", f"/tasks/{sched['id']}/runs")["runs"]] == ["queued"]

    # Usage: a chart per measure, and the numbers beside it.
    page.goto("/ui/usage")
    page.locator("svg.chart").first.wait_for()
    per_agent = page.locator("section", has=page.get_by_role("heading", name="Per agent", exact=True))
    text = per_agent.inner_text()
    assert "summariser" in text and "1,500" in text and "reviewer" in text and "400" in text
    assert "1,650" in page.locator("svg.chart").first.inner_html()  # the day's total tokens, labelled
    page.screenshot(path=str(artifacts / "usage.png"), full_page=True)

    page.goto("/ui/agents")
    page.locator("tr[data-agent='summariser']").wait_for()
    page.screenshot(path=str(artifacts / "agents.png"), full_page=True)
    page.goto("/ui/signin")
    page.screenshot(path=str(artifacts / "signin.png"))
    for name in ("inbox", "tasks", "queues", "schedules", "usage", "agents", "signin"):
        assert (artifacts / f"{name}.png").stat().st_size > 5000


def test_triage_read_dismiss_archive(page: Any, live: Live) -> None:
    alice = live.server.token("alice", role="member")
    mine = [live.call("POST", "/api/tasks", {"title": f"triage {n} {uid()}", "owner": {"kind": "human", "ref": "alice"},
                                             "start": False})["task"] for n in range(3)]
    sign_in(page, alice)
    read, dismissed, archived = mine
    item = inbox_item(page, "my_work", read)
    assert "unread" in (item.get_attribute("class") or "")
    item.get_by_role("button", name="Mark read").click()
    page.locator(f"#lane-my_work li.item:not(.unread)[data-task='{read['id']}']").wait_for()
    inbox_item(page, "my_work", dismissed).get_by_role("button", name="Dismiss").click()
    page.locator(f"li.item[data-task='{dismissed['id']}']").wait_for(state="detached")
    inbox_item(page, "my_work", archived).get_by_role("button", name="Archive").click()
    page.locator(f"li.item[data-task='{archived['id']}']").wait_for(state="detached")
    box = live.call("GET", "/api/observe/tasks/inbox", token=alice)["inbox"]
    lanes = {g["lane"]: {i["task"]["id"]: i for i in g["items"] if i["task"]} for g in box["groups"]}
    assert lanes["my_work"][read["id"]]["unread"] is False
    assert dismissed["id"] not in lanes["my_work"] and archived["id"] in lanes["archived"]
    page.get_by_role("link", name="Archived").click()
    inbox_item(page, "archived", archived)


def test_polls_at_most_every_5_s_and_not_while_hidden(browser: Any, live: Live) -> None:
    context = browser.new_context(base_url=live.url)
    page = context.new_page()
    page.clock.install()
    page.clock.pause_at(time.time() + 1)  # timers fire only when the test moves the clock
    polls: list[str] = []
    page.on("request", lambda req: polls.append(req.url) if "/api/observe/queues" in req.url else None)
    sign_in(page, live.admin, "/ui/queues")
    page.locator("main table, main p.muted").first.wait_for()
    page.wait_for_timeout(300)
    assert len(polls) == 1
    page.clock.run_for(4800)
    page.wait_for_timeout(300)
    assert len(polls) == 1  # not before 5 s
    page.clock.run_for(400)
    page.wait_for_timeout(300)
    assert len(polls) == 2
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.clock.run_for(30_000)
    page.wait_for_timeout(300)
    assert len(polls) == 2  # hidden: no polling
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_timeout(300)
    assert len(polls) == 3  # visible again: refreshed at once
    context.close()
