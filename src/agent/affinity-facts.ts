/**
 * What pool affinity needs beyond the pod itself, read from the API server only when a
 * pool asks for it (missingFacts in src/api/pool-affinity.ts), and cached: a pool named on
 * the pod that restricts nothing costs no read at all.
 *
 * - The pod's workload: a ReplicaSet's pod needs its ReplicaSet, whose controller is the
 *   Deployment. Kept 10 minutes per ReplicaSet (a node's pods come from few of them), so a
 *   burst of one Deployment's pods costs one read. Keyed by namespace, name and the UID the
 *   pod's ownerReference names: a ReplicaSet deleted and made again under its name is another
 *   object, read afresh, never served the old one's answer; a pod that names another
 *   namespace's ReplicaSet UID cannot spoil the entry the real pods use. The one change kept
 *   stale is of one object's own controller (orphaned, adopted): at most 10 minutes, and both
 *   the old and the new owner are workloads its pods really had. 404 is an answer: the ReplicaSet is gone and the pod belongs
 *   to no workload (an auto pool refuses it). Any other failure propagates and is not kept:
 *   a 429 or 5xx runs the whole ADD again (src/agent/server.ts) and ends in CNI code 11.
 * - The pod's namespace (its annotations name default pools; its labels, for affinity) and
 *   this node's labels: kept 30 s, so a burst of ADDs of pods that name no pool costs one
 *   namespace read, not one each. A namespace's default pools and labels apply within 30 s.
 *
 * And whether a StatefulSet a pod names as its owner is the one the API server has (same
 * UID): a pod's ownerReference is what its creator wrote, and it picks the ordinal's address.
 * Kept 10 minutes by namespace, name and UID, like ReplicaSets. (Pool affinity needs no such
 * check: an auto pool serves its owner by UID, so a pod naming a set with another UID is
 * refused.)
 */
import type * as k8s from "@kubernetes/client-node";
import type { Labels } from "../api/label-selector.js";
import type { Fact, PoolSubject, Workload } from "../api/pool-affinity.js";
import { orUndefined } from "../k8s/errors.js";
import { ExpiringCache } from "./expiring-cache.js";
import { type PodFacts, replicaSetWorkload, workloadStep } from "./pod.js";

/** How long a workload read (a ReplicaSet's controller, a StatefulSet's UID) is kept. */
export const OWNER_TTL_MS = 10 * 60_000;
export const NAMESPACE_TTL_MS = 30_000;
export const NODE_LABELS_TTL_MS = 30_000;
const MAX_KEPT = 1024;

export class AffinityFacts {
  private readonly workloads: ExpiringCache<Workload | null>;
  private readonly statefulSets: ExpiringCache<boolean>;
  private readonly namespaces: ExpiringCache<k8s.V1Namespace>;
  private readonly nodeLabels: ExpiringCache<Labels>;

  constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly apps: k8s.AppsV1Api,
    private readonly node: string,
    now?: () => number,
  ) {
    const clock = now ? { now } : {};
    this.workloads = new ExpiringCache({ ttlMs: OWNER_TTL_MS, max: MAX_KEPT, ...clock });
    this.statefulSets = new ExpiringCache({ ttlMs: OWNER_TTL_MS, max: MAX_KEPT, ...clock });
    this.namespaces = new ExpiringCache({ ttlMs: NAMESPACE_TTL_MS, max: MAX_KEPT, ...clock });
    this.nodeLabels = new ExpiringCache({ ttlMs: NODE_LABELS_TTL_MS, max: 1, ...clock });
  }

  /** Namespace `name`, as read within the last 30 s. */
  namespace(name: string): Promise<k8s.V1Namespace> {
    return this.namespaces.get(name, () => this.core.readNamespace({ name }));
  }

  /** Looks up the `facts` `subject` (pod `pod`) lacks. */
  async complete(subject: PoolSubject, pod: PodFacts, facts: readonly Fact[]): Promise<void> {
    await Promise.all(
      facts.map(async (fact) => {
        if (subject[fact] !== undefined) return;
        if (fact === "owner") subject.owner = await this.workload(pod);
        else if (fact === "namespaceLabels") subject.namespaceLabels = (await this.namespace(pod.namespace)).metadata?.labels ?? {};
        else subject.nodeLabels = await this.nodeLabels.get(this.node, async () => (await this.core.readNode({ name: this.node })).metadata?.labels ?? {});
      }),
    );
  }

  /** Whether StatefulSet `namespace/name` exists with UID `uid` (404: it does not). */
  statefulSetIs(namespace: string, name: string, uid: string): Promise<boolean> {
    return this.statefulSets.get(`${namespace}/${name}/${uid}`, async () => (await orUndefined(this.apps.readNamespacedStatefulSet({ namespace, name })))?.metadata?.uid === uid);
  }

  private workload(pod: PodFacts): Promise<Workload | null> {
    const step = workloadStep(pod.controller);
    if ("workload" in step) return Promise.resolve(step.workload);
    const { name, uid } = step.replicaSet;
    return this.workloads.get(`${pod.namespace}/${name}/${uid}`, async () => replicaSetWorkload(await orUndefined(this.apps.readNamespacedReplicaSet({ namespace: pod.namespace, name })), step.replicaSet));
  }
}
