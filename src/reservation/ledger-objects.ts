/**
 * How a subnet's ledger parts are stored: one ConfigMap per part in the controller's
 * namespace (where only pinpool writes), named after the subnet and the part, stamped with
 * the subnet's UID so a subnet created again under the same name starts empty.
 *
 * The directory's document lists the registered blocks and holds the claims outside them.
 */
import { createHash } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import type { Family } from "../ip/address.js";
import { LedgerFormatError, parseJsonObject } from "./ledger.js";
import { DIRECTORY, LedgerPart } from "./ledger-part.js";

export const LEDGER_LABEL = "pinpool.spidernet.io/ledger";
export const ANNOTATION_SUBNET = "pinpool.spidernet.io/subnet";
export const ANNOTATION_SUBNET_UID = "pinpool.spidernet.io/subnet-uid";
export const ANNOTATION_PART = "pinpool.spidernet.io/ledger-part";
export const PART_DATA_KEY = "ledger.json";

/**
 * What `status.controlledIPPools` says once the subnet's ledger is in parts. Not JSON on
 * purpose: an older pinpool still running (a rolling upgrade) fails to read it and refuses
 * its admissions, rather than taking a missing ledger for an empty one.
 */
export const LEGACY_MARK = "pinpool: this subnet's ledger is kept in ConfigMaps pinpool-ledger-* in the controller's namespace";

const HEX = /^[0-9a-f]{1,32}$/;

/** The ConfigMap holding part `key` of subnet `subnet`'s ledger: readable, unique per subnet by a hash, ≤ 253 characters. */
export function partObjectName(subnet: string, key: string): string {
  const hash = createHash("sha256").update(subnet).digest("hex").slice(0, 8);
  const readable = subnet.slice(0, 180).replace(/[^a-z0-9]+$/, "");
  return `pinpool-ledger-${readable}-${hash}-${key}`;
}

export interface DirectoryDocument {
  /** Registered blocks, each with its own part. */
  readonly blocks: readonly bigint[];
  /** Claims in no registered block. */
  readonly pools: LedgerPart;
}

export function encodeDirectory(d: DirectoryDocument): string {
  return JSON.stringify({ blocks: d.blocks.map((b) => b.toString(16)), pools: d.pools.encode() });
}

export function decodeDirectory(family: Family, text: string | undefined, where: string): DirectoryDocument {
  const raw = parseJsonObject(text, where);
  const blocks = raw.blocks ?? [];
  if (!Array.isArray(blocks) || !blocks.every((b) => typeof b === "string" && HEX.test(b))) {
    throw new LedgerFormatError(`${where}.blocks: expected a list of block numbers in lower-case hex, got ${JSON.stringify(blocks).slice(0, 80)}`);
  }
  const pools = LedgerPart.decode(family, objectAt(raw.pools, `${where}.pools`), `${where}.pools`);
  return { blocks: blocks.map((b) => BigInt(`0x${b as string}`)), pools };
}

function objectAt(v: unknown, where: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new LedgerFormatError(`${where}: expected a JSON object, got ${JSON.stringify(v).slice(0, 80)}`);
  return v as Record<string, unknown>;
}

/** A stored part as the cache keeps it. */
export interface PartObject {
  readonly subnet: string;
  readonly uid: string;
  readonly key: string;
  readonly resourceVersion: string;
  /** The ConfigMap's own UID (a delete's precondition). */
  readonly objectUid?: string | undefined;
  readonly text: string;
}

/** The part a listed or watched ConfigMap stores, or undefined for one that is not a well-formed part. */
export function partObjectOf(cm: k8s.V1ConfigMap): PartObject | undefined {
  const a = cm.metadata?.annotations ?? {};
  const subnet = a[ANNOTATION_SUBNET];
  const uid = a[ANNOTATION_SUBNET_UID];
  const key = a[ANNOTATION_PART];
  const resourceVersion = cm.metadata?.resourceVersion;
  if (!subnet || !uid || !key || !resourceVersion || (key !== DIRECTORY && !HEX.test(key))) return undefined;
  if (cm.metadata?.name !== partObjectName(subnet, key)) return undefined;
  return { subnet, uid, key, resourceVersion, ...(cm.metadata?.uid ? { objectUid: cm.metadata.uid } : {}), text: cm.data?.[PART_DATA_KEY] ?? "" };
}

/** The ConfigMap to write for a part; with `resourceVersion`, a compare-and-swap replace. */
export function partBody(namespace: string, p: Omit<PartObject, "resourceVersion" | "objectUid"> & { resourceVersion?: string | undefined }): k8s.V1ConfigMap {
  return {
    metadata: {
      name: partObjectName(p.subnet, p.key),
      namespace,
      ...(p.resourceVersion ? { resourceVersion: p.resourceVersion } : {}),
      labels: { "app.kubernetes.io/part-of": "pinpool", [LEDGER_LABEL]: "subnet" },
      annotations: { [ANNOTATION_SUBNET]: p.subnet, [ANNOTATION_SUBNET_UID]: p.uid, [ANNOTATION_PART]: p.key },
    },
    data: { [PART_DATA_KEY]: p.text },
  };
}
