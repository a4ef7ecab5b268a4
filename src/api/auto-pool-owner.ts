/**
 * Which workload an auto pool was reserved for, read from the pool, pure: shared by the
 * controller (adopt, resize, release) and the agent (an auto pool serves only its owner's pods).
 */
import { LABEL } from "./labels.js";
import type { WorkloadRef } from "./names.js";
import type { SpiderIPPool } from "./types.js";

/** On an auto pool: `namespace/Kind/name` of the workload it was reserved for. */
export const OWNER_ANNOTATION = "pinpool.io/owner";

/**
 * Whether `pool` is an auto pool: pinpool's owner annotation, or Spiderpool's owner label
 * (its IsAutoCreatedIPPool reads the same label), whether or not the owner can be read.
 */
export function isAutoPool(pool: SpiderIPPool): boolean {
  return pool.metadata.annotations?.[OWNER_ANNOTATION] !== undefined || pool.metadata.labels?.[LABEL.ownerName] !== undefined;
}

/** The workload an auto pool was reserved for: from pinpool's annotation, else Spiderpool's owner labels. */
export function autoPoolOwner(pool: SpiderIPPool): WorkloadRef | undefined {
  const key = pool.metadata.annotations?.[OWNER_ANNOTATION];
  if (key) {
    const [namespace, kind, ...rest] = key.split("/");
    const name = rest.join("/");
    return namespace && name && (kind === "Deployment" || kind === "StatefulSet") ? { namespace, kind, name } : undefined;
  }
  const l = pool.metadata.labels ?? {};
  const kind = l[LABEL.ownerKind];
  const namespace = l[LABEL.ownerNamespace];
  const name = l[LABEL.ownerName];
  if (l[LABEL.ownerGV] !== "apps_v1" || (kind !== "Deployment" && kind !== "StatefulSet") || !namespace || !name) return undefined;
  return { kind, namespace, name };
}
