// Small SVG charts: a sparkline and a stacked bar chart. Labels are text nodes (see dom.js).

import { s } from "./dom.js";

export const PALETTE = ["#3b6fd8", "#e07b39", "#2f9e6a", "#b0479b", "#c9a227", "#5a5fa8", "#d64545", "#3a9bb0"];

/** A line of values, scaled to its own maximum; the last point is marked. */
export function sparkline(values, { width = 120, height = 28, title = "" } = {}) {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? (width - 4) / (values.length - 1) : 0;
  const points = values.map((v, i) => [2 + i * step, height - 2 - (v / max) * (height - 4)]);
  const path = points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const [lx, ly] = points[points.length - 1] || [0, height];
  return s("svg", { class: "sparkline", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title },
    s("title", {}, title),
    s("path", { d: path, fill: "none", stroke: "currentColor", "stroke-width": 1.5 }),
    s("circle", { cx: lx, cy: ly, r: 2.5, fill: "currentColor" }));
}

/**
 * Stacked bars: one bar per category (x), one coloured segment per series.
 * data: {categories: [..], series: [{name, values: [..]}]}; format(v) labels the totals.
 */
export function stackedBars({ categories, series }, { width = 640, height = 220, format = String, title = "" } = {}) {
  const pad = { left: 8, right: 8, top: 18, bottom: 34 };
  const totals = categories.map((_, i) => series.reduce((sum, sr) => sum + (sr.values[i] || 0), 0));
  const max = Math.max(1e-9, ...totals);
  const inner = width - pad.left - pad.right;
  const slot = categories.length ? inner / categories.length : inner;
  const bar = Math.max(4, Math.min(48, slot * 0.7));
  const plotH = height - pad.top - pad.bottom;
  const parts = [s("title", {}, title),
    s("line", { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom, stroke: "#c8ccd4" })];
  categories.forEach((cat, i) => {
    const x = pad.left + i * slot + (slot - bar) / 2;
    let y = height - pad.bottom;
    series.forEach((sr, k) => {
      const v = sr.values[i] || 0;
      const hgt = (v / max) * plotH;
      if (hgt > 0) {
        y -= hgt;
        parts.push(s("rect", { x, y, width: bar, height: hgt, fill: PALETTE[k % PALETTE.length] },
          s("title", {}, `${sr.name} · ${cat}: ${format(v)}`)));
      }
    });
    parts.push(s("text", { x: x + bar / 2, y: y - 4, "text-anchor": "middle", class: "chart-num" }, format(totals[i])));
    parts.push(s("text", { x: x + bar / 2, y: height - pad.bottom + 14, "text-anchor": "middle", class: "chart-label" },
      String(cat).slice(5)));
  });
  return s("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title },
    ...parts);
}
