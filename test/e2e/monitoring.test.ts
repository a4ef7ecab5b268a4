/**
 * The dashboard and the alerts on a real Prometheus (Debian's), scraping the e2e controller
 * and agent every 2 s while a small workload runs: every panel's query, with Grafana's
 * variables filled, must parse and show data; every alert expression must evaluate.
 */
import { expect } from "chai";
import { autoPoolName } from "../../src/api/names.js";
import { METRIC } from "../../src/metrics/names.js";
import { createNamespace, kubectl, kubectlOk, waitFor } from "../../scripts/cluster/local.js";
import { fillGrafanaVariables, panelQueries } from "../../scripts/monitoring/dashboard.js";
import { query, queryRange, rules } from "../../scripts/monitoring/prom-api.js";
import { type LocalPrometheus, SCRAPE_SECONDS, startLocalPrometheus, waitForTargetsUp } from "../../scripts/monitoring/prometheus.js";
import { alertRules } from "../../scripts/monitoring/rules.js";
import { cluster, pinpoolController } from "../integration/setup.js";
import { runningPods, subnetYaml, workloadYaml } from "./helpers.js";
import { nodeStack } from "./stack.js";

/** Waits until Prometheus answers `expr` with at least one series. */
async function seen(prom: LocalPrometheus, what: string, expr: string): Promise<void> {
  await waitFor(`Prometheus to see ${what} (${expr})`, 60_000, async () => ((await query(prom.url, expr)).length > 0 ? true : undefined));
}

const finite = (v: string): boolean => Number.isFinite(Number(v));

describe("monitoring on a real Prometheus: every dashboard panel shows data, every alert expression evaluates", function () {
  this.timeout(240_000);
  const subnet = "e2e-monitoring";
  let prom: LocalPrometheus;
  let namespace: string;
  let start: number;
  let end: number;

  before(async () => {
    const { agent } = await nodeStack();
    const controller = await pinpoolController();
    prom = await startLocalPrometheus({ controllers: [controller.metricsPort], agents: [agent.metricsPort] });
    await waitForTargetsUp(prom.url);
    start = Math.floor(Date.now() / 1000);
    namespace = await createNamespace(cluster().core, "e2e-mon");
    await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, "10.72.0.0/16", "10.72.0.10-10.72.0.60"));
    const annotations = { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" };
    // Two rounds of the same operations: a counter's first sample is not an increase, so
    // rates (and latency quantiles) of series born in round one move in round two.
    for (const name of ["web-a", "web-b"]) {
      await kubectlOk(["create", "-n", namespace, "-f", "-"], workloadYaml("Deployment", name, 2, annotations));
      const pods = await runningPods(namespace, `app=${name}`, 2);
      await kubectlOk(["delete", "pod", "-n", namespace, pods[0]?.name as string, "--wait=false"]);
      await runningPods(namespace, `app=${name}`, 2, [pods[0]?.uid as string]);
      const pool = autoPoolName({ namespace, kind: "Deployment", name }, "eth0", 4, subnet);
      await seen(prom, `${pool} with 2 allocated`, `${METRIC.poolAllocated}{pool="${pool}"} == 2`);
    }
    await seen(prom, "the releases of the restarted pods", `${METRIC.releases} >= 2`);
    end = Math.ceil(Date.now() / 1000) + SCRAPE_SECONDS;
    await new Promise((r) => setTimeout(r, 2 * SCRAPE_SECONDS * 1000)); // the last scrape inside [start, end]
  });

  after(async () => {
    await prom?.stop();
    if (!namespace) return;
    await kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=60s"]);
    await waitFor(`SpiderSubnet ${subnet} to be deletable`, 60_000, async () => ((await kubectl(["delete", "ss", subnet, "--ignore-not-found"])).code === 0 ? true : undefined));
  });

  for (const q of panelQueries()) {
    it(`panel "${q.panel}" (${q.refId}, ${q.instant ? "instant" : "range"}) returns a series with a value`, async () => {
      const expr = fillGrafanaVariables(q.expr, { intervalSeconds: SCRAPE_SECONDS, scrapeSeconds: SCRAPE_SECONDS, rangeSeconds: end - start });
      const series = q.instant ? await query(prom.url, expr, end) : await queryRange(prom.url, expr, start, end, SCRAPE_SECONDS);
      expect(series, `no series for ${expr}`).to.not.be.empty;
      expect(
        series.some((s) => s.values.some(([, v]) => finite(v))),
        `only NaN/Inf for ${expr}: ${JSON.stringify(series).slice(0, 300)}`,
      ).to.equal(true);
    });
  }

  it("every alert expression evaluates, and the rules Prometheus loaded from the PrometheusRule are healthy", async () => {
    for (const r of alertRules()) await query(prom.url, r.expr); // throws with Prometheus's parse error
    const loaded = await rules(prom.url);
    expect(loaded.map((r) => r.name).sort()).to.deep.equal(alertRules().map((r) => r.alert).sort());
    expect(loaded.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.health} ${r.lastError ?? ""}`)).to.deep.equal([]);
    // Whatever other tests left behind (a full pool, say), these two hold on a working cluster.
    const quiet = ["PinpoolAddressConflict", "PinpoolNoLeader"];
    expect(loaded.filter((r) => quiet.includes(r.name)).map((r) => `${r.name} ${r.state}`).sort()).to.deep.equal(quiet.map((n) => `${n} inactive`).sort());
  });
});
