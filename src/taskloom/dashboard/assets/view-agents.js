// Agents: the registry (GET /api/agents) with what each one is doing now (GET /api/observe/agents):
// state, current run, last heartbeat and a lease countdown. "Pause" and "Resume" PATCH the state.

import * as api from "./api.js";
import { ago, badge, clear, duration, h, link, table } from "./dom.js";

const enc = encodeURIComponent;

function countdown(iso) {
  const el = h("span", { class: "lease", dataset: { until: iso } });
  tick(el);
  return el;
}

function tick(el) {
  const ms = Date.parse(el.dataset.until) - Date.now();
  el.textContent = ms >= 0 ? `${duration(ms)} left` : `lapsed ${duration(-ms)} ago`;
  el.classList.toggle("bad", ms < 0);
}

function runCell(runs) {
  if (!runs.length) return h("span", { class: "muted" }, "idle");
  return runs.map((r) => h("div", {}, link(`/ui/tasks/${enc(r.task_id)}`, `${r.task_identifier ?? ""} ${r.task_title ?? r.task_id}`),
    " ", badge(r.status), r.stuck ? h("span", { class: "bad" }, " stuck") : null));
}

// The heartbeat of a live run; for an idle agent, when it last claimed work (in the last hour).
function lastSeen(act) {
  if (act.last_heartbeat_at) return ago(act.last_heartbeat_at);
  return act.last_claimed_at ? h("span", { class: "muted" }, `idle; last claim ${ago(act.last_claimed_at)}`) : "—";
}

function leaseCell(runs) {
  const leased = runs.filter((r) => r.lease_until);
  return leased.length ? leased.map((r) => h("div", {}, countdown(r.lease_until))) : "—";
}

export function mount({ main, app }) {
  document.title = "Agents · Taskloom";
  const body = h("div", {});
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Agents")), body);
  const ticker = setInterval(() => main.querySelectorAll(".lease").forEach(tick), 1000);

  async function setState(agent, state) {
    try {
      await api.patch(`/api/agents/${enc(agent.id)}`, { state });
      app.flash(`${state === "paused" ? "Paused" : "Resumed"}: ${agent.id}`);
      await app.refresh();
    } catch (err) {
      app.flash(`${state === "paused" ? "Pause" : "Resume"} ${agent.id} refused: ${err.message}`, "error");
    }
  }

  return {
    async refresh() {
      const [{ agents }, activity] = await Promise.all([api.get("/api/agents", { limit: 1000 }), api.get("/api/observe/agents")]);
      const byRef = new Map(activity.agents.map((a) => [a.claimer.ref, a]));
      const rows = agents.map((a) => {
        const act = byRef.get(a.id) || { live_runs: [], last_heartbeat_at: null, last_claimed_at: null };
        byRef.delete(a.id);
        return h("tr", { dataset: { agent: a.id } },
          h("td", {}, h("strong", {}, a.id), a.name && a.name !== a.id ? h("div", { class: "muted" }, a.name) : null),
          h("td", {}, a.team ?? "—"),
          h("td", {}, badge(a.state), a.state_reason ? h("div", { class: "muted" }, a.state_reason) : null),
          h("td", {}, runCell(act.live_runs)), h("td", {}, lastSeen(act)), h("td", {}, leaseCell(act.live_runs)),
          h("td", {}, a.state === "active"
            ? h("button", { type: "button", onclick: () => setState(a, "paused") }, "Pause")
            : h("button", { type: "button", class: "primary", onclick: () => setState(a, "active") }, "Resume")));
      });
      const others = [...byRef.values()].map((a) => h("tr", {},
        h("td", {}, `${a.claimer.kind}:${a.claimer.ref}`), h("td", {}, runCell(a.live_runs)),
        h("td", {}, lastSeen(a)), h("td", {}, leaseCell(a.live_runs)), h("td", { class: "num" }, a.recent_runs)));
      clear(body).append(
        h("section", { class: "card" }, h("h2", {}, "Registered agents"),
          table(["Agent", "Team", "State", "Current run", "Last heartbeat", "Lease", ""], rows,
            "No agent is registered (POST /api/agents).")),
        h("section", { class: "card" }, h("h2", {}, "Other workers"),
          h("p", { class: "hint muted" }, "Callers that claimed work in the last hour without being registered."),
          table(["Caller", "Current run", "Last heartbeat", "Lease", "Runs (1 h)"], others, "None.")));
    },
    dispose() {
      clearInterval(ticker);
    },
  };
}
