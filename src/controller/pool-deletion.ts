/**
 * A pool being deleted, pure: it waits while pods hold its addresses (and says so), then
 * its ledger claims are released and the finalizer removed. A pool whose spec never parsed
 * holds no claim: its finalizer just goes.
 */
import { type ParsedAddressSpec, parseAddressSpec } from "../api/address-spec.js";
import { RELEASE_FINALIZER, type SpiderIPPool } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { AddressError } from "../ip/address.js";
import { nameList } from "../api/verdict.js";

export const DELETING_CONDITION = "Deleting";

export type DeletionStep = { kind: "none" } | { kind: "wait"; allocated: number; message: string } | { kind: "release"; spec?: ParsedAddressSpec };

export function decidePoolDeletion(pool: SpiderIPPool): DeletionStep {
  if (!pool.metadata.deletionTimestamp || !pool.metadata.finalizers?.includes(RELEASE_FINALIZER)) return { kind: "none" };
  let spec: ParsedAddressSpec;
  try {
    spec = parseAddressSpec(pool.spec);
  } catch (e) {
    if (e instanceof AddressError) return { kind: "release" };
    throw e;
  }
  const record = AllocationRecord.decode(spec.family, pool.status?.allocations);
  if (record.count === 0) return { kind: "release", spec };
  const holders = [...new Set(record.holders())];
  return {
    kind: "wait",
    allocated: record.count,
    message: `waiting for ${record.count} allocated addresses to be released (held by ${nameList(holders, 3)}); the pool is deleted when their pods are gone`,
  };
}
