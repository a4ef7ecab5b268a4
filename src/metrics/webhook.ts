import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { casConflictCounter } from "./cas.js";
import { METRIC } from "./names.js";

/** The controller process's metrics: one registry, its own (no global state). */
export class WebhookMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: METRIC.webhookRequests,
    help: "Admission reviews answered, by webhook (validate|mutate), resource, operation and result (allowed|denied|error).",
    labelNames: ["webhook", "resource", "operation", "result"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: METRIC.webhookDuration,
    help: "Time to answer an admission review, API calls included.",
    labelNames: ["webhook", "resource", "operation"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: METRIC.webhookRefused,
    help: "Review requests refused before any decision, by reason: unauthenticated (no client certificate of the API server) or rate_limited (a source over its rate, PINPOOL_CLIENT_AUTH=none).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly provisionalClaims = new Counter({
    name: METRIC.provisionalClaims,
    help: "Admission claims settled at their deadline, by result: kept (the object was stored; the claim is cut to what it holds) or dropped (no such object was stored: a forged review, or one a later step refused).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly casConflicts = casConflictCounter(this.registry);

  constructor(withProcessMetrics = true) {
    // Series from 0, so an alert's rate() sees the first refusal too.
    for (const reason of ["unauthenticated", "rate_limited"]) this.refused.inc({ reason }, 0);
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: "pinpool_" });
  }
}
