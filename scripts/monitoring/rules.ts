/**
 * The alert rules as Prometheus loads them, taken from manifests/monitoring/prometheusrule.yaml
 * at the time they are needed: the PrometheusRule is the one source (the Prometheus Operator
 * hands its `spec` to Prometheus as a rule file), so no copy is kept in sync by hand.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

export const MONITORING_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../manifests/monitoring");
export const PROMETHEUS_RULE_PATH = path.join(MONITORING_DIR, "prometheusrule.yaml");

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** The rule groups of a PrometheusRule manifest; throws when `text` is not one. */
export function ruleGroups(text: string, source = PROMETHEUS_RULE_PATH): RuleGroup[] {
  const doc = YAML.parse(text) as { kind?: unknown; spec?: { groups?: unknown } } | null;
  if (doc?.kind !== "PrometheusRule") throw new Error(`${source}: kind is ${JSON.stringify(doc?.kind)}; expected "PrometheusRule"`);
  const groups = doc.spec?.groups;
  if (!Array.isArray(groups) || groups.length === 0) throw new Error(`${source}: spec.groups is ${JSON.stringify(groups)}; expected a non-empty list of rule groups`);
  return groups as RuleGroup[];
}

/** A Prometheus rule file (`groups:` at the top) with the PrometheusRule's groups, unchanged. */
export function ruleFileText(prometheusRuleText: string, source = PROMETHEUS_RULE_PATH): string {
  return YAML.stringify({ groups: ruleGroups(prometheusRuleText, source) });
}

/** Every alert of manifests/monitoring/prometheusrule.yaml. */
export function alertRules(): AlertRule[] {
  return ruleGroups(readFileSync(PROMETHEUS_RULE_PATH, "utf8")).flatMap((g) => g.rules);
}

/** Writes the rule file extracted from manifests/monitoring/prometheusrule.yaml into `dir`; returns its path. */
export function writeRuleFile(dir: string, name = "pinpool.rules.yaml"): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, ruleFileText(readFileSync(PROMETHEUS_RULE_PATH, "utf8")));
  return file;
}
