/**
 * The Grafana dashboard's queries (manifests/monitoring/pinpool-dashboard.json), with
 * Grafana's built-in variables filled the way Grafana fills them, so a real Prometheus can
 * answer exactly what each panel would ask.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { MONITORING_DIR } from "./rules.js";

export const DASHBOARD_PATH = path.join(MONITORING_DIR, "pinpool-dashboard.json");

export interface PanelQuery {
  panel: string;
  type: string;
  refId: string;
  expr: string;
  /** Grafana's legendFormat, e.g. "{{pool}}". */
  legend: string;
  /** Grafana asks for one sample at the end of the range (tables, bar charts, stats). */
  instant: boolean;
}

interface Dashboard {
  panels: Array<{ title: string; type: string; targets?: Array<{ refId: string; expr: string; legendFormat?: string; instant?: boolean }> }>;
}

export function panelQueries(dashboardText: string = readFileSync(DASHBOARD_PATH, "utf8")): PanelQuery[] {
  const dashboard = JSON.parse(dashboardText) as Dashboard;
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, type: p.type, refId: t.refId, expr: t.expr, legend: t.legendFormat ?? "", instant: t.instant === true })));
}

export interface QueryWindow {
  /** Grafana's $__interval: the step between points. */
  intervalSeconds: number;
  /** The data source's scrape interval. */
  scrapeSeconds: number;
  /** The dashboard's time range ($__range). */
  rangeSeconds: number;
}

/**
 * `expr` with Grafana's built-in variables replaced. $__rate_interval is
 * max($__interval + scrape interval, 4 × scrape interval), as Grafana computes it
 * (https://grafana.com/docs/grafana/latest/datasources/prometheus/template-variables/#use-__rate_interval).
 * Throws on any other variable: the dashboard defines none that a query may use.
 */
export function fillGrafanaVariables(expr: string, w: QueryWindow): string {
  const values: Record<string, string> = {
    __interval: `${w.intervalSeconds}s`,
    __interval_ms: String(w.intervalSeconds * 1000),
    __rate_interval: `${Math.max(w.intervalSeconds + w.scrapeSeconds, 4 * w.scrapeSeconds)}s`,
    __range: `${w.rangeSeconds}s`,
    __range_s: String(w.rangeSeconds),
    __range_ms: String(w.rangeSeconds * 1000),
  };
  return expr.replace(/\$(?:\{(\w+)\}|(\w+))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const value = values[name];
    if (value === undefined) throw new Error(`query ${JSON.stringify(expr)} uses ${whole}; known variables: ${Object.keys(values).map((v) => `$${v}`).join(", ")}`);
    return value;
  });
}
