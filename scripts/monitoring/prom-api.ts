/** A small client of Prometheus's HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/). */

export interface Series {
  metric: Record<string, string>;
  /** [unix seconds, value as Prometheus prints it ("NaN" included)] */
  values: Array<[number, string]>;
}

interface ApiAnswer<T> {
  status: "success" | "error";
  data?: T;
  errorType?: string;
  error?: string;
}

async function get<T>(base: string, api: string, params: Record<string, string>): Promise<T> {
  const url = `${base}/api/v1/${api}?${new URLSearchParams(params).toString()}`;
  const res = await fetch(url);
  const body = (await res.json().catch(() => ({ status: "error", error: `HTTP ${res.status}, body is not JSON` }))) as ApiAnswer<T>;
  if (body.status !== "success" || body.data === undefined) {
    throw new Error(`Prometheus refused ${api} ${JSON.stringify(params)}: ${body.errorType ?? `HTTP ${res.status}`}: ${body.error ?? "no error message"}`);
  }
  return body.data;
}

/** An instant query at `time` (unix seconds; now if omitted), as series of one sample each. */
export async function query(base: string, expr: string, time?: number): Promise<Series[]> {
  const data = await get<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> | [number, string] }>(base, "query", {
    query: expr,
    ...(time === undefined ? {} : { time: String(time) }),
  });
  if (data.resultType === "scalar" || data.resultType === "string") return [{ metric: {}, values: [data.result as [number, string]] }];
  return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => ({ metric: r.metric, values: [r.value] }));
}

/** A range query from `start` to `end` (unix seconds) every `stepSeconds`. */
export async function queryRange(base: string, expr: string, start: number, end: number, stepSeconds: number): Promise<Series[]> {
  const data = await get<{ result: Series[] }>(base, "query_range", { query: expr, start: String(start), end: String(end), step: `${stepSeconds}s` });
  return data.result;
}

export interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
}

export async function activeTargets(base: string): Promise<Target[]> {
  return (await get<{ activeTargets: Target[] }>(base, "targets", { state: "active" })).activeTargets;
}

export interface RuleState {
  name: string;
  query: string;
  health: string;
  lastError?: string;
  state?: string;
}

/** Every loaded rule with its evaluation health. */
export async function rules(base: string): Promise<RuleState[]> {
  return (await get<{ groups: Array<{ rules: RuleState[] }> }>(base, "rules", {})).groups.flatMap((g) => g.rules);
}
