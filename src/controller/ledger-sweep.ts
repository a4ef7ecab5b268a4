/**
 * Ledger claims beyond what stored objects hold, pure. An admission claims in a ledger
 * before the API server stores the object; when a later step refuses it (another webhook,
 * a quota, a dropped connection) the claim stays. Such claims are trimmed to the stored
 * objects once they have outlived the grace period (see Sightings).
 */
import { parsedOrUndefined } from "../api/address-spec.js";
import { type AddressSpec, type ObjectMeta, RELEASE_FINALIZER } from "../api/types.js";
import { RangeSet } from "../ip/range-set.js";
import type { EntryOps, Pending } from "../reservation/pending.js";

export interface StaleClaim {
  name: string;
  /** The claim as it stood when judged; the write happens only if it still stands so. */
  claim: RangeSet;
  /** Its revision when judged: a claim written again since (even unchanged) is left alone. */
  rev?: number;
  /** What the ledger keeps of it (empty: the entry goes). */
  keep: RangeSet;
  why: string;
}

/**
 * Claims not backed by the stored objects `stored` (SpiderIPPools, or SpiderSubnets for the
 * cluster ledger's subnet entries) of kind `kind`, for messages.
 */
export function staleClaims(
  claims: Iterable<readonly [string, { addresses: RangeSet; rev?: number }]>,
  stored: Map<string, { metadata: ObjectMeta; spec: AddressSpec }>,
  kind: "SpiderIPPool" | "SpiderSubnet" = "SpiderIPPool",
): StaleClaim[] {
  const out: StaleClaim[] = [];
  for (const [name, { addresses, rev }] of claims) {
    const judged = { name, claim: addresses, ...(rev ? { rev } : {}) };
    const pool = stored.get(name);
    if (!pool) {
      out.push({ ...judged, keep: RangeSet.empty(addresses.family), why: `no ${kind} "${name}" exists` });
      continue;
    }
    // Its finalizer releases a deleting pool's claim once its pods are gone.
    if (pool.metadata.deletionTimestamp && pool.metadata.finalizers?.includes(RELEASE_FINALIZER)) continue;
    const held = parsedOrUndefined(pool.spec)?.addresses;
    if (!held) continue; // never admitted in this shape; leave it to a person
    if (held.containsSet(addresses)) continue;
    const keep = addresses.intersection(held);
    out.push({ ...judged, keep, why: `${kind} "${name}" holds only ${keep.isEmpty ? "none" : keep.toString()} of ${addresses.toString()}` });
  }
  return out;
}

/**
 * Applies `trims` to the ledger as it is now, inside its compare-and-swap: a claim that
 * changed since it was judged is left alone (it is judged again at the next sweep).
 * Returns the trimmed ledger and the trims that applied.
 */
export function applyTrims<L, C extends { addresses: RangeSet; rev?: number; pending?: Pending }>(ledger: L, trims: StaleClaim[], ops: EntryOps<L, C>): { ledger: L; applied: StaleClaim[] } {
  let next = ledger;
  const applied: StaleClaim[] = [];
  for (const t of trims) {
    const current = ops.get(next, t.name);
    if (!current?.addresses.equals(t.claim) || current.rev !== t.rev) continue;
    next = t.keep.isEmpty ? ops.without(next, t.name) : ops.with(next, t.name, { ...current, addresses: t.keep });
    applied.push(t);
  }
  return { ledger: next, applied };
}
