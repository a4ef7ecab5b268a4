/**
 * What the next sweep must judge, from what changed since the last one: the work of a sweep
 * follows the changes, not the cluster's size. A change names the subjects whose judgment it
 * can move: a pool's own change, its owner workload, the pods it records as holders; a pod's
 * change, the pools that record it and its endpoint; a StatefulSet's, its pools and its
 * members' endpoints. Status-only updates of pods and workloads (most of their traffic)
 * name nothing. Node and namespace changes are rare and reach far (every pod of a node),
 * so they ask for a full sweep, as does the periodic resync that backs all of this.
 * Subjects waiting on a clock (a grace period, a pending claim's deadline) or whose step
 * failed are named again by the sweep itself (`later`).
 */
import { autoPoolOwner } from "../api/auto-pool-owner.js";
import { parseHolder } from "../api/holders.js";
import type { WorkloadObject } from "../api/names.js";
import type { SpiderEndpoint, SpiderIPPool, SpiderSubnet } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { parsedOrUndefined } from "../api/address-spec.js";

/** `pool:NAME`, `workload:Kind/ns/name`, `endpoint:ns/name`, `pod:ns/name`, `ledgers` or `conflicts`. */
export type Subject = string;

export interface Scope {
  /** Everything is judged (the first sweep, a node or namespace change, the periodic resync). */
  full: boolean;
  pools: Set<string>;
  /** `Kind/ns/name`. */
  workloads: Set<string>;
  /** `ns/name`. */
  endpoints: Set<string>;
  /** Pods (`ns/name`) whose missing endpoint is judged. */
  pods: Set<string>;
  /** The ledger steps run (claims, pending deadlines, repair). */
  ledgers: boolean;
  /** Some pool's or subnet's addresses changed: conflicts are judged again. */
  conflicts: boolean;
}

type Pod = { metadata?: { uid?: string; deletionTimestamp?: unknown; annotations?: Record<string, string> }; spec?: { nodeName?: string }; status?: { phase?: string } };

const emptyScope = (full: boolean): Scope => ({ full, pools: new Set(), workloads: new Set(), endpoints: new Set(), pods: new Set(), ledgers: full, conflicts: full });

/** The pods (`ns/pod`) a pool records as holders, and the StatefulSets (`ns/set`) among them. */
function holdersOf(pool: SpiderIPPool | undefined): { pods: string[]; sets: string[] } {
  const allocations = pool?.status?.allocations;
  const spec = pool && allocations?.holders?.length ? parsedOrUndefined(pool.spec) : undefined;
  if (!spec || !allocations) return { pods: [], sets: [] };
  let holders: Iterable<string>;
  try {
    holders = new Set(AllocationRecord.decode(spec.family, allocations).holders());
  } catch {
    return { pods: [], sets: [] }; // unreadable: the full sweep's steps report it
  }
  const pods: string[] = [];
  const sets: string[] = [];
  for (const holder of holders) {
    const h = parseHolder(holder);
    if (!h) continue;
    pods.push(`${h.namespace}/${h.pod}`);
    if ("statefulSet" in h) sets.push(`${h.namespace}/${h.statefulSet}`);
  }
  return { pods, sets };
}

/** A many-to-many index kept from one side: `from` key → the `to` keys it names. */
class Index {
  private readonly forward = new Map<string, Set<string>>();
  private readonly namesOf = new Map<string, string[]>();

  set(to: string, froms: string[]): void {
    for (const from of this.namesOf.get(to) ?? []) {
      const s = this.forward.get(from);
      s?.delete(to);
      if (s?.size === 0) this.forward.delete(from);
    }
    if (froms.length) this.namesOf.set(to, froms);
    else this.namesOf.delete(to);
    for (const from of froms) {
      let s = this.forward.get(from);
      if (!s) this.forward.set(from, (s = new Set()));
      s.add(to);
    }
  }

  get(from: string): Iterable<string> {
    return this.forward.get(from) ?? [];
  }

  /** What `to` names now. */
  named(to: string): readonly string[] {
    return this.namesOf.get(to) ?? [];
  }
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** What of a workload its pools' judgment reads: spec (replicas, strategy, template annotations), UID, deletion. */
const workloadMatters = (w: WorkloadObject | undefined): unknown => w && [w.metadata?.uid, w.metadata?.deletionTimestamp, w.spec];
const podMatters = (p: Pod | undefined): unknown => p && [p.metadata?.uid, p.metadata?.deletionTimestamp, p.metadata?.annotations, p.spec?.nodeName, p.status?.phase];

export class SweepScope {
  private next: Scope = emptyScope(true);
  /** Pod `ns/name` → pools recording it as a holder. */
  private readonly podPools = new Index();
  /** StatefulSet `ns/name` → pools recording one of its members. */
  private readonly setPools = new Index();
  /** Workload `Kind/ns/name` → its auto pools. */
  private readonly ownedPools = new Index();
  /** StatefulSet `ns/name` → endpoints of its members. */
  private readonly setEndpoints = new Index();

  /** The scope gathered so far, and a fresh one for the next sweep; `full` forces a full one. */
  take(full = false): Scope {
    const scope = this.next;
    this.next = emptyScope(false);
    if (full) scope.full = scope.ledgers = scope.conflicts = true;
    return scope;
  }

  /** Asks for everything at the next sweep. */
  everything(): void {
    this.next.full = true;
    this.next.ledgers = true;
    this.next.conflicts = true;
  }

  /** The pools that record pod `ns/name` as a holder. */
  poolsHolding(pod: string): Iterable<string> {
    return this.podPools.get(pod);
  }

  /** Names a subject again for the next sweep. */
  later(subject: Subject): void {
    const colon = subject.indexOf(":");
    const kind = colon < 0 ? subject : subject.slice(0, colon);
    const key = subject.slice(colon + 1);
    if (kind === "pool") this.next.pools.add(key);
    else if (kind === "workload") this.next.workloads.add(key);
    else if (kind === "endpoint") this.next.endpoints.add(key);
    else if (kind === "pod") this.next.pods.add(key);
    else if (kind === "ledgers") this.next.ledgers = true;
    else if (kind === "conflicts") this.next.conflicts = true;
    else this.everything();
  }

  pool(before: SpiderIPPool | undefined, after: SpiderIPPool | undefined): void {
    const pool = (after ?? before) as SpiderIPPool;
    const name = pool.metadata.name as string;
    this.next.pools.add(name);
    const ownerOf = (p: SpiderIPPool | undefined): string[] => {
      const o = p && autoPoolOwner(p);
      return o ? [`${o.kind}/${o.namespace}/${o.name}`] : [];
    };
    for (const o of [...ownerOf(before), ...ownerOf(after)]) this.next.workloads.add(o);
    this.ownedPools.set(name, ownerOf(after));
    // A pod that came to hold an address here may lack its endpoint; the pool's own judgment
    // (in the scope) covers the holders it had.
    const was = new Set(this.podPools.named(name));
    const is = holdersOf(after);
    for (const pod of is.pods) if (!was.has(pod)) this.next.pods.add(pod);
    this.podPools.set(name, is.pods);
    this.setPools.set(name, is.sets);
    if (!before || !after || !same(before.spec, after.spec) || before.metadata.deletionTimestamp !== after.metadata.deletionTimestamp) {
      this.next.ledgers = true;
      this.next.conflicts = true;
    }
  }

  pod(key: string, before: Pod | undefined, after: Pod | undefined): void {
    if (same(podMatters(before), podMatters(after))) return;
    for (const pool of this.podPools.get(key)) this.next.pools.add(pool);
    this.next.endpoints.add(key);
    this.next.pods.add(key);
  }

  workload(kind: "Deployment" | "StatefulSet", key: string, before: WorkloadObject | undefined, after: WorkloadObject | undefined): void {
    if (same(workloadMatters(before), workloadMatters(after))) return;
    this.next.workloads.add(`${kind}/${key}`);
    for (const pool of this.ownedPools.get(`${kind}/${key}`)) this.next.pools.add(pool);
    if (kind !== "StatefulSet") return;
    for (const pool of this.setPools.get(key)) this.next.pools.add(pool);
    for (const ep of this.setEndpoints.get(key)) this.next.endpoints.add(ep);
  }

  endpoint(key: string, after: SpiderEndpoint | undefined): void {
    this.next.endpoints.add(key);
    this.next.pods.add(key);
    const set = after?.status?.ownerControllerType === "StatefulSet" ? after.status.ownerControllerName : undefined;
    this.setEndpoints.set(key, set ? [`${after?.metadata.namespace}/${set}`] : []);
  }

  subnet(before: SpiderSubnet | undefined, after: SpiderSubnet | undefined): void {
    this.next.ledgers = true;
    if (!before || !after || !same(before.spec, after.spec)) this.next.conflicts = true;
  }

  /** A subnet's ledger changed (a claim written, a part deleted). */
  ledger(): void {
    this.next.ledgers = true;
  }
}

/** The subject an object's failed step names again: its pool, workload or endpoint. */
export function subjectOf(kind: string | undefined, key: string): Subject | undefined {
  if (kind === "SpiderIPPool") return `pool:${key}`;
  if (kind === "SpiderEndpoint") return `endpoint:${key}`;
  if (kind === "Deployment" || kind === "StatefulSet") return `workload:${kind}/${key}`;
  return undefined; // subnets are judged at every sweep
}

/** Whether a sweep of `scope` judged `subject`. */
export function judged(scope: Scope, subject: Subject): boolean {
  if (scope.full) return true;
  const [kind, key = ""] = [subject.slice(0, subject.indexOf(":")), subject.slice(subject.indexOf(":") + 1)];
  if (subject === "ledgers") return scope.ledgers;
  if (subject === "conflicts") return scope.conflicts;
  if (kind === "pool") return scope.pools.has(key);
  if (kind === "endpoint") return scope.endpoints.has(key);
  if (kind === "pod") return scope.pods.has(key);
  if (kind === "workload") return scope.workloads.has(key);
  return false;
}
