import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import YAML from "yaml";
import { ruleFileText } from "../../scripts/monitoring/rules.js";
import { queryableMetricNames } from "./metrics-exported.js";

const monitoring = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../manifests/monitoring");

/** The pinpool_* series names a PromQL expression reads. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bpinpool_[a-z_]+/g)].map((m) => m[0]);
}

function dashboardQueries(): Array<{ where: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(path.join(monitoring, "pinpool-dashboard.json"), "utf8")) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  return dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
}

function ruleQueries(): Array<{ where: string; expr: string }> {
  const rule = YAML.parse(readFileSync(path.join(monitoring, "prometheusrule.yaml"), "utf8")) as { spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> } };
  return rule.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })));
}

describe("monitoring (manifests/monitoring): dashboards and alerts query what the code exports", () => {
  it("every metric a dashboard panel or an alert rule queries is exported by the controller or the agent", async () => {
    const exported = await queryableMetricNames();
    const queries = [...dashboardQueries(), ...ruleQueries()];
    expect(queries.length).to.be.greaterThan(10);
    const unknown = queries.flatMap((q) => metricsIn(q.expr).filter((m) => !exported.has(m)).map((m) => `${q.where}: ${m}`));
    expect(unknown).to.deep.equal([]);
  });

  it("covers what operators watch: utilisation, allocation rate and latency, failures, webhook latency, GC", () => {
    const all = [...dashboardQueries(), ...ruleQueries()].map((q) => q.expr).join("\n");
    for (const name of ["pinpool_ippool_allocated_ips", "pinpool_agent_allocations_total", "pinpool_agent_cni_duration_seconds_bucket", "pinpool_agent_cni_requests_total", "pinpool_webhook_duration_seconds_bucket", "pinpool_gc_actions_total"]) {
      expect(all, name).to.include(name);
    }
    expect(ruleQueries().map((q) => q.where)).to.include.members(["alert PinpoolPoolNearExhaustion", "alert PinpoolAllocationFailures", "alert PinpoolSlowAllocations", "alert PinpoolWebhookErrors"]);
  });

  it("would catch a renamed metric", () => {
    expect(metricsIn('rate(pinpool_agent_cni_duration_seconds_bucket{command="ADD"}[5m])')).to.deep.equal(["pinpool_agent_cni_duration_seconds_bucket"]);
  });
});

describe("scripts/monitoring/rules.ts: the rule file Prometheus loads, taken from the PrometheusRule", () => {
  it("keeps the PrometheusRule's groups as they are, under a top-level groups key", () => {
    const text = readFileSync(path.join(monitoring, "prometheusrule.yaml"), "utf8");
    const file = YAML.parse(ruleFileText(text)) as { groups: unknown };
    expect(Object.keys(file)).to.deep.equal(["groups"]);
    expect(file.groups).to.deep.equal((YAML.parse(text) as { spec: { groups: unknown } }).spec.groups);
  });

  it("refuses a manifest that is not a PrometheusRule, or one without groups, saying what it found", () => {
    expect(() => ruleFileText("kind: ConfigMap\n", "x.yaml")).to.throw('x.yaml: kind is "ConfigMap"; expected "PrometheusRule"');
    expect(() => ruleFileText("kind: PrometheusRule\nspec: { groups: [] }\n", "x.yaml")).to.throw("x.yaml: spec.groups is []; expected a non-empty list");
  });
});
