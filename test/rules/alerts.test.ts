/**
 * The alert rules of manifests/monitoring/prometheusrule.yaml, checked and unit-tested by
 * Prometheus's own promtool (Debian package `prometheus`, installed by scripts/cluster/deps.sh)
 * on the rule file extracted from the PrometheusRule at test time.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import YAML from "yaml";
import { type KubectlResult, runProcess } from "../../scripts/cluster/local.js";
import { alertRules, writeRuleFile } from "../../scripts/monitoring/rules.js";

const TESTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "alerts.promtool.yaml");

interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}
interface TestGroup {
  alert_rule_test?: AlertTest[];
}
interface TestFile {
  rule_files: string[];
  tests: TestGroup[];
}

async function promtool(args: string[], cwd: string): Promise<KubectlResult> {
  try {
    return await runProcess("promtool", args, { cwd });
  } catch (e) {
    throw new Error("could not run promtool; install Debian's prometheus package (bash scripts/cluster/deps.sh)", { cause: e });
  }
}

/** The alerts a test group evaluates. */
const alertsOf = (g: TestGroup): Set<string> => new Set((g.alert_rule_test ?? []).map((t) => t.alertname));

describe("alert rules (manifests/monitoring/prometheusrule.yaml) under promtool", () => {
  const file = YAML.parse(readFileSync(TESTS, "utf8")) as TestFile;
  const alerts = alertRules().map((r) => r.alert);
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "pinpool-rules-"));
    writeRuleFile(dir, file.rule_files[0]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("promtool check rules accepts the rules extracted from the PrometheusRule", async () => {
    const r = await promtool(["check", "rules", file.rule_files[0] as string], dir);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.include(`SUCCESS: ${alerts.length} rules found`);
  });

  it("every alert has a test where it fires and one where it stays silent, and each test group exercises one alert", () => {
    const cases = file.tests.flatMap((g) => g.alert_rule_test ?? []);
    const missing = alerts.flatMap((a) => {
      const mine = cases.filter((t) => t.alertname === a);
      return [
        ...(mine.some((t) => (t.exp_alerts ?? []).length > 0) ? [] : [`${a}: no case where it fires`]),
        ...(mine.some((t) => (t.exp_alerts ?? []).length === 0) ? [] : [`${a}: no case where it stays silent`]),
      ];
    });
    expect(missing).to.deep.equal([]);
    expect(cases.map((t) => t.alertname).filter((a) => !alerts.includes(a)), "tests of alerts the rules do not define").to.deep.equal([]);
    expect(file.tests.filter((g) => alertsOf(g).size !== 1).length, "test groups evaluating no alert or several").to.equal(0);
  });

  // One promtool run per alert, so a failure names the alert in mocha's report too.
  for (const alert of alerts) {
    it(`${alert}: promtool test rules passes its cases`, async () => {
      const groups = file.tests.filter((g) => alertsOf(g).has(alert));
      expect(groups, `test groups for ${alert} in ${TESTS}`).to.not.be.empty;
      const mine = path.join(dir, `${alert}.test.yaml`);
      writeFileSync(mine, YAML.stringify({ ...file, tests: groups }));
      const r = await promtool(["test", "rules", path.basename(mine)], dir);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
    });
  }

  it("the committed tests file passes promtool as a whole", async () => {
    copyFileSync(TESTS, path.join(dir, path.basename(TESTS)));
    const r = await promtool(["test", "rules", path.basename(TESTS)], dir);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
  });
});
