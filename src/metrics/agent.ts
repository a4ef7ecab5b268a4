import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { casConflictCounter } from "./cas.js";
import { METRIC } from "./names.js";

/** The node agent's metrics: one registry, its own. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: METRIC.cniRequests,
    help: "CNI requests answered by the agent, by command (ADD|DEL|CHECK|STATUS|GC) and result (ok, code_<CNI error code>, error).",
    labelNames: ["command", "result"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: METRIC.cniDuration,
    help: "Time to answer a CNI request, API calls included.",
    labelNames: ["command"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly allocations = new Counter({
    name: METRIC.allocations,
    help: "Addresses newly given to pods (a retried ADD that gets its address back is not counted), by IP family.",
    labelNames: ["family"] as const,
    registers: [this.registry],
  });
  readonly releases = new Counter({
    name: METRIC.releases,
    help: "Addresses given back by CNI DEL (a StatefulSet ordinal kept by its set is not released).",
    registers: [this.registry],
  });
  readonly casConflicts = casConflictCounter(this.registry);

  constructor(withProcessMetrics = true) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: "pinpool_agent_" });
  }
}
