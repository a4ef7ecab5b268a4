/**
 * Claiming one pod's address in one pool, pure: given the pool object as
 * read, what to answer and the pool (with its new status) to write; and, when no candidate
 * pool gave one, the CNI error that says why.
 */
import { parseAddressSpec } from "../api/address-spec.js";
import { type Fact, type PoolSubject, missingFacts, poolServes } from "../api/pool-affinity.js";
import type { SpiderIPPool } from "../api/types.js";
import type { Family } from "../ip/address.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import type { AddressUse } from "../ip/allocation-status.js";
import type { RangeSet } from "../ip/range-set.js";
import { nameList } from "../api/verdict.js";
import { withRecord } from "../reservation/allocations.js";
import type { Shared } from "../reservation/shared-addresses.js";
import { CNI_CODE, CniError } from "./protocol.js";

export type ClaimDecision =
  /** `pool` is the one to write back: as read, or with the address re-stamped for a new sandbox. */
  | { kind: "held"; address: bigint; pool: SpiderIPPool }
  | { kind: "claimed"; address: bigint; pool: SpiderIPPool; write: SpiderIPPool }
  | { kind: "skip"; reason: string }
  /** `pool`: as read, for what a waiting ADD looks at (release-wait.ts). */
  | { kind: "exhausted"; size: bigint; holders: number; pool: SpiderIPPool }
  /** The pool asks about the pod what is not looked up yet (src/agent/affinity-facts.ts): look it up, decide again. */
  | { kind: "needs"; facts: Fact[] };

/**
 * Who claims: the holder key its address is kept under, the interface and sandbox it is for
 * (`use`), and what pools may ask about its pod.
 */
export interface Claimant {
  holder: string;
  use: AddressUse;
  subject: PoolSubject;
}

/**
 * The address the holder has for the claimant's interface: recorded as that interface's,
 * else one that records no interface (claimed before pinpool recorded them), which the
 * first interface to claim in the pool takes over.
 */
function heldFor(record: AllocationRecord, claimant: Claimant): bigint | undefined {
  const held = record.addressesOf(claimant.holder);
  return held.find((a) => record.useOf(a)?.interface === claimant.use.interface) ?? held.find((a) => record.useOf(a) === undefined);
}

/**
 * The address `claimant` holds in `pool` for its interface, claiming the lowest free one
 * when it holds none, if the pool serves its pod (src/api/pool-affinity.ts). A holder that
 * already has one gets it back (a retried ADD, a new sandbox of the pod, a StatefulSet pod
 * recreated on any node), so one interface never takes two; a new sandbox's claim records
 * the sandbox, so the DEL of the one it replaced leaves the address alone. Two interfaces
 * of a pod get two addresses.
 */
export function decideClaim(pool: SpiderIPPool | undefined, name: string, family: Family, claimant: Claimant, reserved: RangeSet): ClaimDecision {
  if (!pool) return { kind: "skip", reason: `SpiderIPPool "${name}" does not exist` };
  if (pool.metadata.deletionTimestamp) return { kind: "skip", reason: `SpiderIPPool "${name}" is being deleted` };
  if (pool.spec.disable) return { kind: "skip", reason: `SpiderIPPool "${name}" is disabled (spec.disable)` };
  const spec = parseAddressSpec(pool.spec);
  if (spec.family !== family) return { kind: "skip", reason: `SpiderIPPool "${name}" is IPv${spec.family}, not IPv${family}` };
  const needs = missingFacts(pool, claimant.subject);
  if (needs.length > 0) return { kind: "needs", facts: needs };
  const refusal = poolServes(pool, claimant.subject);
  if (refusal) return { kind: "skip", reason: refusal };
  const record = AllocationRecord.decode(family, pool.status?.allocations, `SpiderIPPool "${name}" status.allocations`);
  const held = heldFor(record, claimant);
  if (held !== undefined) {
    const use = record.useOf(held);
    if (use?.interface === claimant.use.interface && use.sandbox === claimant.use.sandbox) return { kind: "held", address: held, pool };
    record.allocate(held, claimant.holder, claimant.use);
    return { kind: "held", address: held, pool: withRecord(pool, record, spec.addresses.size) };
  }
  const usable = reserved.isEmpty ? spec.addresses : spec.addresses.difference(reserved);
  const [free] = usable.lowestFree(record.allocated(), 1).addresses();
  if (free === undefined) return { kind: "exhausted", size: usable.size, holders: new Set(record.holders()).size, pool };
  record.allocate(free, claimant.holder, claimant.use);
  const write = withRecord(pool, record, spec.addresses.size);
  return { kind: "claimed", address: free, pool: write, write };
}

/** What the candidate pools answered when none gave an address: the first conflict, the first exhausted pool, every refusal. */
export interface Unclaimed {
  refusals: string[];
  exhausted?: { name: string; size: bigint; holders: number };
  conflict?: { name: string; shared: Shared };
}

/** The CNI error for pod `pod` (`namespace/name`) that got no IPv`family` address from the pools of `source`. */
export function claimFailure(u: Unclaimed, family: Family, pod: string, source: string): CniError {
  if (u.conflict) {
    return new CniError(
      CNI_CODE.addressConflict,
      `SpiderIPPool "${u.conflict.name}" shares ${u.conflict.shared.addresses.toString()} with SpiderIPPool ${nameList(u.conflict.shared.with)}`,
      `pinpool hands out none of the shared addresses and the pool's other addresses are held; pod ${pod} gets none. Remove the shared addresses from one of the pools (see their Conflict condition)`,
    );
  }
  if (u.exhausted) {
    return new CniError(
      CNI_CODE.poolExhausted,
      `SpiderIPPool "${u.exhausted.name}" is exhausted`,
      `all ${u.exhausted.size} of its addresses are held (by ${u.exhausted.holders} pods or StatefulSet ordinals); pod ${pod} gets none. Grow the pool (ippool-ip-number), or free addresses`,
    );
  }
  return new CniError(CNI_CODE.noPool, `no usable IPv${family} pool for pod ${pod}`, `from ${source}: ${u.refusals.join("; ") || "none named"}`);
}
