/**
 * What the agent needs to know about a pod: who holds its addresses (a StatefulSet's
 * ordinal, or the pod itself) and what a pool's affinity can match. Pure.
 */
import type * as k8s from "@kubernetes/client-node";
import { holderKey, statefulSetMember } from "../api/holders.js";
import { APP_LABEL } from "../api/labels.js";
import type { LabelSelector, SpiderIPPool } from "../api/types.js";

export interface PodFacts {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  /** `namespace/statefulset/ordinal` for a StatefulSet pod, else `namespace/pod`. */
  holder: string;
  statefulSet?: { name: string; ordinal: number };
  /** The pod's labels plus Spiderpool's virtual app-* labels naming its top controller. */
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export function podFacts(pod: k8s.V1Pod, node: string): PodFacts {
  const namespace = pod.metadata?.namespace ?? "default";
  const name = pod.metadata?.name ?? "";
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
  const labels = { ...pod.metadata?.labels };
  let statefulSet: PodFacts["statefulSet"];
  let top: { kind: string; name: string } | undefined;
  if (owner?.kind === "StatefulSet") {
    statefulSet = statefulSetMember(owner.name, name); // a misnamed pod is a plain pod, never another's ordinal
    top = { kind: "StatefulSet", name: owner.name };
  } else if (owner?.kind === "ReplicaSet") {
    // A ReplicaSet of a Deployment is named <deployment>-<pod-template-hash>.
    const hash = labels["pod-template-hash"];
    top = hash && owner.name.endsWith(`-${hash}`) ? { kind: "Deployment", name: owner.name.slice(0, -hash.length - 1) } : { kind: "ReplicaSet", name: owner.name };
  } else if (owner) {
    top = { kind: owner.kind, name: owner.name };
  }
  if (top) {
    Object.assign(labels, {
      [APP_LABEL.group]: "apps",
      [APP_LABEL.version]: "v1",
      [APP_LABEL.kind]: top.kind,
      [APP_LABEL.namespace]: namespace,
      [APP_LABEL.name]: top.name,
    });
  }
  return {
    namespace,
    name,
    uid: pod.metadata?.uid ?? "",
    node,
    holder: holderKey(namespace, name, statefulSet),
    ...(statefulSet ? { statefulSet } : {}),
    labels,
    annotations: { ...pod.metadata?.annotations },
  };
}

function matches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    const inValues = value !== undefined && (e.values ?? []).includes(value);
    if ((e.operator === "In" && !inValues) || (e.operator === "NotIn" && inValues)) return false;
    if ((e.operator === "Exists" && !has) || (e.operator === "DoesNotExist" && has)) return false;
  }
  return true;
}

/** Why `pool` may not serve `pod` (its node, namespace or pod affinity), or undefined. */
export function affinityMismatch(pool: SpiderIPPool, pod: PodFacts): string | undefined {
  const s = pool.spec;
  if (s.nodeName?.length && !s.nodeName.includes(pod.node)) return `serves only nodes ${s.nodeName.join(", ")}, not ${pod.node}`;
  if (s.namespaceName?.length && !s.namespaceName.includes(pod.namespace)) return `serves only namespaces ${s.namespaceName.join(", ")}`;
  if (s.podAffinity && !matches(s.podAffinity, pod.labels)) return `does not match this pod (spec.podAffinity)`;
  return undefined;
}
