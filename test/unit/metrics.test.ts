import { expect } from "chai";
import { AgentMetrics } from "../../src/metrics/agent.js";
import { METRIC } from "../../src/metrics/names.js";
import { WebhookMetrics } from "../../src/metrics/webhook.js";

describe("metric names (part of the API: dashboards and alerts query them)", () => {
  it("are exactly these", () => {
    expect(METRIC).to.deep.equal({
      webhookRequests: "pinpool_webhook_requests_total",
      webhookDuration: "pinpool_webhook_duration_seconds",
      casConflicts: "pinpool_cas_conflicts_total",
      cniRequests: "pinpool_agent_cni_requests_total",
      cniDuration: "pinpool_agent_cni_duration_seconds",
    });
  });

  it("are the names the registries export", async () => {
    const exported = async (text: Promise<string>): Promise<string[]> => [...(await text).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1] as string);
    const webhook = new WebhookMetrics(false);
    webhook.requests.inc({ webhook: "validate", resource: "spiderippools", operation: "CREATE", result: "allowed" });
    const agent = new AgentMetrics(false);
    const names = [...(await exported(webhook.registry.metrics())), ...(await exported(agent.registry.metrics()))].sort();
    expect(names).to.deep.equal([METRIC.cniDuration, METRIC.cniRequests, METRIC.casConflicts, METRIC.webhookDuration, METRIC.webhookRequests].sort());
  });
});
