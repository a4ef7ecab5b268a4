/**
 * What a workload's reservation must hold, from its pod-template annotations and replica
 * count: one auto pool per interface and family, sized replicas + N (or exactly N). Pure.
 */
import {
  ANNOTATION,
  type IPNumber,
  type InterfacePools,
  formatReservedPools,
  parseIPNumber,
  parseReclaim,
  parseSubnetAnnotations,
} from "../api/annotations.js";
import { type WorkloadRef, type WorkloadShape, autoPoolName } from "../api/names.js";

export interface PoolPlan {
  name: string;
  interface: string;
  family: 4 | 6;
  /** The SpiderSubnet to take addresses from. */
  subnet: string;
  size: number;
}

export interface ReservationPlan {
  workload: WorkloadRef;
  replicas: number;
  ipNumber: IPNumber;
  reclaim: boolean;
  pools: PoolPlan[];
  /** The pod-template annotation naming the reserved pools (byte-identical for the same pools). */
  annotation: string;
}

/**
 * A Deployment's maxSurge as the deployment controller resolves it: an integer, or a
 * percentage of replicas rounded up; 25% when unset; 0 for Recreate.
 */
export function resolvedMaxSurge(spec: WorkloadShape): number {
  if (spec.strategy?.type === "Recreate") return 0;
  const replicas = spec.replicas ?? 1;
  const surge = spec.strategy?.rollingUpdate?.maxSurge ?? "25%";
  if (typeof surge === "number") return surge;
  const m = /^(\d+)%$/.exec(surge);
  return m ? Math.ceil((replicas * Number(m[1])) / 100) : Number.parseInt(surge, 10) || 0;
}

/**
 * The default N when `ippool-ip-number` is absent. For a rolling Deployment: its maxSurge plus
 * its replicas. A pod keeps its address until its containers have stopped (preStop, grace
 * period), so during a rollout every old pod may still hold one while replicas + maxSurge new
 * pods start; with less, new pods fail their sandbox and the kubelet's backoff stretches a
 * 2.5 s rollout to minutes (npm run bench:rollout). Recreate and StatefulSets (whose pods keep
 * their ordinal's address and are replaced only once gone): +1, Spiderpool's default.
 */
export function defaultIPNumber(kind: WorkloadRef["kind"], spec: WorkloadShape): IPNumber {
  const rolling = kind === "Deployment" && spec.strategy?.type !== "Recreate";
  return { flexible: true, count: rolling ? Math.max(1, resolvedMaxSurge(spec) + (spec.replicas ?? 1)) : 1 };
}

export function poolSize(ipNumber: IPNumber, replicas: number): number {
  return ipNumber.flexible ? replicas + ipNumber.count : ipNumber.count;
}

/** Says how a size came about, for messages: "replicas 2 + 3" or "ippool-ip-number 5". */
export function explainSize(plan: Pick<ReservationPlan, "ipNumber" | "replicas">): string {
  return plan.ipNumber.flexible ? `replicas ${plan.replicas} + ${plan.ipNumber.count}` : `${ANNOTATION.ipNumber} ${plan.ipNumber.count}`;
}

/**
 * The reservation a workload asks for, or undefined when its template carries no subnet
 * annotation. Throws AnnotationError for a bad annotation.
 */
export function planReservation(
  workload: WorkloadRef,
  templateAnnotations: Record<string, string> | undefined,
  spec: WorkloadShape,
): ReservationPlan | undefined {
  const subnets = parseSubnetAnnotations(templateAnnotations);
  if (!subnets) return undefined;
  const ipNumber = parseIPNumber(templateAnnotations) ?? defaultIPNumber(workload.kind, spec);
  const replicas = spec.replicas ?? 1;
  const size = poolSize(ipNumber, replicas);
  const pools: PoolPlan[] = [];
  const annotated: InterfacePools[] = [];
  for (const s of subnets) {
    const entry: InterfacePools = { interface: s.interface };
    for (const [family, subnet] of [
      [4, s.ipv4],
      [6, s.ipv6],
    ] as const) {
      if (!subnet) continue;
      const name = autoPoolName(workload, s.interface, family, subnet);
      pools.push({ name, interface: s.interface, family, subnet, size });
      entry[family === 4 ? "ipv4" : "ipv6"] = [name];
    }
    annotated.push(entry);
  }
  return { workload, replicas, ipNumber, reclaim: parseReclaim(templateAnnotations), pools, annotation: formatReservedPools(annotated) };
}
