/**
 * Kubernetes label selectors (matchLabels; matchExpressions In, NotIn, Exists,
 * DoesNotExist) matched as the API server matches them, pure. A miss names the first
 * requirement that failed, in the syntax of `kubectl get -l` (`rack in (a,b)`, `!gpu`),
 * and what the object has instead, so a refusal can say why.
 */
import type { LabelSelector } from "./types.js";

export type Labels = Readonly<Record<string, string>>;

export type SelectorMiss =
  /** `requirement` failed; `found` is what the labels hold for its key (`rack=c`, `no label rack`). */
  | { requirement: string; found: string }
  /** The selector itself is invalid: Kubernetes refuses to build it, so it matches nothing. */
  | { invalid: string };

type Expression = NonNullable<LabelSelector["matchExpressions"]>[number];

const found = (labels: Labels, key: string): string => (Object.hasOwn(labels, key) ? `${key}=${labels[key]}` : `no label ${key}`);

/** One expression as kubectl writes it. */
function requirementText(e: Expression): string {
  const values = `(${(e.values ?? []).join(",")})`;
  switch (e.operator) {
    case "In":
      return `${e.key} in ${values}`;
    case "NotIn":
      return `${e.key} notin ${values}`;
    case "Exists":
      return e.key;
    default:
      return `!${e.key}`;
  }
}

/** Why `e` is not a valid requirement (as metav1.LabelSelectorAsSelector refuses it), or undefined. */
function invalidExpression(e: Expression): string | undefined {
  const count = e.values?.length ?? 0;
  if (e.operator === "In" || e.operator === "NotIn") return count === 0 ? `operator ${e.operator} needs at least one value` : undefined;
  if (e.operator === "Exists" || e.operator === "DoesNotExist") return count > 0 ? `operator ${e.operator} takes no values, got ${count}` : undefined;
  return `operator ${JSON.stringify(e.operator)} is not In, NotIn, Exists or DoesNotExist`;
}

function satisfied(e: Expression, labels: Labels): boolean {
  const has = Object.hasOwn(labels, e.key);
  const listed = has && (e.values ?? []).includes(labels[e.key] as string);
  switch (e.operator) {
    case "In":
      return listed;
    case "NotIn":
      return !listed; // as Kubernetes: an object without the label satisfies notin
    case "Exists":
      return has;
    default:
      return !has;
  }
}

/** Undefined when `labels` satisfy `selector` (an empty selector matches everything), else the first miss. */
export function selectorMiss(selector: LabelSelector, labels: Labels): SelectorMiss | undefined {
  for (const [i, e] of (selector.matchExpressions ?? []).entries()) {
    const invalid = invalidExpression(e);
    if (invalid) return { invalid: `matchExpressions[${i}] (key ${JSON.stringify(e.key)}): ${invalid}` };
  }
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return { requirement: `${key}=${value}`, found: found(labels, key) };
  }
  for (const e of selector.matchExpressions ?? []) {
    if (!satisfied(e, labels)) return { requirement: requirementText(e), found: found(labels, e.key) };
  }
  return undefined;
}

/** The label keys `selector` looks at. */
export function selectorKeys(selector: LabelSelector): string[] {
  return [...Object.keys(selector.matchLabels ?? {}), ...(selector.matchExpressions ?? []).map((e) => e.key)];
}
