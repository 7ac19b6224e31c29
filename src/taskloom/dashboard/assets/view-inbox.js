// Inbox, the landing page: what needs a person. Lanes, counts and unread state come from
// GET /api/observe/tasks/inbox; each item carries the actions that fit it.

import { taskActions } from "./actions.js";
import * as api from "./api.js";
import { actorText, ago, badge, clear, h, link, taskLink } from "./dom.js";

const LANES = [
  ["approvals", "Approvals", "Tasks waiting for a person to approve them."],
  ["questions", "Questions from agents", "Agents waiting for an answer."],
  ["failed_runs", "Failed", "Tasks whose attempts ran out."],
  ["blocked", "Blocked", "What blocks them, and why."],
  ["my_work", "My work", "Open tasks you own."],
];
const ARCHIVED = [["archived", "Archived", "What you archived."]];
const EXTRA = { budgets: "Budgets spent" };

function detail(item) {
  if (item.lane === "questions") return h("p", { class: "question" }, h("strong", {}, "Agent asks: "), item.question ?? "(no question text)");
  if (item.lane === "failed_runs" && item.run && item.run.error) return h("p", { class: "error-text" }, item.run.error);
  if (item.blocking_reason) return h("p", { class: "muted" }, item.blocking_reason);
  return null;
}

function itemView(item, app) {
  const t = item.task;
  if (!t) return h("li", { class: "item" }, h("p", {}, item.blocking_reason ?? "(no detail)")); // e.g. a spent budget
  return h("li", { class: `item${item.unread ? " unread" : ""}`, dataset: { task: t.id } },
    h("div", { class: "item-head" },
      item.unread ? h("span", { class: "dot", title: "unread" }, "unread") : null,
      taskLink(t), " ", badge(t.status),
      h("span", { class: "muted" }, ` · ${t.priority} · owner ${actorText(t.owner)} · ${ago(item.latest_activity_at)}`)),
    detail(item),
    taskActions({
      task: t, approvalPending: item.approval_state === "pending", awaitingInput: item.lane === "questions",
      runId: item.run && item.run.id,
      triage: item.triage, unread: item.unread,
    }, app));
}

export function mount({ main, params, app }) {
  document.title = "Inbox · Taskloom";
  const archived = params.get("lane") === "archived";
  const summary = h("p", { class: "muted" });
  const body = h("div", { class: "lanes" });
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, archived ? "Inbox: archived" : "Inbox"), summary,
      archived ? link("/ui", "Back to the inbox") : link("/ui?lane=archived", "Archived")),
    body);
  return {
    async refresh() {
      const { inbox } = await api.get("/api/observe/tasks/inbox", archived ? { lane: "archived" } : {});
      const groups = Object.fromEntries(inbox.groups.map((g) => [g.lane, g]));
      summary.textContent = `${inbox.total} items, ${inbox.unread_total} unread · ${inbox.archived_total} archived`;
      clear(body);
      // Lanes the API adds beyond these (e.g. spent budgets) show when they have something.
      const known = new Set(LANES.map(([lane]) => lane).concat("archived"));
      const extra = archived ? [] : inbox.groups.filter((g) => !known.has(g.lane) && g.count > 0)
        .map((g) => [g.lane, EXTRA[g.lane] || g.lane.replace(/_/g, " "), ""]);
      for (const [lane, title, hint] of archived ? ARCHIVED : [...LANES, ...extra]) {
        const g = groups[lane] || { count: 0, unread_count: 0, items: [] };
        body.append(h("section", { class: "card lane", id: `lane-${lane}`, "aria-label": title },
          h("h2", {}, title, " ", h("span", { class: "count" }, String(g.count)),
            g.unread_count ? h("span", { class: "count unread-count" }, `${g.unread_count} unread`) : null),
          hint ? h("p", { class: "hint muted" }, hint) : null,
          g.items.length ? h("ul", { class: "items" }, g.items.map((i) => itemView(i, app)))
            : h("p", { class: "muted empty" }, "Nothing here."),
          g.count > g.items.length ? h("p", { class: "muted" }, `… and ${g.count - g.items.length} more`) : null));
      }
    },
  };
}
