// Usage: tokens and cost per agent and per day over a chosen range, from
// GET /api/observe/usage?group_by=agent,day, as SVG charts with the numbers beside them.

import * as api from "./api.js";
import { clear, h, num, table } from "./dom.js";
import { PALETTE, stackedBars } from "./charts.js";

const DAY = 86400000;
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

function days(since, until) {
  const out = [];
  for (let t = Date.parse(since); t <= Date.parse(until) && out.length < 366; t += DAY) out.push(isoDay(t));
  return out;
}

export function mount({ main, params, app }) {
  document.title = "Usage · Taskloom";
  const until = params.get("until") || isoDay(Date.now());
  const since = params.get("since") || isoDay(Date.parse(until) - 6 * DAY);
  const sinceIn = h("input", { type: "date", name: "since", value: since });
  const untilIn = h("input", { type: "date", name: "until", value: until });
  const form = h("form", { class: "filters" }, h("label", {}, "From", sinceIn), h("label", {}, "To", untilIn),
    h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    app.navigate(`/ui/usage?${api.query({ since: sinceIn.value, until: untilIn.value })}`);
  });
  const body = h("div", {});
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Usage")), form, body);

  return {
    showError(message) {
      clear(body).append(h("section", { class: "card" }, h("p", { class: "error", role: "alert" },
        `The usage report is not available: ${message}`)));
    },
    async refresh() {
      const report = await api.get("/api/observe/usage", {
        group_by: "agent,day", since: `${since}T00:00:00Z`, until: new Date(Date.parse(until) + DAY).toISOString(),
      });
      const cats = days(since, until);
      const agents = [...new Set(report.groups.map((g) => g.agent ?? "(none)"))].sort();
      const cell = Object.fromEntries(report.groups.map((g) => [`${g.agent ?? "(none)"}|${g.day}`, g]));
      const series = (field) => agents.map((a) => ({ name: a, values: cats.map((d) => (cell[`${a}|${d}`] || {})[field] || 0) }));
      const tokens = agents.map((a) => ({ name: a, values: cats.map((d) => {
        const g = cell[`${a}|${d}`];
        return g ? (g.input_tokens || 0) + (g.output_tokens || 0) : 0;
      }) }));
      const totals = agents.map((a, k) => {
        const mine = report.groups.filter((g) => (g.agent ?? "(none)") === a);
        const sum = (f) => mine.reduce((x, g) => x + (g[f] || 0), 0);
        return h("tr", {},
          h("td", {}, h("span", { class: "swatch", dataset: { k: k % PALETTE.length } }), a),
          h("td", { class: "num" }, num(sum("input_tokens"))), h("td", { class: "num" }, num(sum("output_tokens"))),
          h("td", { class: "num" }, num(sum("cost"), 4)), h("td", { class: "num" }, num(sum("runs"))));
      });
      const perDay = report.groups.slice().sort((x, y) => (x.day < y.day ? -1 : x.day > y.day ? 1 : 0)).map((g) => h("tr", {},
        h("td", {}, g.day), h("td", {}, g.agent ?? "(none)"), h("td", { class: "num" }, num(g.input_tokens)),
        h("td", { class: "num" }, num(g.output_tokens)), h("td", { class: "num" }, num(g.cost, 4)),
        h("td", { class: "num" }, num(g.runs))));
      clear(body).append(
        h("div", { class: "grid" },
          h("section", { class: "card wide" }, h("h2", {}, "Tokens per day"),
            stackedBars({ categories: cats, series: tokens }, { format: (v) => num(v), title: "tokens per day, by agent" })),
          h("section", { class: "card wide" }, h("h2", {}, "Cost per day"),
            stackedBars({ categories: cats, series: series("cost") }, { format: (v) => num(v, 2), title: "cost per day, by agent" })),
          h("section", { class: "card" }, h("h2", {}, "Per agent"),
            table(["Agent", "Input tokens", "Output tokens", "Cost", "Runs"], totals, "No usage in this range.")),
          h("section", { class: "card" }, h("h2", {}, "Per agent and day"),
            table(["Day", "Agent", "Input", "Output", "Cost", "Runs"], perDay, "No usage in this range."))));
    },
  };
}
