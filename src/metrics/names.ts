/**
 * Every metric pinpool exports, by name. The names are part of the API: dashboards and
 * alert rules query them, so a test pins this list (Spiderpool renamed its metrics and
 * broke its own dashboard; not here).
 */
export const METRIC = {
  // controller: admission
  webhookRequests: "pinpool_webhook_requests_total",
  webhookDuration: "pinpool_webhook_duration_seconds",
  webhookRefused: "pinpool_webhook_refused_total",
  provisionalClaims: "pinpool_provisional_claims_total",
  // controller and agent: compare-and-swap writes that met a concurrent writer
  casConflicts: "pinpool_cas_conflicts_total",
  // controller: reconcilers (exported by the leader)
  poolTotal: "pinpool_ippool_total_ips",
  poolAllocated: "pinpool_ippool_allocated_ips",
  subnetTotal: "pinpool_subnet_total_ips",
  subnetAllocated: "pinpool_subnet_allocated_ips",
  gcActions: "pinpool_gc_actions_total",
  reconcileErrors: "pinpool_reconcile_errors_total",
  reconcileDuration: "pinpool_reconcile_duration_seconds",
  leader: "pinpool_controller_leader",
  addressConflicts: "pinpool_address_conflicts",
  // agent
  cniRequests: "pinpool_agent_cni_requests_total",
  cniDuration: "pinpool_agent_cni_duration_seconds",
  allocations: "pinpool_agent_allocations_total",
  releases: "pinpool_agent_releases_total",
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** What each name is exported as: histograms add these suffixes. */
export const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"] as const;
