import { expect } from "chai";
import { exportedLabelNames, exportedMetricNames } from "./metrics-exported.js";
import { METRIC } from "../../src/metrics/names.js";

describe("metric names (part of the API: dashboards and alerts query them)", () => {
  it("are exactly these", () => {
    expect(METRIC).to.deep.equal({
      webhookRequests: "pinpool_webhook_requests_total",
      webhookDuration: "pinpool_webhook_duration_seconds",
      webhookRefused: "pinpool_webhook_refused_total",
      provisionalClaims: "pinpool_provisional_claims_total",
      casConflicts: "pinpool_cas_conflicts_total",
      poolTotal: "pinpool_ippool_total_ips",
      poolAllocated: "pinpool_ippool_allocated_ips",
      subnetTotal: "pinpool_subnet_total_ips",
      subnetAllocated: "pinpool_subnet_allocated_ips",
      gcActions: "pinpool_gc_actions_total",
      reconcileErrors: "pinpool_reconcile_errors_total",
      reconcileDuration: "pinpool_reconcile_duration_seconds",
      leader: "pinpool_controller_leader",
      addressConflicts: "pinpool_address_conflicts",
      cniRequests: "pinpool_agent_cni_requests_total",
      cniDuration: "pinpool_agent_cni_duration_seconds",
      allocations: "pinpool_agent_allocations_total",
      releases: "pinpool_agent_releases_total",
    });
  });

  // Labels are API as much as names, and what they name is what a scrape tells: only the
  // pool and subnet gauges name objects, pools by `pool` alone (README "Who sees what").
  it("carry exactly these labels", () => {
    expect(exportedLabelNames()).to.deep.equal({
      pinpool_webhook_requests_total: ["webhook", "resource", "operation", "result"],
      pinpool_webhook_duration_seconds: ["webhook", "resource", "operation"],
      pinpool_webhook_refused_total: ["reason"],
      pinpool_provisional_claims_total: ["result"],
      pinpool_cas_conflicts_total: ["object"],
      pinpool_ippool_total_ips: ["pool"],
      pinpool_ippool_allocated_ips: ["pool"],
      pinpool_subnet_total_ips: ["subnet"],
      pinpool_subnet_allocated_ips: ["subnet"],
      pinpool_gc_actions_total: ["action"],
      pinpool_reconcile_errors_total: ["step"],
      pinpool_reconcile_duration_seconds: [],
      pinpool_controller_leader: [],
      pinpool_address_conflicts: [],
      pinpool_agent_cni_requests_total: ["command", "result"],
      pinpool_agent_cni_duration_seconds: ["command"],
      pinpool_agent_allocations_total: ["family"],
      pinpool_agent_releases_total: [],
    });
  });

  it("are the names the controller's and the agent's registries export", async () => {
    const { controller, agent } = await exportedMetricNames();
    expect([...new Set([...controller, ...agent])].sort()).to.deep.equal(Object.values(METRIC).sort());
    expect(agent).to.include(METRIC.casConflicts);
    expect(controller).to.include(METRIC.casConflicts);
  });
});
