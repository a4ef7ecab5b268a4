/**
 * Who holds an address, pure: the one set of rules the agent (claim and release) and the
 * controller (GC) both follow. A holder is `namespace/pod`, or `namespace/statefulset/ordinal`
 * so a StatefulSet pod gets its address back wherever it is recreated.
 */
import type * as k8s from "@kubernetes/client-node";

export type ParsedHolder = { namespace: string; pod: string } | { namespace: string; statefulSet: string; ordinal: number; pod: string };

/** A pod of a StatefulSet, by the set's name and the pod's ordinal in it. */
export interface StatefulSetMember {
  name: string;
  ordinal: number;
}

/** An ordinal as the StatefulSet controller writes it: decimal, no sign, no leading zero. */
const ORDINAL = /^(0|[1-9][0-9]*)$/;

/**
 * `pod` as a member of StatefulSet `set`: only when its name is exactly `<set>-<ordinal>`,
 * the ordinal written as the StatefulSet controller writes it and at most
 * Number.MAX_SAFE_INTEGER. Anything else is undefined: not an ordinal of that set, so a
 * plain pod. Strict because the ordinal picks the address: read with Number(), a pod named
 * `web-00`, `web-1e0`, `web- 1` or `web-0x1` would be ordinal 0 or 1 and take live
 * `web-0`'s or `web-1`'s address. The one rule for pods (agent), stored endpoints (agent,
 * controller) and stored holder keys (parseHolder).
 */
export function statefulSetMember(set: string, pod: string): StatefulSetMember | undefined {
  if (set === "" || !pod.startsWith(`${set}-`)) return undefined;
  const text = pod.slice(set.length + 1);
  if (!ORDINAL.test(text)) return undefined;
  const ordinal = Number(text);
  return Number.isSafeInteger(ordinal) ? { name: set, ordinal } : undefined;
}

/** The holder key of a pod: its StatefulSet ordinal when it has one. */
export function holderKey(namespace: string, pod: string, statefulSet?: StatefulSetMember): string {
  return statefulSet ? `${namespace}/${statefulSet.name}/${statefulSet.ordinal}` : `${namespace}/${pod}`;
}

/** `namespace/pod` or `namespace/statefulset/ordinal` (the ordinal as statefulSetMember reads it); undefined for any other text. */
export function parseHolder(holder: string): ParsedHolder | undefined {
  const parts = holder.split("/");
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], pod: parts[1] };
  if (parts.length !== 3 || !parts[0] || !parts[1]) return undefined;
  const pod = `${parts[1]}-${parts[2]}`;
  const member = statefulSetMember(parts[1], pod);
  return member ? { namespace: parts[0], statefulSet: member.name, ordinal: member.ordinal, pod } : undefined;
}

/**
 * True while the StatefulSet counts `ordinal` in (from `spec.ordinals.start`, `replicas`
 * of them), so its address stays with it, pod or no pod. Not when the set or its namespace
 * is being deleted: during a namespace deletion the set can outlive its pods, and nothing
 * would release the address later.
 */
export function ordinalKept(set: k8s.V1StatefulSet | undefined, namespaceTerminating: boolean, ordinal: number): boolean {
  if (!set || set.metadata?.deletionTimestamp || namespaceTerminating) return false;
  const start = set.spec?.ordinals?.start ?? 0;
  return ordinal >= start && ordinal < start + (set.spec?.replicas ?? 1);
}

/** The parts of the cluster that judge one holder: a sweep's snapshot, or fresh GETs. */
export interface HolderView {
  /** By `namespace/name`. */
  pods: Map<string, k8s.V1Pod>;
  nodes: Set<string>;
  /** By `namespace/name`. */
  statefulSets: Map<string, k8s.V1StatefulSet>;
  terminatingNamespaces: Set<string>;
}

/**
 * A pod holds its address while it exists, has not finished (Succeeded, Failed: an evicted
 * pod lingers, its sandbox long gone), and is on a node that exists (or is not scheduled yet).
 */
export function podLive(pod: k8s.V1Pod | undefined, nodes: Set<string>): boolean {
  if (!pod || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return false;
  const node = pod.spec?.nodeName;
  return !node || nodes.has(node);
}

/** Why `holder` no longer holds its addresses, or undefined while it does. */
export function holderGone(holder: string, view: HolderView): string | undefined {
  const h = parseHolder(holder);
  if (!h) return undefined; // not a key pinpool writes: leave it to a person
  if ("statefulSet" in h && ordinalKept(view.statefulSets.get(`${h.namespace}/${h.statefulSet}`), view.terminatingNamespaces.has(h.namespace), h.ordinal)) {
    return undefined;
  }
  const pod = view.pods.get(`${h.namespace}/${h.pod}`);
  if (podLive(pod, view.nodes)) return undefined;
  if (!pod) return `its pod ${h.namespace}/${h.pod} no longer exists`;
  const phase = pod.status?.phase;
  return phase === "Succeeded" || phase === "Failed" ? `its pod ${h.namespace}/${h.pod} has finished (${phase})` : `its pod ${h.namespace}/${h.pod} is on node ${pod.spec?.nodeName}, which no longer exists`;
}
