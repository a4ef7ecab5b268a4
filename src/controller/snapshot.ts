/**
 * One sweep's view of the cluster: every object the reconcilers judge, listed once. Who
 * holds an address is judged here, purely, from such a view.
 */
import type * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, type SpiderSubnet, VERSION } from "../api/types.js";

export interface Snapshot {
  pools: SpiderIPPool[];
  subnets: SpiderSubnet[];
  endpoints: SpiderEndpoint[];
  /** By `namespace/name`. */
  pods: Map<string, k8s.V1Pod>;
  nodes: Set<string>;
  /** By `namespace/name`. */
  statefulSets: Map<string, k8s.V1StatefulSet>;
  deployments: Map<string, k8s.V1Deployment>;
  terminatingNamespaces: Set<string>;
}

export interface SnapshotClients {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
}

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }): string => `${o.metadata?.namespace}/${o.metadata?.name}`;

function byKey<T extends { metadata?: { namespace?: string; name?: string } }>(items: T[]): Map<string, T> {
  return new Map(items.map((i) => [keyOf(i), i]));
}

async function listSpider<T>(custom: k8s.CustomObjectsApi, plural: string): Promise<T[]> {
  return ((await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as { items: T[] }).items;
}

/**
 * Lists everything. The Spider objects are listed *before* the pods and workloads: an
 * address claimed after the pool list belongs to a pod the later pod list already shows,
 * so a fresh claim is never mistaken for an orphan.
 */
export async function takeSnapshot(c: SnapshotClients): Promise<Snapshot> {
  const [pools, subnets, endpoints] = await Promise.all([
    listSpider<SpiderIPPool>(c.custom, PLURAL.SpiderIPPool),
    listSpider<SpiderSubnet>(c.custom, PLURAL.SpiderSubnet),
    listSpider<SpiderEndpoint>(c.custom, PLURAL.SpiderEndpoint),
  ]);
  const [pods, nodes, statefulSets, deployments, namespaces] = await Promise.all([
    c.core.listPodForAllNamespaces(),
    c.core.listNode(),
    c.apps.listStatefulSetForAllNamespaces(),
    c.apps.listDeploymentForAllNamespaces(),
    c.core.listNamespace(),
  ]);
  return {
    pools,
    subnets,
    endpoints,
    pods: byKey(pods.items),
    nodes: new Set(nodes.items.map((n) => n.metadata?.name as string)),
    statefulSets: byKey(statefulSets.items),
    deployments: byKey(deployments.items),
    terminatingNamespaces: new Set(namespaces.items.filter((n) => n.metadata?.deletionTimestamp).map((n) => n.metadata?.name as string)),
  };
}

/** The parts of a snapshot that judge one holder; a re-check fills them with fresh GETs. */
export type HolderView = Pick<Snapshot, "pods" | "nodes" | "statefulSets" | "terminatingNamespaces">;

export type ParsedHolder = { namespace: string; pod: string } | { namespace: string; statefulSet: string; ordinal: number; pod: string };

/** `namespace/pod` or `namespace/statefulset/ordinal` (src/agent/pod.ts writes them). */
export function parseHolder(holder: string): ParsedHolder | undefined {
  const parts = holder.split("/");
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], pod: parts[1] };
  const ordinal = Number(parts[2]);
  if (parts.length === 3 && parts[0] && parts[1] && Number.isInteger(ordinal) && ordinal >= 0) {
    return { namespace: parts[0], statefulSet: parts[1], ordinal, pod: `${parts[1]}-${ordinal}` };
  }
  return undefined;
}

/** A pod holds its address while it exists on a node that exists (or is not scheduled yet). */
function podLive(pod: k8s.V1Pod | undefined, nodes: Set<string>): boolean {
  if (!pod) return false;
  const node = pod.spec?.nodeName;
  return !node || nodes.has(node);
}

/**
 * Pure: why `holder` no longer holds its addresses, or undefined while it does. A
 * StatefulSet ordinal keeps its address while the set counts it in (ordinal < replicas),
 * pod or no pod; otherwise the pod must exist on a live node.
 */
export function holderGone(holder: string, view: HolderView): string | undefined {
  const h = parseHolder(holder);
  if (!h) return undefined; // not a key pinpool writes: leave it to a person
  if ("statefulSet" in h) {
    const set = view.statefulSets.get(`${h.namespace}/${h.statefulSet}`);
    const kept = set && !set.metadata?.deletionTimestamp && !view.terminatingNamespaces.has(h.namespace) && h.ordinal < (set.spec?.replicas ?? 1);
    if (kept) return undefined;
  }
  const pod = view.pods.get(`${h.namespace}/${h.pod}`);
  if (podLive(pod, view.nodes)) return undefined;
  return pod ? `its pod ${h.namespace}/${h.pod} is on node ${pod.spec?.nodeName}, which no longer exists` : `its pod ${h.namespace}/${h.pod} no longer exists`;
}
