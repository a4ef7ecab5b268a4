/**
 * What happens to an auto pool over its life, pure: adopted once its workload exists,
 * resized when its size drifted from replicas + N, deleted when its workload never
 * appeared (an admission that a later step refused) or is gone and the pool is reclaimed.
 */
import { parseAddressSpec } from "../api/address-spec.js";
import { AnnotationError } from "../api/annotations.js";
import { LABEL } from "../api/labels.js";
import type { WorkloadObject, WorkloadRef } from "../api/names.js";
import type { OwnerReference, SpiderIPPool } from "../api/types.js";
import { type PoolPlan, type ReservationPlan, planReservation } from "../reservation/plan.js";

/** On a pool kept after its workload (`ippool-reclaim: "false"`): the UID of the workload that used it. */
export const ADOPTED_ANNOTATION = "pinpool.io/adopted-by-uid";

export type AutoPoolAction =
  | { kind: "none" }
  | { kind: "adopt"; ownerReference?: OwnerReference; annotation?: string }
  | { kind: "resize"; plan: ReservationPlan; from: bigint; to: number }
  | { kind: "delete"; reason: string };

/** The workload an auto pool was reserved for, from Spiderpool's owner labels. */
export function autoPoolOwner(pool: SpiderIPPool): WorkloadRef | undefined {
  const l = pool.metadata.labels ?? {};
  const kind = l[LABEL.ownerKind];
  const namespace = l[LABEL.ownerNamespace];
  const name = l[LABEL.ownerName];
  if (l[LABEL.ownerGV] !== "apps_v1" || (kind !== "Deployment" && kind !== "StatefulSet") || !namespace || !name) return undefined;
  return { kind, namespace, name };
}

function adoptedBy(pool: SpiderIPPool): string | undefined {
  return pool.metadata.ownerReferences?.find((o) => o.apiVersion === "apps/v1")?.uid ?? pool.metadata.annotations?.[ADOPTED_ANNOTATION];
}

function ageMs(pool: SpiderIPPool, nowMs: number): number {
  const created = pool.metadata.creationTimestamp ? Date.parse(String(pool.metadata.creationTimestamp)) : nowMs;
  return nowMs - created;
}

/** The plan the stored workload asks for, and this pool's part in it; undefined when it no longer names the pool. */
function poolPlanOf(owner: WorkloadRef, workload: WorkloadObject, poolName: string): { plan: ReservationPlan; pool: PoolPlan } | undefined {
  let plan: ReservationPlan | undefined;
  try {
    plan = planReservation(owner, workload.spec?.template?.metadata?.annotations, workload.spec ?? {});
  } catch (e) {
    if (e instanceof AnnotationError) return undefined; // the webhook refuses it: no size to keep
    throw e;
  }
  const pool = plan?.pools.find((p) => p.name === poolName);
  return plan && pool ? { plan, pool } : undefined;
}

export function decideAutoPool(pool: SpiderIPPool, owner: WorkloadRef, workload: WorkloadObject | undefined, nowMs: number, graceMs: number): AutoPoolAction {
  if (pool.metadata.deletionTimestamp) return { kind: "none" };
  const reclaim = pool.metadata.labels?.[LABEL.reclaim] !== "false";
  const adopted = adoptedBy(pool);
  const uid = workload?.metadata?.uid;
  if (!workload || !uid || workload.metadata?.deletionTimestamp) {
    if (!adopted) {
      return ageMs(pool, nowMs) >= graceMs
        ? { kind: "delete", reason: `${owner.kind} ${owner.namespace}/${owner.name} never appeared within ${graceMs / 1000} s of the reservation` }
        : { kind: "none" };
    }
    return reclaim ? { kind: "delete", reason: `${owner.kind} ${owner.namespace}/${owner.name} is gone and the pool is reclaimed with it` } : { kind: "none" };
  }
  if (adopted !== uid) {
    // A reclaimed pool goes with its workload (the garbage collector follows the owner
    // reference); a kept one only remembers who used it.
    return reclaim
      ? { kind: "adopt", ownerReference: { apiVersion: "apps/v1", kind: owner.kind, name: owner.name, uid, blockOwnerDeletion: false } }
      : { kind: "adopt", annotation: uid };
  }
  const planned = poolPlanOf(owner, workload, pool.metadata.name as string);
  if (!planned) return { kind: "none" };
  const size = parseAddressSpec(pool.spec).addresses.size;
  const target = BigInt(planned.pool.size);
  // Shrinking drops only free addresses: with none free there is nothing to do yet.
  const free = size - BigInt(pool.status?.allocatedIPCount ?? 0);
  if (size === target || (size > target && free <= 0n)) return { kind: "none" };
  return { kind: "resize", plan: planned.plan, from: size, to: planned.pool.size };
}
