import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { METRIC } from "./names.js";

/** The reconcilers' metrics, in the controller's registry. Gauges are exported by the leader only. */
export class ReconcileMetrics {
  readonly poolTotal: Gauge<"pool">;
  readonly poolAllocated: Gauge<"pool">;
  readonly subnetTotal: Gauge<"subnet">;
  readonly subnetAllocated: Gauge<"subnet">;
  readonly gcActions: Counter<"action">;
  readonly errors: Counter<"step">;
  readonly sweepDuration: Histogram;
  readonly leader: Gauge;
  readonly conflicts: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    // Labelled by pool alone: the pool alert and panels group by pool, and a label nothing
    // queries would only widen what a scrape tells (README "Who sees what").
    this.poolTotal = new Gauge({ name: METRIC.poolTotal, help: "Addresses of a SpiderIPPool (spec.ips less spec.excludeIPs).", labelNames: ["pool"], registers });
    this.poolAllocated = new Gauge({ name: METRIC.poolAllocated, help: "Addresses of a SpiderIPPool held by pods or StatefulSet ordinals.", labelNames: ["pool"], registers });
    this.subnetTotal = new Gauge({ name: METRIC.subnetTotal, help: "Addresses of a SpiderSubnet (spec.ips less spec.excludeIPs).", labelNames: ["subnet"], registers });
    this.subnetAllocated = new Gauge({ name: METRIC.subnetAllocated, help: "Addresses of a SpiderSubnet reserved by its pools.", labelNames: ["subnet"], registers });
    this.gcActions = new Counter({
      name: METRIC.gcActions,
      help: "Reconciler actions: adopt_pool, resize_pool, delete_pool, reserve_missing_pool, release_pool (a deleted pool's ledger claims), release_subnet, add_finalizer, release_allocation, delete_endpoint, restore_endpoint, trim_ledger, repair_ledger (a stored object's missing claim added).",
      labelNames: ["action"],
      registers,
    });
    this.errors = new Counter({ name: METRIC.reconcileErrors, help: "Reconciler steps that failed for one object (retried at the next sweep), by step.", labelNames: ["step"], registers });
    this.sweepDuration = new Histogram({ name: METRIC.reconcileDuration, help: "Time of one reconcile sweep over the whole cluster.", buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.leader = new Gauge({ name: METRIC.leader, help: "1 on the replica that holds the Lease and runs the reconcilers, else 0.", registers });
    this.conflicts = new Gauge({
      name: METRIC.addressConflicts,
      help: "Pairs of stored objects (SpiderIPPools, or SpiderSubnets) that share addresses; each carries a Conflict condition naming the other. 0 on a healthy cluster.",
      registers,
    });
  }

  /** A replica that stops leading stops exporting the cluster's gauges (the new leader does). */
  clearGauges(): void {
    for (const g of [this.poolTotal, this.poolAllocated, this.subnetTotal, this.subnetAllocated, this.conflicts]) g.reset();
  }
}
