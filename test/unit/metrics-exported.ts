/** The metric families each process's registry exports (names as in `# TYPE` lines). */
import type { Registry } from "prom-client";
import { AgentMetrics } from "../../src/metrics/agent.js";
import { HISTOGRAM_SUFFIXES } from "../../src/metrics/names.js";
import { ReconcileMetrics } from "../../src/metrics/reconcile.js";
import { WebhookMetrics } from "../../src/metrics/webhook.js";

async function families(registry: Registry): Promise<Array<{ name: string; type: string }>> {
  return [...(await registry.metrics()).matchAll(/^# TYPE (\S+) (\S+)/gm)].map((m) => ({ name: m[1] as string, type: m[2] as string }));
}

async function byProcess(): Promise<{ controller: Array<{ name: string; type: string }>; agent: Array<{ name: string; type: string }> }> {
  const controller = new WebhookMetrics(false);
  new ReconcileMetrics(controller.registry);
  return { controller: await families(controller.registry), agent: await families(new AgentMetrics(false).registry) };
}

export async function exportedMetricNames(): Promise<{ controller: string[]; agent: string[] }> {
  const { controller, agent } = await byProcess();
  return { controller: controller.map((f) => f.name), agent: agent.map((f) => f.name) };
}

/** Every series name a query may use: the families, plus _bucket/_sum/_count of histograms. */
export async function queryableMetricNames(): Promise<Set<string>> {
  const { controller, agent } = await byProcess();
  const out = new Set<string>();
  for (const f of [...controller, ...agent]) {
    out.add(f.name);
    if (f.type === "histogram") for (const suffix of HISTOGRAM_SUFFIXES) out.add(f.name + suffix);
  }
  return out;
}

/**
 * Each metric's label names. prom-client keeps a metric's configuration on the metric
 * (its Metric constructor assigns it) but leaves labelNames out of its types.
 */
export function exportedLabelNames(): Record<string, string[]> {
  const controller = new WebhookMetrics(false);
  new ReconcileMetrics(controller.registry);
  const metrics = [...controller.registry.getMetricsAsArray(), ...new AgentMetrics(false).registry.getMetricsAsArray()];
  return Object.fromEntries(metrics.map((m) => [m.name, [...(m as unknown as { labelNames: readonly string[] }).labelNames]]));
}
