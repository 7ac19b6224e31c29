// The dashboard shell: routes /ui/... paths to one view module each, draws the navigation, shows
// messages, and polls the current view (every 5 s at most, never while the tab is hidden or while
// the person is typing). Task pages are live over their event stream instead.

import * as api from "./api.js";
import { clear, h, link } from "./dom.js";
import * as agents from "./view-agents.js";
import * as inbox from "./view-inbox.js";
import * as queues from "./view-queues.js";
import * as schedules from "./view-schedules.js";
import * as signin from "./view-signin.js";
import * as task from "./view-task.js";
import * as tasks from "./view-tasks.js";
import * as usage from "./view-usage.js";

const POLL_MS = 5000;
const NAV = [["/ui", "Inbox"], ["/ui/tasks", "Tasks"], ["/ui/agents", "Agents"], ["/ui/queues", "Queues"],
  ["/ui/schedules", "Schedules"], ["/ui/usage", "Usage"]];

const root = document.getElementById("app");
let current = null; // {view, dispose}
let signinMessage = null;

function route(pathname) {
  const parts = pathname.replace(/\/+$/, "").split("/").slice(2).map(decodeURIComponent); // after "/ui"
  if (parts.length === 0 || parts[0] === "inbox") return { module: inbox, nav: "/ui" };
  if (parts[0] === "signin") return { module: signin, nav: null };
  if (parts[0] === "tasks" && parts[1]) return { module: task, nav: "/ui/tasks", id: parts[1] };
  const simple = { tasks, agents, queues, schedules, usage }[parts[0]];
  if (simple) return { module: simple, nav: `/ui/${parts[0]}` };
  return { module: null, nav: null };
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  show();
}

function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  if (!box) return;
  const item = h("div", { class: `flash ${kind}`, role: kind === "error" ? "alert" : "status" }, message,
    h("button", { type: "button", class: "quiet", "aria-label": "Close message", onclick: () => item.remove() }, "×"));
  box.prepend(item);
  while (box.children.length > 4) box.lastChild.remove();
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
}

function shell(navActive) {
  const me = api.whoAmI();
  const main = h("main", { id: "main" });
  clear(root).append(
    h("header", { class: "top" },
      h("span", { class: "brand" }, "Taskloom"),
      h("nav", {}, NAV.map(([path, label]) => h("a", {
        href: path, "data-nav": "", class: path === navActive ? "active" : null,
        "aria-current": path === navActive ? "page" : null,
      }, label, path === "/ui" ? h("span", { id: "unread", class: "count", hidden: true }) : null))),
      h("span", { class: "who" }, me ? `${me.sub} · ${me.role}` : "signed in"),
      h("button", { type: "button", class: "quiet", onclick: () => { api.signOut(); navigate("/ui/signin"); } }, "Sign out")),
    h("div", { id: "flash", class: "flash-box" }),
    main);
  return main;
}

async function show() {
  if (current && current.dispose) current.dispose();
  current = null;
  const { pathname, search } = window.location;
  const r = route(pathname);
  if (r.module !== signin && !api.token()) {
    history.replaceState(null, "", `/ui/signin?next=${encodeURIComponent(pathname + search)}`);
    return show();
  }
  const app = { flash, navigate, refresh: () => refresh() };
  if (r.module === signin) {
    clear(root);
    const main = h("main", { id: "main", class: "signin-main" });
    root.append(main);
    current = signin.mount({ main, params: new URLSearchParams(search), app, message: signinMessage }) || {};
    signinMessage = null;
    return;
  }
  const main = shell(r.nav);
  if (!r.module) {
    main.append(h("h1", {}, "Not found"), h("p", {}, "No such page. ", link("/ui", "Go to the inbox.")));
    return;
  }
  current = r.module.mount({ main, params: new URLSearchParams(search), id: r.id, app }) || {};
  await refresh();
}

async function refresh() {
  if (!current || !current.refresh) return;
  try {
    await current.refresh();
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 401) {
      api.signOut();
      signinMessage = err.message;
      navigate(`/ui/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
      return;
    }
    if (current && current.showError) current.showError(err.message);
    else flash(err.message, "error");
  }
  updateUnread();
  schedulePoll();
}

// The unread count in the navigation comes from the inbox API, like the inbox lanes.
let unreadAt = 0;
async function updateUnread() {
  const badge = document.getElementById("unread");
  if (!badge || Date.now() - unreadAt < POLL_MS) return;
  unreadAt = Date.now();
  try {
    const { inbox: box } = await api.get("/api/observe/tasks/inbox", { limit: 1 });
    badge.textContent = String(box.unread_total);
    badge.hidden = box.unread_total === 0;
  } catch {
    badge.hidden = true;
  }
}

function busy() {
  const el = document.activeElement;
  const main = document.getElementById("main");
  if (main && el && main.contains(el) && ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) return true;
  return Boolean(main && [...main.querySelectorAll(".confirm")].some((c) => !c.hidden));
}

// The next poll is 5 s after the last refresh: a view change or a visit back to the tab
// refreshes at once and starts the wait again, so the API is never asked twice within 5 s.
let pollTimer = null;
function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => {
    if (document.visibilityState !== "visible" || !current || current.live || busy()) schedulePoll();
    else refresh();
  }, POLL_MS);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && current && !current.live) refresh();
});

document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a[data-nav]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  ev.preventDefault();
  navigate(a.getAttribute("href"));
});

window.addEventListener("popstate", show);
show();
