import { createHash } from "node:crypto";

/** The workload an auto pool is reserved for. Keyed on names: at CREATE there is no UID yet. */
export interface WorkloadRef {
  namespace: string;
  kind: "Deployment" | "StatefulSet";
  name: string;
}

export function workloadKey(w: WorkloadRef): string {
  return `${w.namespace}/${w.kind}/${w.name}`;
}

/** Label values are at most 63 characters; pool names stay within that too, so they can be label values. */
const MAX_NAME = 63;
const HASH_LENGTH = 10;

function dnsLabelPart(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^-+|-+$/g, "");
}

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
}

/**
 * The auto pool's name: `auto<4|6>-<app>-<nic>-<10 hex of sha256(namespace/kind/name/nic/subnet)>`.
 * Deterministic, so every admission of the same workload (retries, dry runs, updates)
 * names the same pool; the hash keeps apart two workloads of one name in different
 * namespaces or kinds, interfaces whose names differ only by `_`, `.` or case (the readable
 * part folds them), and the pools of a subnet switch (the new pool is reserved beside the
 * old one, which pods leave with the rollout); the app part is cut so the whole stays ≤ 63
 * characters.
 */
export function autoPoolName(w: WorkloadRef, nic: string, family: 4 | 6, subnet: string): string {
  const hash = shortHash(`${workloadKey(w)}/${nic}/${subnet}`);
  const nicPart = dnsLabelPart(nic).slice(0, 15) || "nic";
  const fixed = `auto${family}--${nicPart}-${hash}`.length;
  const app = dnsLabelPart(w.name).slice(0, MAX_NAME - fixed).replace(/-+$/, "") || "app";
  return `auto${family}-${app}-${nicPart}-${hash}`;
}

/**
 * `text` as a label value (at most 63 characters): as it is when it fits, else cut and
 * suffixed with a hash of the whole, so two long names never share a value.
 */
export function labelValue(text: string): string {
  if (text.length <= MAX_NAME) return text;
  return `${text.slice(0, MAX_NAME - HASH_LENGTH - 1).replace(/[^A-Za-z0-9]+$/, "")}-${shortHash(text)}`;
}

export interface WorkloadShape {
  replicas?: number;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string } };
}

/** A Deployment or StatefulSet as the webhook and the reconcilers read it. */
export interface WorkloadObject {
  metadata?: { name?: string; generateName?: string; namespace?: string; uid?: string; deletionTimestamp?: Date | string };
  spec?: WorkloadShape & { template?: { metadata?: { annotations?: Record<string, string> } } };
}
