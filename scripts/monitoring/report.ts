/**
 * A self-contained HTML page (hand-written SVG, no script, no external asset) of pool and
 * subnet utilisation and CNI ADD latency over a run, from Prometheus's query_range answers
 * to the dashboard's own panel queries. `renderReport` is pure; `writeReport` asks Prometheus.
 */
import { writeFileSync } from "node:fs";
import { fillGrafanaVariables, panelQueries } from "./dashboard.js";
import { type Series, queryRange } from "./prom-api.js";

export interface Line {
  name: string;
  /** [unix seconds, value]; NaN leaves a gap */
  points: Array<[number, number]>;
}

export interface Chart {
  title: string;
  unit: "ratio" | "seconds";
  lines: Line[];
}

export interface ReportInput {
  title: string;
  start: number;
  end: number;
  charts: Chart[];
}

const W = 760;
const H = 240;
const PAD = { left: 64, right: 16, top: 12, bottom: 28 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function formatValue(v: number, unit: Chart["unit"]): string {
  if (unit === "ratio") return `${Math.round(v * 100)}%`;
  return v >= 1 ? `${v.toFixed(1)} s` : `${Math.round(v * 1000)} ms`;
}

/** Consecutive finite points, so a gap in the data is a gap in the line. */
function segments(points: Array<[number, number]>): Array<Array<[number, number]>> {
  const out: Array<Array<[number, number]>> = [[]];
  for (const p of points) {
    if (Number.isFinite(p[1])) (out[out.length - 1] as Array<[number, number]>).push(p);
    else if ((out[out.length - 1] as unknown[]).length > 0) out.push([]);
  }
  return out.filter((s) => s.length > 0);
}

/** One chart as an SVG element: time on x from `start` to `end`, value on y from 0. */
export function chartSvg(chart: Chart, start: number, end: number): string {
  const finite = chart.lines.flatMap((l) => l.points.map((p) => p[1]).filter(Number.isFinite));
  const top = chart.unit === "ratio" ? Math.max(1, ...finite) : Math.max(...finite, 0) * 1.1 || 1;
  const x = (t: number): number => PAD.left + ((t - start) / Math.max(end - start, 1)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = top * f;
    return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/><text x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${formatValue(v, chart.unit)}</text>`;
  });
  const seconds = Math.round(end - start);
  const axis = `<text x="${PAD.left}" y="${H - 8}">0 s</text><text x="${W - PAD.right}" y="${H - 8}" text-anchor="end">${seconds} s</text>`;
  // A marker on every sample too: latency exists only around ADDs, often a lone point.
  const lines = chart.lines.flatMap((l, i) => {
    const color = COLORS[i % COLORS.length] as string;
    return segments(l.points).flatMap((seg) => {
      const xy = seg.map(([t, v]) => [x(t).toFixed(1), y(v).toFixed(1)]);
      const dots = xy.map(([cx, cy]) => `<circle cx="${cx}" cy="${cy}" r="2" fill="${color}"/>`);
      return seg.length === 1 ? dots : [`<polyline fill="none" stroke="${color}" stroke-width="2" points="${xy.map((p) => p.join(",")).join(" ")}"/>`, ...dots];
    });
  });
  const empty = finite.length === 0 ? `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#a00">no data</text>` : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">${grid.join("")}${axis}${lines.join("")}${empty}</svg>`;
}

function legend(chart: Chart): string {
  return chart.lines
    .map((l, i) => {
      const last = [...l.points].reverse().find((p) => Number.isFinite(p[1]));
      return `<li><span style="background:${COLORS[i % COLORS.length]}"></span>${escape(l.name)}${last ? ` — ${formatValue(last[1], chart.unit)} (last value)` : ""}</li>`;
    })
    .join("");
}

export function renderReport(input: ReportInput): string {
  const sections = input.charts.map((c) => `<section><h2>${escape(c.title)}</h2>${chartSvg(c, input.start, input.end)}<ul>${legend(c)}</ul></section>`);
  const when = `${new Date(input.start * 1000).toISOString()} – ${new Date(input.end * 1000).toISOString()}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(input.title)}</title>
<style>body{font-family:sans-serif;margin:16px;color:#222}h1{font-size:18px}h2{font-size:14px;margin:16px 0 4px}ul{list-style:none;padding:0;margin:4px 0;font-size:12px}li span{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}</style>
</head><body><h1>${escape(input.title)}</h1><p>${escape(when)} (x: seconds since the start)</p>
${sections.join("\n")}
</body></html>
`;
}

/** Grafana's legendFormat applied to a series' labels: {{pool}} → the pool label. */
export function legendName(format: string, metric: Record<string, string>): string {
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, label: string) => metric[label] ?? "");
}

export const toLines = (series: Series[], format: string): Line[] =>
  series.map((s) => ({ name: legendName(format, s.metric), points: s.values.map(([t, v]) => [t, Number(v)] as [number, number]) })).sort((a, b) => a.name.localeCompare(b.name));

/** The dashboard panels the page shows, by title, with the unit of their values. */
const PANELS: Array<{ panel: string; unit: Chart["unit"] }> = [
  { panel: "Pool utilisation", unit: "ratio" },
  { panel: "Subnet reserved by pools", unit: "ratio" },
  { panel: "CNI ADD latency", unit: "seconds" },
];

/** Asks Prometheus at `url` for the panels over [start, end] and writes the page to `file`. */
export async function writeReport(url: string, start: number, end: number, scrapeSeconds: number, file: string): Promise<void> {
  const step = Math.max(scrapeSeconds, Math.ceil((end - start) / 300));
  const window = { intervalSeconds: step, scrapeSeconds, rangeSeconds: end - start };
  const queries = panelQueries();
  const charts: Chart[] = [];
  for (const { panel, unit } of PANELS) {
    const targets = queries.filter((q) => q.panel === panel);
    if (targets.length === 0) throw new Error(`the dashboard has no panel "${panel}"; the report shows ${PANELS.map((p) => p.panel).join(", ")}`);
    const lines: Line[] = [];
    for (const t of targets) lines.push(...toLines(await queryRange(url, fillGrafanaVariables(t.expr, window), start, end, step), t.legend));
    charts.push({ title: panel, unit, lines });
  }
  writeFileSync(file, renderReport({ title: "pinpool: pools, subnets and CNI ADD latency over the demo", start, end, charts }));
}
