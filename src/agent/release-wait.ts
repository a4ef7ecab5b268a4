/**
 * Waiting on a full pool for an address that is about to come free. During a rollout the
 * new pods start while the old ones still hold their addresses until their containers
 * stop (preStop, grace period): on a `+1` pool the second new pod finds it full. Failing
 * that ADD (FailedCreatePodSandBox) hands the pod to the kubelet's backoff, which stretches
 * a rollout of seconds to minutes; waiting, within a bound, for the release of a pod that
 * is being deleted, or of an older revision's pod that the rollout will delete, lets it
 * start the moment the address frees. Only a release that is coming is waited for: a pool
 * full of running pods of the claimant's own revision fails at once, as before.
 */
import type * as k8s from "@kubernetes/client-node";
import { parsedOrUndefined } from "../api/address-spec.js";
import { parseHolder } from "../api/holders.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import type { SpiderIPPool } from "../api/types.js";

export interface ReleaseWaitDeps {
  /** The pod as the API server (or the node's watch cache) has it; undefined when it does not exist. */
  readPod(namespace: string, name: string): Promise<k8s.V1Pod | undefined>;
  /** The pool's resourceVersion now (from the watch cache when it is live, else a read). */
  poolVersion(name: string): Promise<string | undefined>;
  /** How long an ADD may wait in all (PINPOOL_ADD_WAIT_SECONDS; 0: never wait). */
  waitMs: number;
  /** How often a waiting ADD looks at the pools (default 200 ms: the watch cache is in memory). */
  pollMs?: number;
  now?: () => number;
}

/** Holders read per full pool to find one being deleted: a rollout's old pods come first in any order, so a few suffice. */
const MAX_HOLDERS_READ = 64;

export class ReleaseWait {
  constructor(private readonly d: ReleaseWaitDeps) {}

  get waitMs(): number {
    return this.d.waitMs;
  }

  now(): number {
    return this.d.now?.() ?? Date.now();
  }

  /**
   * A pod holding an address of one of `pools` whose address will come free
   * (`namespace/name`), or undefined when none will: one being deleted, or, for a claimant
   * of ReplicaSet `replicaSet`, one of another ReplicaSet of the same Deployment (an older
   * revision, which the rollout scales down once new pods are ready: with a +1 pool the
   * next new pod waits for that, not only for pods already stopping). StatefulSet ordinals
   * keep their address across their pods' deletion: they free nothing.
   */
  async releaseComing(pools: readonly SpiderIPPool[], replicaSet?: string): Promise<string | undefined> {
    const deployment = replicaSet && deploymentOf(replicaSet);
    for (const pool of pools) {
      const spec = parsedOrUndefined(pool.spec);
      if (!spec) continue;
      const holders = [...new Set(AllocationRecord.decode(spec.family, pool.status?.allocations).holders())].slice(0, MAX_HOLDERS_READ);
      for (const holder of holders) {
        const parsed = parseHolder(holder);
        if (!parsed || "statefulSet" in parsed) continue;
        const pod = await this.d.readPod(parsed.namespace, parsed.pod);
        if (pod?.metadata?.deletionTimestamp) return `${parsed.namespace}/${parsed.pod}`;
        const owner = pod?.metadata?.ownerReferences?.find((o) => o.controller && o.kind === "ReplicaSet");
        if (deployment && owner && owner.name !== replicaSet && deploymentOf(owner.name) === deployment) return `${parsed.namespace}/${parsed.pod}`;
      }
    }
    return undefined;
  }

  /** Resolves true once any of `pools` changed from the versions given, false at `until`. */
  async changed(pools: ReadonlyArray<{ name: string; version?: string }>, until: number): Promise<boolean> {
    const pollMs = this.d.pollMs ?? 200;
    while (this.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, until - this.now()))));
      for (const p of pools) if ((await this.d.poolVersion(p.name)) !== p.version) return true;
    }
    return false;
  }
}

/** The Deployment a ReplicaSet's name says it belongs to (`<deployment>-<pod-template-hash>`). */
function deploymentOf(replicaSet: string): string {
  return replicaSet.slice(0, replicaSet.lastIndexOf("-"));
}
