/**
 * A pool being deleted, pure: it waits while pods hold its addresses (and says so), then
 * its ledger claims are released and the finalizer removed. A pool whose spec never parsed
 * holds no claim: its finalizer just goes.
 */
import { type ParsedAddressSpec, parsedOrUndefined } from "../api/address-spec.js";
import { RELEASE_FINALIZER, type SpiderIPPool } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { AddressError } from "../ip/address.js";
import { nameList } from "../api/verdict.js";

export const DELETING_CONDITION = "Deleting";

export type DeletionStep = { kind: "none" } | { kind: "wait"; allocated: number; message: string } | { kind: "release"; spec?: ParsedAddressSpec };

export function decidePoolDeletion(pool: SpiderIPPool): DeletionStep {
  if (!pool.metadata.deletionTimestamp || !pool.metadata.finalizers?.includes(RELEASE_FINALIZER)) return { kind: "none" };
  const spec = parsedOrUndefined(pool.spec);
  if (!spec) return { kind: "release" };
  let record: AllocationRecord;
  try {
    record = AllocationRecord.decode(spec.family, pool.status?.allocations, "status.allocations");
  } catch (e) {
    if (!(e instanceof AddressError)) throw e;
    // Who holds what is unknown: releasing could free an address a pod still uses.
    return { kind: "wait", allocated: 0, message: `status.allocations cannot be read (${e.message}); the pool is deleted once it can: fix or clear it with kubectl edit --subresource=status` };
  }
  if (record.count === 0) return { kind: "release", spec };
  const holders = [...new Set(record.holders())];
  return {
    kind: "wait",
    allocated: record.count,
    message: `waiting for ${record.count} allocated addresses to be released (held by ${nameList(holders, 3)}); the pool is deleted when their pods are gone`,
  };
}
