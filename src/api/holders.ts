/**
 * Who holds an address, pure: the one set of rules the agent (claim and release) and the
 * controller (GC) both follow. A holder is `namespace/pod`, or `namespace/statefulset/ordinal`
 * so a StatefulSet pod gets its address back wherever it is recreated.
 */
import type * as k8s from "@kubernetes/client-node";

export type ParsedHolder = { namespace: string; pod: string } | { namespace: string; statefulSet: string; ordinal: number; pod: string };

/** The holder key of a pod: its StatefulSet ordinal when it has one. */
export function holderKey(namespace: string, pod: string, statefulSet?: { name: string; ordinal: number }): string {
  return statefulSet ? `${namespace}/${statefulSet.name}/${statefulSet.ordinal}` : `${namespace}/${pod}`;
}

/** `namespace/pod` or `namespace/statefulset/ordinal`; undefined for any other text. */
export function parseHolder(holder: string): ParsedHolder | undefined {
  const parts = holder.split("/");
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], pod: parts[1] };
  const ordinal = Number(parts[2]);
  if (parts.length === 3 && parts[0] && parts[1] && Number.isInteger(ordinal) && ordinal >= 0) {
    return { namespace: parts[0], statefulSet: parts[1], ordinal, pod: `${parts[1]}-${ordinal}` };
  }
  return undefined;
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
