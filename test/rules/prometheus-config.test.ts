/** The local Prometheus's config (scripts/monitoring/prometheus.ts), validated by promtool. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import YAML from "yaml";
import { runProcess } from "../../scripts/cluster/local.js";
import { prometheusConfig } from "../../scripts/monitoring/prometheus.js";
import { alertRules, writeRuleFile } from "../../scripts/monitoring/rules.js";

describe("the local Prometheus's config", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), "pinpool-prom-config-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("passes promtool check config with the extracted rules, scraping the local processes' ports and the real node's pods", async () => {
    const config = path.join(dir, "prometheus.yml");
    const text = prometheusConfig({ controllers: [19090], agents: [19091, "192.0.2.2:9091"] }, writeRuleFile(dir));
    writeFileSync(config, text);
    const r = await runProcess("promtool", ["check", "config", config]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.include(`SUCCESS: ${alertRules().length} rules found`);
    const jobs = (YAML.parse(text) as { scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> }).scrape_configs;
    expect(jobs.map((j) => [j.job_name, j.static_configs[0]?.targets])).to.deep.equal([
      ["pinpool-controller", ["127.0.0.1:19090"]],
      ["pinpool-agent", ["127.0.0.1:19091", "192.0.2.2:9091"]],
    ]);
  });
});
