/**
 * What happens to an auto pool over its life, pure: adopted (by the workload's UID in an
 * annotation: a cluster-scoped pool may not carry an ownerReference to a namespaced
 * workload, the garbage collector refuses it) once its workload exists, resized when its
 * size drifted from replicas + N, and released — deleted, when nobody holds its addresses
 * any more and it stayed so for the grace period (reconciler.ts) — when its workload never
 * appeared (an admission a later step refused), is gone and the pool is reclaimed, or no
 * longer names it (a subnet switch, a family or interface dropped, the annotation removed).
 * A workload deleted and re-created (delete + apply, StatefulSet --cascade=orphan) within
 * the grace period, or while its pods still hold addresses, finds its pool and re-adopts it.
 */
import { parseAddressSpec } from "../api/address-spec.js";
import { ANNOTATION, AnnotationError, parseReclaim, reservedPoolNames } from "../api/annotations.js";
import { LABEL } from "../api/labels.js";
import type { WorkloadObject, WorkloadRef } from "../api/names.js";
import type { SpiderIPPool } from "../api/types.js";
import { type PoolPlan, type ReservationPlan, planReservation } from "../reservation/plan.js";

/** On an auto pool: the UID of the workload that uses it (the latest, after a re-creation). */
export const ADOPTED_ANNOTATION = "pinpool.io/adopted-by-uid";

export type AutoPoolAction =
  /** recheck: the answer changes with time alone (a reservation whose workload may still appear). */
  | { kind: "none"; recheck?: true }
  /**
   * Record the workload's UID (also in Spiderpool's owner-UID label, where there is one) and
   * reclaim choice; drop an ownerReference older versions wrote.
   */
  | { kind: "adopt"; uid: string; reclaim: boolean }
  | { kind: "resize"; plan: ReservationPlan; from: bigint; to: number }
  /** Nothing needs the pool any more: delete it once nobody holds its addresses (after the grace period). */
  | { kind: "release"; reason: string };

const legacyOwnerReference = (pool: SpiderIPPool): boolean => !!pool.metadata.ownerReferences?.some((o) => o.apiVersion === "apps/v1");

function ageMs(pool: SpiderIPPool, nowMs: number): number {
  const created = pool.metadata.creationTimestamp ? Date.parse(String(pool.metadata.creationTimestamp)) : nowMs;
  return nowMs - created;
}

/**
 * The plan the stored workload asks for, and this pool's part in it; "unnamed" when it no
 * longer names the pool; "invalid" when its annotations do not parse (the webhook refuses
 * them, so this is a state no admission produced: nothing is decided on it).
 */
function poolPlanOf(owner: WorkloadRef, workload: WorkloadObject, poolName: string): { plan: ReservationPlan; pool: PoolPlan } | "unnamed" | "invalid" {
  let plan: ReservationPlan | undefined;
  try {
    plan = planReservation(owner, workload.spec?.template?.metadata?.annotations, workload.spec ?? {});
  } catch (e) {
    if (e instanceof AnnotationError) return "invalid";
    throw e;
  }
  if (!plan) return "unnamed";
  const pool = plan.pools.find((p) => p.name === poolName);
  if (pool) return { plan, pool };
  // Still named on the pod template under an older name (pinpool 0.1.0 hashed no interface
  // or subnet): the pods use it, so it keeps its place — sized as the plan's pool for that
  // interface and family — until an update of the workload names the new one.
  const named = reservedPoolNames(workload.spec?.template?.metadata?.annotations).get(poolName);
  const same = named && plan.pools.find((p) => p.interface === named.interface && p.family === named.family);
  if (!same) return "unnamed";
  const renamed = { ...same, name: poolName };
  return { plan: { ...plan, pools: plan.pools.map((p) => (p === same ? renamed : p)) }, pool: renamed };
}

/** The reclaim choice: the workload's annotation while it exists, else what the pool last recorded. */
function reclaimOf(pool: SpiderIPPool, workload: WorkloadObject | undefined): boolean {
  if (!workload) return pool.metadata.labels?.[LABEL.reclaim] !== "false";
  try {
    return parseReclaim(workload.spec?.template?.metadata?.annotations);
  } catch (e) {
    if (e instanceof AnnotationError) return pool.metadata.labels?.[LABEL.reclaim] !== "false"; // the webhook refuses it: keep the last choice
    throw e;
  }
}

export function decideAutoPool(pool: SpiderIPPool, owner: WorkloadRef, workload: WorkloadObject | undefined, nowMs: number, graceMs: number): AutoPoolAction {
  if (pool.metadata.deletionTimestamp) return { kind: "none" };
  const adopted = pool.metadata.annotations?.[ADOPTED_ANNOTATION];
  const uid = workload?.metadata?.uid;
  const what = `${owner.kind} ${owner.namespace}/${owner.name}`;
  if (!workload || !uid || workload.metadata?.deletionTimestamp) {
    if (!adopted && !legacyOwnerReference(pool)) {
      return ageMs(pool, nowMs) >= graceMs ? { kind: "release", reason: `${what} never appeared within ${graceMs / 1000} s of the reservation` } : { kind: "none", recheck: true };
    }
    return reclaimOf(pool, undefined) ? { kind: "release", reason: `${what} is gone and the pool is reclaimed with it` } : { kind: "none" };
  }
  const reclaim = reclaimOf(pool, workload);
  // Spiderpool's owner-UID label, where a pool carries it, follows the workload too: the
  // agent serves such a pool only to that UID's pods (src/api/pool-affinity.ts).
  const staleUidLabel = (pool.metadata.labels?.[LABEL.ownerUID] ?? uid) !== uid;
  if (adopted !== uid || staleUidLabel || legacyOwnerReference(pool) || pool.metadata.labels?.[LABEL.reclaim] !== String(reclaim)) return { kind: "adopt", uid, reclaim };
  const planned = poolPlanOf(owner, workload, pool.metadata.name as string);
  if (planned === "invalid") return { kind: "none" };
  if (planned === "unnamed") {
    // The workload's annotations no longer name this pool: its pods move with the rollout.
    return reclaim ? { kind: "release", reason: `${what} no longer names this pool (its subnet annotations changed)` } : { kind: "none" };
  }
  const size = parseAddressSpec(pool.spec).addresses.size;
  const target = BigInt(planned.pool.size);
  // Shrinking drops only free addresses: with none free there is nothing to do yet.
  const free = size - BigInt(pool.status?.allocatedIPCount ?? 0);
  if (size === target || (size > target && free <= 0n)) return { kind: "none" };
  return { kind: "resize", plan: planned.plan, from: size, to: planned.pool.size };
}

/**
 * The pools a live workload's template names that are not stored (deleted, say, while the
 * workload was re-created), with the plan that reserves them again. None for a workload
 * pinpool's webhook never reserved for (namespaces it skips), one whose annotations it
 * refuses, one reserved under older names (kept until its next update), or one that is
 * going: its own deletion, or its namespace's, released the pools.
 */
export function missingPools(
  workload: WorkloadObject,
  kind: WorkloadRef["kind"],
  s: { storedPools: { has(name: string): boolean }; terminatingNamespaces: ReadonlySet<string> },
): { plan?: ReservationPlan; missing: string[] } {
  const ref = { kind, namespace: workload.metadata?.namespace as string, name: workload.metadata?.name as string };
  const annotations = workload.spec?.template?.metadata?.annotations;
  if (workload.metadata?.deletionTimestamp || s.terminatingNamespaces.has(ref.namespace) || !annotations?.[ANNOTATION.reserved]) return { missing: [] };
  let plan: ReservationPlan | undefined;
  try {
    plan = planReservation(ref, annotations, workload.spec ?? {});
  } catch (e) {
    if (e instanceof AnnotationError) return { missing: [] };
    throw e;
  }
  if (!plan || annotations[ANNOTATION.reserved] !== plan.annotation) return { missing: [] };
  return { plan, missing: plan.pools.filter((p) => !s.storedPools.has(p.name)).map((p) => p.name) };
}
