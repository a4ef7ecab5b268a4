/**
 * A real Prometheus (Debian's /usr/bin/prometheus) for the local cluster: scrapes the local
 * pinpool-controller and pinpool-agent every 2 s and evaluates the alert rules of
 * manifests/monitoring/prometheusrule.yaml. Config, rules and data in .cluster/prometheus/;
 * stopped by `npm run cluster:down` (component "prometheus").
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { waitFor } from "../cluster/local.js";
import { LOCAL_PORTS } from "../cluster/ports.js";
import { type Component, startProcess, stateDir, stopRecorded } from "../cluster/process.js";
import { activeTargets } from "./prom-api.js";
import { writeRuleFile } from "./rules.js";

export const PROMETHEUS_BINARY = "/usr/bin/prometheus";
export const SCRAPE_SECONDS = 2;
const NAME = "prometheus";

/** A metrics port on 127.0.0.1 (a local process), or `host:port` (a pod on the real node). */
export type ScrapeTarget = number | string;

export interface ScrapeTargets {
  controllers: ScrapeTarget[];
  agents: ScrapeTarget[];
}

/** prometheus.yml for the components' metrics endpoints. */
export function prometheusConfig(targets: ScrapeTargets, ruleFile: string, scrapeSeconds = SCRAPE_SECONDS): string {
  const address = (t: ScrapeTarget): string => (typeof t === "number" ? `127.0.0.1:${t}` : t);
  const job = (name: string, list: ScrapeTarget[]): object => ({ job_name: name, static_configs: [{ targets: list.map(address) }] });
  return YAML.stringify({
    // The timeout may not exceed the interval (Prometheus refuses the config otherwise).
    global: { scrape_interval: `${scrapeSeconds}s`, scrape_timeout: `${scrapeSeconds}s`, evaluation_interval: `${scrapeSeconds}s` },
    rule_files: [ruleFile],
    scrape_configs: [job("pinpool-controller", targets.controllers), job("pinpool-agent", targets.agents)],
  });
}

export interface LocalPrometheus extends Component {
  url: string;
  dir: string;
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/-/ready`)).status === 200;
  } catch {
    return false;
  }
}

/**
 * Starts Prometheus on 127.0.0.1:`port` with a fresh TSDB (an earlier one is stopped first),
 * scraping `targets`; resolves once it answers /-/ready.
 */
export async function startLocalPrometheus(targets: ScrapeTargets, port = LOCAL_PORTS.prometheus): Promise<LocalPrometheus> {
  if (!existsSync(PROMETHEUS_BINARY)) throw new Error(`${PROMETHEUS_BINARY} is missing; install Debian's prometheus package (bash scripts/cluster/deps.sh)`);
  await stopRecorded(NAME);
  const dir = path.join(stateDir, "prometheus");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, "data"), { recursive: true });
  const ruleFile = writeRuleFile(path.join(dir, "rules"));
  const config = path.join(dir, "prometheus.yml");
  writeFileSync(config, prometheusConfig(targets, ruleFile));
  const url = `http://127.0.0.1:${port}`;
  const component = await startProcess(
    NAME,
    PROMETHEUS_BINARY,
    [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--storage.tsdb.retention.time=2d"],
    {},
    () => ready(url),
  );
  return { ...component, url, dir };
}

/** Waits until every target has been scraped successfully (`health` up). */
export async function waitForTargetsUp(url: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`every Prometheus target at ${url} to be up`, timeoutMs, async () => {
    const targets = await activeTargets(url);
    const down = targets.filter((t) => t.health !== "up");
    if (targets.length > 0 && down.length === 0) return true;
    throw new Error(`targets not up: ${down.map((t) => `${t.scrapeUrl} (${t.health}${t.lastError ? `: ${t.lastError}` : ""})`).join(", ") || "none"}`);
  });
}
