/**
 * Claiming one pod's address in one pool, pure: given the pool object as
 * read, what to answer and the pool (with its new status) to write.
 */
import { parseAddressSpec } from "../api/address-spec.js";
import type { SpiderIPPool } from "../api/types.js";
import type { Family } from "../ip/address.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import type { RangeSet } from "../ip/range-set.js";
import { withRecord } from "../reservation/allocations.js";
import { type PodFacts, affinityMismatch } from "./pod.js";

export type ClaimDecision =
  | { kind: "held"; address: bigint; pool: SpiderIPPool }
  | { kind: "claimed"; address: bigint; pool: SpiderIPPool; write: SpiderIPPool }
  | { kind: "skip"; reason: string }
  | { kind: "exhausted"; size: bigint; holders: number };

/**
 * The address `pod` holds in `pool`, claiming the lowest free one when it holds none.
 * A holder that already has an address gets it back (a retried ADD, a StatefulSet pod
 * recreated on any node), so one holder never takes two.
 */
export function decideClaim(pool: SpiderIPPool | undefined, name: string, family: Family, pod: PodFacts, reserved: RangeSet): ClaimDecision {
  if (!pool) return { kind: "skip", reason: `SpiderIPPool "${name}" does not exist` };
  if (pool.metadata.deletionTimestamp) return { kind: "skip", reason: `SpiderIPPool "${name}" is being deleted` };
  if (pool.spec.disable) return { kind: "skip", reason: `SpiderIPPool "${name}" is disabled (spec.disable)` };
  const spec = parseAddressSpec(pool.spec);
  if (spec.family !== family) return { kind: "skip", reason: `SpiderIPPool "${name}" is IPv${spec.family}, not IPv${family}` };
  const mismatch = affinityMismatch(pool, pod);
  if (mismatch) return { kind: "skip", reason: `SpiderIPPool "${name}" ${mismatch}` };
  const record = AllocationRecord.decode(family, pool.status?.allocations, `SpiderIPPool "${name}" status.allocations`);
  const [held] = record.addressesOf(pod.holder);
  if (held !== undefined) return { kind: "held", address: held, pool };
  const usable = reserved.isEmpty ? spec.addresses : spec.addresses.difference(reserved);
  const [free] = usable.lowestFree(record.allocated(), 1).addresses();
  if (free === undefined) return { kind: "exhausted", size: usable.size, holders: new Set(record.holders()).size };
  record.allocate(free, pod.holder);
  const write = withRecord(pool, record, spec.addresses.size);
  return { kind: "claimed", address: free, pool: write, write };
}
