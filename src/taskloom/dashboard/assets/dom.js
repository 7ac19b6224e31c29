// DOM helpers. Every value from the API becomes a text node or an attribute value:
// nothing is ever parsed as HTML, so a title like <img src=x onerror=...> shows as text.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("a", {href: "/ui"}, "text", otherNode): an element with text-only children. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** A link inside the dashboard: the app intercepts the click (no reload). */
export function link(path, ...children) {
  return h("a", { href: path, "data-nav": "" }, ...children);
}

export function taskLink(task) {
  if (!task) return "";
  return link(`/ui/tasks/${encodeURIComponent(task.id)}`, task.identifier ? `${task.identifier} ` : "", task.title ?? task.id);
}

export function pretty(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function actorText(a) {
  return a ? `${a.kind}:${a.ref}` : "—";
}

export function badge(status) {
  return h("span", { class: `badge st-${String(status).replace(/[^a-z_]/g, "")}` }, status ?? "—");
}

/** "3 min ago" / "in 20 s" from an ISO time. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "—";
  const ms = now - Date.parse(iso);
  const text = duration(Math.abs(ms));
  return ms >= 0 ? `${text} ago` : `in ${text}`;
}

export function duration(ms) {
  const sec = Math.round(ms / 1000);
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${sec % 60} s`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`;
  return `${Math.floor(sec / 86400)} d ${Math.floor((sec % 86400) / 3600)} h`;
}

export function localTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function table(headers, rows, empty = "Nothing here.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

/** A number with thousands separators. */
export function num(n, digits = 0) {
  return Number(n || 0).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
