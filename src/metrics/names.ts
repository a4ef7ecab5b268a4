/**
 * Every metric pinpool exports, by name. The names are part of the API: dashboards and
 * alert rules query them, so a test pins this list (Spiderpool renamed its metrics and
 * broke its own dashboard; not here).
 */
export const METRIC = {
  webhookRequests: "pinpool_webhook_requests_total",
  webhookDuration: "pinpool_webhook_duration_seconds",
  casConflicts: "pinpool_cas_conflicts_total",
  cniRequests: "pinpool_agent_cni_requests_total",
  cniDuration: "pinpool_agent_cni_duration_seconds",
} as const;
