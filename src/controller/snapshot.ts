/**
 * One sweep's view of the cluster: every object the reconcilers judge, listed once. Who
 * holds an address is judged from such a view by the rules in api/holders.ts.
 */
import type * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, type SpiderSubnet, VERSION } from "../api/types.js";
import type { HolderView } from "../api/holders.js";

export interface Snapshot extends HolderView {
  pools: SpiderIPPool[];
  subnets: SpiderSubnet[];
  endpoints: SpiderEndpoint[];
  /** By `namespace/name`. */
  deployments: Map<string, k8s.V1Deployment>;
  /** When the first list was asked for: every object stored before then is in the lists. */
  listedAt: number;
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
  const listedAt = Date.now();
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
    listedAt,
  };
}
