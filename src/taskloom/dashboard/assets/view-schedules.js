// Schedules: GET /tasks (seed 003) with kind, expression, timezone, next fire and last outcome;
// "Pause", "Resume" and "Run now" call the schedule's own endpoints.

import * as api from "./api.js";
import { ago, badge, clear, h, link, localTime, table } from "./dom.js";

const enc = encodeURIComponent;

export function mount({ main, app }) {
  document.title = "Schedules · Taskloom";
  const body = h("div", {});
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Schedules")), body);

  async function act(label, sched, path) {
    try {
      await api.post(`/tasks/${enc(sched.id)}/${path}`);
      app.flash(`${label}: ${sched.identifier ?? sched.title}`);
      await app.refresh();
    } catch (err) {
      app.flash(`${label} ${sched.identifier ?? sched.title} refused: ${err.message}`, "error");
    }
  }

  return {
    async refresh() {
      const { tasks, total } = await api.get("/tasks", { limit: 200 });
      const rows = tasks.map((t) => h("tr", { dataset: { schedule: t.id } },
        h("td", {}, link(`/ui/tasks/${enc(t.id)}`, t.title), h("div", { class: "muted" }, t.identifier ?? "")),
        h("td", {}, badge(t.status)), h("td", {}, t.schedule_kind),
        h("td", {}, h("code", {}, t.schedule_expr ?? "—")), h("td", {}, t.timezone),
        h("td", {}, t.next_run_at ? `${localTime(t.next_run_at)} (${ago(t.next_run_at)})` : "—"),
        h("td", {}, t.last_run_at ? [badge(t.task_status), ` ${ago(t.last_run_at)}`] : "never fired"),
        h("td", { class: "actions" },
          t.status === "active" ? h("button", { type: "button", onclick: () => act("Paused", t, "pause") }, "Pause") : null,
          t.status === "paused" ? h("button", { type: "button", onclick: () => act("Resumed", t, "resume") }, "Resume") : null,
          t.status !== "canceled" ? h("button", { type: "button", onclick: () => act("Run now", t, "run_now") }, "Run now") : null)));
      clear(body).append(h("section", { class: "card" },
        h("p", { class: "muted" }, `${total} scheduled tasks`),
        table(["Task", "Status", "Kind", "Expression", "Timezone", "Next fire", "Last outcome", ""], rows,
          "No scheduled task (POST /tasks).")));
    },
  };
}
