// One task: its fields, result and error, runs (attempts, errors, lease, usage), children, dependencies,
// messages, and a live timeline over GET /api/tasks/{id}/stream (reconnecting with Last-Event-ID).

import { taskActions } from "./actions.js";
import * as api from "./api.js";
import { actorText, ago, badge, clear, h, localTime, num, pretty, section, table, taskLink } from "./dom.js";

const enc = encodeURIComponent;
const RECENT_RUNS = 5; // usage and messages are read per run: the latest few keep a refresh to ~12 requests

function fields(t) {
  const row = (k, v) => [h("dt", {}, k), h("dd", {}, v ?? "—")];
  return h("dl", { class: "fields" },
    row("Status", badge(t.status)), row("Priority", t.priority), row("Owner", actorText(t.owner)),
    row("Channel", t.network_channel), row("Workspace", t.workspace_id ?? (t.scope === "global" ? "global" : null)),
    row("Attempts", `${t.attempts} of ${t.max_attempts}`),
    row("Approval", t.approval_policy === "required" ? t.approval_state : "not required"),
    t.blocked_reason ? row("Blocked", t.blocker ? `${t.blocked_reason}: ${t.blocker}` : t.blocked_reason) : null,
    row("Created", `${localTime(t.created_at)} by ${actorText(t.created_by)}`),
    row("Last activity", ago(t.last_activity_at)),
    t.parent_task_id ? row("Parent", taskLink({ id: t.parent_task_id, title: t.parent_task_id })) : null);
}

function runsTable(runs, usage) {
  const rows = [...runs].reverse().map((r) => {
    const u = usage[r.id];
    const live = ["claimed", "starting", "running"].includes(r.status);
    return h("tr", {},
      h("td", { class: "num" }, r.attempt), h("td", {}, badge(r.status)), h("td", {}, actorText(r.claimed_by)),
      h("td", {}, localTime(r.queued_at)), h("td", {}, r.claimed_at ? localTime(r.claimed_at) : "—"),
      h("td", {}, r.ended_at ? localTime(r.ended_at) : "—"),
      h("td", {}, live && r.lease_until ? `until ${localTime(r.lease_until)} (${ago(r.lease_until)})` : "—"),
      h("td", { class: "num" }, u ? `${num(u.input_tokens)} in / ${num(u.output_tokens)} out` : "—"),
      h("td", { class: "num" }, u ? `${num(u.total_cost, 4)} ${u.cost_currency ?? ""}` : "—"),
      h("td", { class: "error-text" }, r.error ?? ""));
  });
  return table(["Attempt", "Status", "Claimed by", "Queued", "Claimed", "Ended", "Lease", "Tokens", "Cost", "Error"],
    rows, "No runs yet.");
}

function treeView(tree) {
  if (!tree || !tree.descendants.length) return h("p", { class: "muted" }, "No children.");
  const base = tree.root.depth;
  return h("ul", { class: "tree" }, tree.descendants.map((n) => h("li", { class: `depth-${Math.min(6, n.depth - base)}` },
    taskLink(n.task), " ", badge(n.task.status), n.active_run ? h("span", { class: "muted" }, ` · run ${n.active_run.status}`) : null)));
}

function depsView(refs) {
  if (!refs.length) return h("p", { class: "muted" }, "No dependencies.");
  return h("ul", {}, refs.map((d) => h("li", {}, d.depends_on ? taskLink(d.depends_on) : d.depends_on_task_id, " ",
    badge(d.depends_on ? d.depends_on.status : "unknown"), h("span", { class: "muted" }, ` · ${d.kind}`))));
}

function messagesView(messages) {
  if (!messages.length) return h("p", { class: "muted" }, "No messages yet.");
  return h("ol", { class: "messages" }, messages.map((m) => h("li", { class: `msg ${m.role}` },
    h("span", { class: "muted" }, `#${m.sequence} ${m.kind} from ${actorText(m.sender)} · ${localTime(m.created_at)}`),
    h("p", {}, m.body))));
}

function eventView(item) {
  const payload = item.payload && Object.keys(item.payload).length ? JSON.stringify(item.payload) : "";
  return h("li", { class: "event", dataset: { sequence: item.sequence, type: item.event_type } },
    h("span", { class: "seq" }, `#${item.sequence}`), " ",
    h("span", { class: "etype" }, item.event_type), " ",
    h("span", { class: "muted" }, `${localTime(item.timestamp)} · ${actorText(item.actor)}`),
    payload ? h("code", { class: "payload" }, payload) : null);
}

// Every run has a coordination channel; the task's conversation is their messages, in order.
async function loadMessages(runs) {
  const lists = await Promise.all(runs.slice(-RECENT_RUNS).map((r) => api.get(`/api/task-runs/${enc(r.id)}/messages`, { limit: 1000 })));
  return lists.flatMap((x) => x.messages).sort((a, b) => a.sequence - b.sequence);
}

export function mount({ main, id, app }) {
  document.title = "Task · Taskloom";
  const head = h("div", { class: "page-head" });
  const detail = h("div", { class: "grid" });
  const indicator = h("span", { class: "live-indicator off", role: "status" }, "connecting…");
  const timeline = h("ol", { class: "timeline", "aria-label": "Timeline" });
  const seen = new Set();
  main.append(head, detail,
    h("section", { class: "card" }, h("h2", {}, "Timeline ", indicator), timeline));

  let timer = null;
  let loading = null;
  const typing = () => main.contains(document.activeElement) && ["INPUT", "TEXTAREA"].includes(document.activeElement.tagName);

  async function refresh() {
    const { task: d } = await api.get(`/api/tasks/${enc(id)}`);
    const t = d.task;
    const [tree, messages, usage] = await Promise.all([
      api.get(`/api/tasks/${enc(id)}/tree`).then((x) => x.tree),
      loadMessages(d.runs),
      Promise.all(d.runs.slice(-RECENT_RUNS).map((r) => api.get(`/api/task-runs/${enc(r.id)}`).then((x) => [r.id, x.run.summary])))
        .then(Object.fromEntries),
    ]);
    document.title = `${t.identifier} ${t.title} · Taskloom`;
    clear(head).append(
      h("h1", {}, h("span", { class: "muted" }, `${t.identifier} `), t.title),
      taskActions({
        task: t, approvalPending: t.approval_state === "pending",
        awaitingInput: t.status === "blocked" && t.blocked_reason === "awaiting_input",
        runId: (d.runs.find((r) => ["claimed", "starting", "running"].includes(r.status)) || {}).id, triage: null, unread: true,
      }, { ...app, refresh }));
    clear(detail).append(
      section("Details", fields(t), t.description ? h("p", { class: "description" }, t.description) : null),
      section("Metadata", pretty(t.metadata)),
      section("Result", t.result === null ? h("p", { class: "muted" }, "No result yet.") : pretty(t.result)),
      section("Error", t.error === null ? h("p", { class: "muted" }, "No error.") : pretty(t.error)),
      h("section", { class: "card wide" }, h("h2", {}, "Runs"), runsTable(d.runs, usage)),
      section("Children", treeView(tree)),
      section("Dependencies", depsView(d.dependency_references)),
      h("section", { class: "card wide" }, h("h2", {}, "Messages"), messagesView(messages),
        d.runs.length > RECENT_RUNS ? h("p", { class: "muted" }, `Messages of the latest ${RECENT_RUNS} runs.`) : null));
  }

  // Events arrive in bursts (and heartbeats keep coming): refresh the rest of the page once per
  // burst, at most every 2 s, and not while the person is typing.
  let refreshedAt = 0;
  function soon() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (typing()) return soon();
      refreshedAt = Date.now();
      loading = refresh().catch((err) => app.flash(err.message, "error"));
    }, Math.max(300, refreshedAt + 2000 - Date.now()));
  }

  const stop = api.stream(`/api/tasks/${enc(id)}/stream`, {
    onState(state, why) {
      indicator.className = `live-indicator ${state === "live" ? "on" : "off"}`;
      indicator.textContent = state === "live" ? "live" : state === "closed" ? `closed: ${why}` : "reconnecting…";
      indicator.title = why || "";
    },
    onEvent(msg) {
      if (msg.event === "deleted") {
        app.flash("This task was deleted.", "error");
        return;
      }
      const data = JSON.parse(msg.data);
      if (seen.has(data.sequence)) return;
      seen.add(data.sequence);
      timeline.prepend(eventView(data.timeline));
      soon();
    },
  });

  return {
    live: true,
    refresh,
    showError(message) {
      clear(detail).append(h("p", { class: "error", role: "alert" }, message));
    },
    dispose() {
      stop();
      clearTimeout(timer);
      void loading;
    },
  };
}
