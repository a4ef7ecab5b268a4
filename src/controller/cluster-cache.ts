/**
 * The leader's mirror of everything its sweep judges, kept by watches (reflector.ts) instead
 * of listed at every sweep: a sweep reads memory, and the API server serves one list per
 * kind per leader term, not one per sweep. Of pods and workloads only what the judgment
 * reads is kept (see the `keep` functions), so 50,000 pods stay tens of megabytes. Every
 * change also tells the SweepScope what it moves.
 *
 * A watch is a moment behind the API server, where a sweep's lists were ordered (pools
 * before pods): every destructive step re-reads what it acts on (reconciler.ts freshView,
 * the auto-pool release, the finalizers, the ledger trims and settles) before it acts.
 */
import * as k8s from "@kubernetes/client-node";
import { ANNOTATION } from "../api/annotations.js";
import { GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, type SpiderSubnet, VERSION } from "../api/types.js";
import { Reflector, type Stored } from "../k8s/reflector.js";
import type { Snapshot } from "./snapshot.js";
import { SweepScope } from "./sweep-scope.js";

/** A pod as the sweep reads it: identity, deletion, node, phase and the annotations naming its pools. */
export function keepPod(p: k8s.V1Pod): k8s.V1Pod {
  const m = p.metadata ?? {};
  const annotations = Object.fromEntries([ANNOTATION.reserved, ANNOTATION.ippools].flatMap((k) => (m.annotations?.[k] !== undefined ? [[k, m.annotations[k]]] : [])));
  return {
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}), annotations },
    spec: { nodeName: p.spec?.nodeName } as k8s.V1PodSpec, // only the node: the containers are not read
    status: { phase: p.status?.phase },
  };
}

/** A Deployment or StatefulSet as the sweep reads it: replicas, strategy, ordinals and the template's annotations. */
export function keepWorkload<W extends k8s.V1Deployment | k8s.V1StatefulSet>(w: W): W {
  const m = w.metadata ?? {};
  const spec: (Partial<k8s.V1DeploymentSpec> & Partial<k8s.V1StatefulSetSpec>) | undefined = w.spec;
  const kept = {
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}) },
    spec: {
      replicas: spec?.replicas,
      ...(spec?.strategy ? { strategy: spec.strategy } : {}),
      ...(spec?.ordinals ? { ordinals: spec.ordinals } : {}),
      template: { metadata: { annotations: spec?.template?.metadata?.annotations } },
    },
  };
  return kept as unknown as W; // the spec lacks the pod template's spec, which nothing here reads
}

/** Everything else drops only managedFields (the largest part of a small object nothing reads). */
function withoutManagedFields<T extends { metadata?: object }>(o: T): T {
  const metadata: { managedFields?: unknown } = { ...o.metadata };
  delete metadata.managedFields;
  return { ...o, metadata };
}

const name = (o: Stored): string => o.metadata?.name as string;

export class ClusterCache {
  readonly scope = new SweepScope();
  private readonly pools: Reflector<SpiderIPPool, SpiderIPPool>;
  private readonly subnets: Reflector<SpiderSubnet, SpiderSubnet>;
  private readonly endpoints: Reflector<SpiderEndpoint, SpiderEndpoint>;
  private readonly pods: Reflector<k8s.V1Pod, k8s.V1Pod>;
  private readonly nodes: Reflector<k8s.V1Node, Stored>;
  private readonly deployments: Reflector<k8s.V1Deployment, k8s.V1Deployment>;
  private readonly statefulSets: Reflector<k8s.V1StatefulSet, k8s.V1StatefulSet>;
  private readonly namespaces: Reflector<k8s.V1Namespace, k8s.V1Namespace>;
  private readonly all: Array<{ start(): Promise<void>; stop(): Promise<void>; live: boolean }>;
  private readonly listeners = new Set<(o: SpiderIPPool | SpiderSubnet) => void>();

  constructor(kc: k8s.KubeConfig, onError: (what: string, e: unknown) => void) {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const scope = this.scope;
    const spider = <T extends Stored>(plural: string, onChange: (before: T | undefined, after: T | undefined) => void) =>
      new Reflector<T, T>(kc, {
        path: `/apis/${GROUP}/${VERSION}/${plural}`,
        listPage: (page) => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural, ...page }) as Promise<{ items: T[] }>,
        keep: withoutManagedFields,
        onChange: (_key, before, after) => onChange(before, after),
        onError: (e) => onError(plural, e),
      });
    const tell = (o: SpiderIPPool | SpiderSubnet | undefined): void => {
      if (o) for (const listener of this.listeners) listener(o);
    };
    this.pools = spider<SpiderIPPool>(PLURAL.SpiderIPPool, (b, a) => {
      scope.pool(b, a);
      tell(a);
    });
    this.subnets = spider<SpiderSubnet>(PLURAL.SpiderSubnet, (b, a) => {
      scope.subnet(b, a);
      tell(a);
    });
    this.endpoints = spider<SpiderEndpoint>(PLURAL.SpiderEndpoint, (b, a) => scope.endpoint(`${(a ?? b)?.metadata.namespace}/${(a ?? b)?.metadata.name}`, a));
    this.pods = new Reflector(kc, {
      path: "/api/v1/pods",
      listPage: (page) => core.listPodForAllNamespaces(page),
      keep: keepPod,
      onChange: (key, before, after) => scope.pod(key, before, after),
      onError: (e) => onError("pods", e),
    });
    // A node's status changes every few seconds; only its coming and going matters here.
    this.nodes = new Reflector(kc, {
      path: "/api/v1/nodes",
      listPage: (page) => core.listNode(page),
      keep: (n): Stored => ({ metadata: { name: n.metadata?.name, resourceVersion: n.metadata?.resourceVersion } }),
      onChange: (_key, before, after) => {
        if (!before !== !after) scope.everything();
      },
      onError: (e) => onError("nodes", e),
    });
    this.deployments = new Reflector(kc, {
      path: "/apis/apps/v1/deployments",
      listPage: (page) => apps.listDeploymentForAllNamespaces(page),
      keep: keepWorkload,
      onChange: (key, before, after) => scope.workload("Deployment", key, before, after),
      onError: (e) => onError("deployments", e),
    });
    this.statefulSets = new Reflector(kc, {
      path: "/apis/apps/v1/statefulsets",
      listPage: (page) => apps.listStatefulSetForAllNamespaces(page),
      keep: keepWorkload,
      onChange: (key, before, after) => scope.workload("StatefulSet", key, before, after),
      onError: (e) => onError("statefulsets", e),
    });
    // Only a namespace's deletion matters (its StatefulSets' ordinals are no longer kept).
    this.namespaces = new Reflector(kc, {
      path: "/api/v1/namespaces",
      listPage: (page) => core.listNamespace(page),
      keep: (n): k8s.V1Namespace => ({ metadata: { name: n.metadata?.name, resourceVersion: n.metadata?.resourceVersion, ...(n.metadata?.deletionTimestamp ? { deletionTimestamp: n.metadata.deletionTimestamp } : {}) } }),
      onChange: (_key, before, after) => {
        if (!after || !before?.metadata?.deletionTimestamp !== !after.metadata?.deletionTimestamp) scope.everything();
      },
      onError: (e) => onError("namespaces", e),
    });
    this.all = [this.pools, this.subnets, this.endpoints, this.pods, this.nodes, this.deployments, this.statefulSets, this.namespaces];
  }

  /** Lists every kind and starts watching; resolves once all have listed. */
  async start(): Promise<void> {
    await Promise.all(this.all.map((r) => r.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((r) => r.stop()));
  }

  /** True while every watch follows the API server. */
  get live(): boolean {
    return this.all.every((r) => r.live);
  }

  /**
   * The mirror as the sweep's snapshot. `listedAt` is now: an object stored since may be
   * missing from it, which is why every destructive step re-reads what it acts on.
   */
  snapshot(): Snapshot {
    if (!this.live) throw new Error("the controller's watch caches are not following the API server (a watch failed and is restarting); the sweep waits for them");
    return {
      pools: [...this.pools.items.values()],
      subnets: [...this.subnets.items.values()],
      endpoints: [...this.endpoints.items.values()],
      pods: this.pods.items,
      nodes: new Set([...this.nodes.items.values()].map(name)),
      statefulSets: this.statefulSets.items,
      deployments: this.deployments.items,
      terminatingNamespaces: new Set([...this.namespaces.items.values()].filter((n) => n.metadata?.deletionTimestamp).map(name)),
      storedPools: { has: (poolName) => this.pools.items.has(`/${poolName}`) },
      listedAt: Date.now(),
    };
  }

  /** Tells `listener` of every pool and subnet as it is added or changes; returns the unsubscribe. */
  onSpiderChange(listener: (o: SpiderIPPool | SpiderSubnet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every pool and subnet mirrored. */
  *spiderObjects(): Iterable<SpiderIPPool | SpiderSubnet> {
    yield* this.subnets.items.values();
    yield* this.pools.items.values();
  }

  /** A pool as mirrored. */
  pool(poolName: string): SpiderIPPool | undefined {
    return this.pools.items.get(`/${poolName}`);
  }

  endpoint(key: string): SpiderEndpoint | undefined {
    return this.endpoints.items.get(key);
  }
}
