/**
 * Waiting on a full pool for an address that is about to come free. During a rollout the
 * new pods start while the old ones still hold their addresses until their containers
 * stop (preStop, grace period): on a `+1` pool the second new pod finds it full. Failing
 * that ADD (FailedCreatePodSandBox) hands the pod to the kubelet's backoff, which stretches
 * a rollout of seconds to minutes; waiting, within a bound, for the release of a pod that
 * is being deleted, or of an older revision's pod that the rollout will delete, lets it
 * start the moment the address frees. Only a release that is coming is waited for: a pool
 * full of running pods of the claimant's own revision (or of other workloads) fails at
 * once, as before.
 */
import type * as k8s from "@kubernetes/client-node";
import { parsedOrUndefined } from "../api/address-spec.js";
import { parseHolder } from "../api/holders.js";
import type { SpiderIPPool } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";

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

/** The Deployment revision a pod belongs to: its ReplicaSet, and the Deployment that name says (`<deployment>-<pod-template-hash>`). */
function revisionOf(pod: k8s.V1Pod | undefined): { replicaSet: string; deployment: string } | undefined {
  const owner = pod?.metadata?.ownerReferences?.find((o) => o.controller && o.kind === "ReplicaSet");
  const hash = pod?.metadata?.labels?.["pod-template-hash"];
  if (!owner || !hash || !owner.name.endsWith(`-${hash}`)) return undefined;
  return { replicaSet: owner.name, deployment: owner.name.slice(0, -hash.length - 1) };
}

/** One ADD's wait: what it learnt of the holders is kept across its passes (a pod's owner never changes). */
export class Waiter {
  /** Holders of the claimant's own revision, or of another workload, that are not being deleted: re-read only when nothing else comes. */
  private readonly settled = new Set<string>();
  private last?: string;

  constructor(
    private readonly d: ReleaseWaitDeps,
    private readonly claimant: k8s.V1Pod,
  ) {}

  /**
   * A pod holding an address of one of `pools` whose address will come free
   * (`namespace/name`): one being deleted, or one of an older ReplicaSet of the claimant's
   * own Deployment (the rollout scales it down once new pods are ready). Undefined when
   * none will. StatefulSet ordinals keep their address across their pods' deletion: they
   * free nothing.
   */
  async releaseComing(pools: readonly SpiderIPPool[]): Promise<string | undefined> {
    if (this.last && (await this.coming(this.last))) return this.last;
    const namespace = this.claimant.metadata?.namespace;
    for (const pool of pools) {
      const spec = parsedOrUndefined(pool.spec);
      if (!spec) continue;
      for (const holder of new Set(AllocationRecord.decode(spec.family, pool.status?.allocations).holders())) {
        const parsed = parseHolder(holder);
        if (!parsed || "statefulSet" in parsed || parsed.namespace !== namespace || this.settled.has(holder) || holder === this.last) continue;
        if (await this.coming(holder)) return (this.last = holder);
      }
    }
    this.last = undefined;
    return undefined;
  }

  private async coming(holder: string): Promise<boolean> {
    const parsed = parseHolder(holder);
    if (!parsed || "statefulSet" in parsed) return false;
    const pod = await this.d.readPod(parsed.namespace, parsed.pod);
    if (!pod) return false;
    if (pod.metadata?.deletionTimestamp) return true;
    const mine = revisionOf(this.claimant);
    const theirs = revisionOf(pod);
    if (mine && theirs && theirs.deployment === mine.deployment && theirs.replicaSet !== mine.replicaSet) return true;
    this.settled.add(holder);
    return false;
  }
}

export class ReleaseWait {
  constructor(private readonly d: ReleaseWaitDeps) {}

  get waitMs(): number {
    return this.d.waitMs;
  }

  now(): number {
    return this.d.now?.() ?? Date.now();
  }

  /** A wait for `claimant`'s ADD. */
  waiter(claimant: k8s.V1Pod): Waiter {
    return new Waiter(this.d, claimant);
  }

  /**
   * Resolves "changed" once any of `pools` changed from the versions given, "gone" once
   * `alive` (asked about once a second) says the waiting pod is gone, "timeout" at `until`.
   */
  async changed(pools: ReadonlyArray<{ name: string; version?: string }>, until: number, alive: () => Promise<boolean>): Promise<"changed" | "gone" | "timeout"> {
    const pollMs = this.d.pollMs ?? 200;
    let askedAt = this.now();
    while (this.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, until - this.now()))));
      for (const p of pools) if ((await this.d.poolVersion(p.name)) !== p.version) return "changed";
      if (this.now() - askedAt >= 1000) {
        askedAt = this.now();
        if (!(await alive())) return "gone";
      }
    }
    return "timeout";
  }
}
