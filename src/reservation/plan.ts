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
 * The default N when `ippool-ip-number` is absent: +1, Spiderpool's default, for every kind.
 * A rollout's surge pods that find the pool full while old pods still hold their addresses
 * (preStop, grace period) wait for those addresses at the agent (src/agent/release-wait.ts)
 * instead of failing their sandbox.
 */
export function defaultIPNumber(): IPNumber {
  return { flexible: true, count: 1 };
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
  const ipNumber = parseIPNumber(templateAnnotations) ?? defaultIPNumber();
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
