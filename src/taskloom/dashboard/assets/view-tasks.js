// Tasks: GET /api/tasks filtered by status, channel, owner and search text, with paging.
// The filters live in the URL, so a filtered page is a link that survives a reload.

import * as api from "./api.js";
import { actorText, ago, badge, clear, h, table, taskLink } from "./dom.js";

const STATUSES = ["", "draft", "pending", "blocked", "ready", "in_progress", "completed", "failed", "canceled"];
const PAGE = 25;

function ownerFilter(text) {
  const value = (text || "").trim();
  if (!value) return {};
  const colon = value.indexOf(":");
  return colon > 0 ? { owner_kind: value.slice(0, colon), owner_ref: value.slice(colon + 1) } : { owner_ref: value };
}

export function mount({ main, params, app }) {
  document.title = "Tasks · Taskloom";
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const field = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, value: params.get(name) || "", ...attrs }));
  const status = h("select", { name: "status" },
    STATUSES.map((st) => h("option", { value: st, selected: st === (params.get("status") || "") }, st || "any")));
  const form = h("form", { class: "filters", role: "search" },
    h("label", {}, "Status", status),
    field("channel", "Channel"),
    field("owner", "Owner", { placeholder: "kind:ref or ref" }),
    field("q", "Search", { type: "search", placeholder: "title or TL-42" }),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    app.navigate(`/ui/tasks?${api.query(data)}`);
  });
  const body = h("div", {});
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Tasks")), form, body);

  const pageLink = (to, label) => {
    const q = new URLSearchParams(params);
    q.set("offset", String(to));
    return h("a", { href: `/ui/tasks?${q}`, "data-nav": "" }, label);
  };

  return {
    async refresh() {
      const st = params.get("status") || "";
      const { tasks } = await api.get("/api/tasks", {
        status: st, include_drafts: st === "draft" ? "true" : "", network_channel: params.get("channel"),
        query: params.get("q"), ...ownerFilter(params.get("owner")), limit: PAGE + 1, offset,
      });
      const rows = tasks.slice(0, PAGE).map((t) => h("tr", {},
        h("td", {}, taskLink(t)), h("td", {}, badge(t.status)), h("td", {}, t.priority),
        h("td", {}, actorText(t.owner)), h("td", {}, t.network_channel ?? "—"),
        h("td", { class: "num" }, `${t.attempts}/${t.max_attempts}`),
        h("td", {}, !t.active_run ? "—" : t.active_run.claimed_by
          ? `${t.active_run.status} by ${actorText(t.active_run.claimed_by)}` : t.active_run.status),
        h("td", {}, ago(t.last_activity_at || t.updated_at))));
      clear(body).append(
        table(["Task", "Status", "Priority", "Owner", "Channel", "Attempts", "Active run", "Activity"], rows,
          "No task matches."),
        h("nav", { class: "pager", "aria-label": "Pages" },
          offset > 0 ? pageLink(Math.max(0, offset - PAGE), "← Previous") : null,
          h("span", { class: "muted" }, tasks.length ? `${offset + 1}–${offset + Math.min(PAGE, tasks.length)}` : ""),
          tasks.length > PAGE ? pageLink(offset + PAGE, "Next →") : null));
    },
  };
}
