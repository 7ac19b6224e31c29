// Queues: every channel and work queue from GET /api/observe/queues: depth, oldest queued age,
// active and stuck runs, and a sparkline of the depth over the last hour.

import * as api from "./api.js";
import { clear, duration, h, link, num, table } from "./dom.js";
import { sparkline } from "./charts.js";

export function mount({ main }) {
  document.title = "Queues · Taskloom";
  const body = h("div", {});
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Queues")), body);
  return {
    async refresh() {
      const { queues } = await api.get("/api/observe/queues");
      const rows = queues.map((q) => {
        const channel = q.network_channel;
        const name = q.work_queue ? `${q.work_queue.name} (team ${q.work_queue.team_id})` : channel ?? "(no channel)";
        const tasks = channel === null ? "/ui/tasks" : `/ui/tasks?${api.query({ channel })}`;
        return h("tr", { dataset: { channel: channel ?? "" } },
          h("td", {}, link(tasks, name), q.work_queue ? h("div", { class: "muted" }, channel) : null),
          h("td", { class: "num" }, num(q.depth)),
          h("td", {}, q.oldest_queued_at ? duration(q.oldest_queue_age_ms) : "—"),
          h("td", { class: "num" }, num(q.active_runs)),
          h("td", { class: `num${q.stuck_runs ? " bad" : ""}` }, num(q.stuck_runs)),
          h("td", {}, sparkline(q.depth_history, { title: `depth over the last hour: ${q.depth_history.join(", ")}` })));
      });
      clear(body).append(h("section", { class: "card" },
        table(["Queue", "Depth", "Oldest queued", "Active runs", "Stuck runs", "Depth, last hour"], rows,
          "No queue has work yet.")));
    },
  };
}
