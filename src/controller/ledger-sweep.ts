/**
 * Ledger claims beyond what stored objects hold, pure. An admission claims in a ledger
 * before the API server stores the object; when a later step refuses it (another webhook,
 * a quota, a dropped connection) the claim stays. Such claims are trimmed to the stored
 * objects once they have outlived the grace period (see Sightings).
 */
import { parseAddressSpec } from "../api/address-spec.js";
import { POOL_FINALIZER, type SpiderIPPool } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import { RangeSet } from "../ip/range-set.js";

export interface StaleClaim {
  name: string;
  /** The claim as it stood when judged; the write happens only if it still stands so. */
  claim: RangeSet;
  /** What the ledger keeps of it (empty: the entry goes). */
  keep: RangeSet;
  why: string;
}

export function staleClaims(claims: Iterable<readonly [string, { addresses: RangeSet }]>, stored: Map<string, SpiderIPPool>): StaleClaim[] {
  const out: StaleClaim[] = [];
  for (const [name, { addresses }] of claims) {
    const pool = stored.get(name);
    if (!pool) {
      out.push({ name, claim: addresses, keep: RangeSet.empty(addresses.family), why: `no SpiderIPPool "${name}" exists` });
      continue;
    }
    // Its finalizer releases a deleting pool's claim once its pods are gone.
    if (pool.metadata.deletionTimestamp && pool.metadata.finalizers?.includes(POOL_FINALIZER)) continue;
    let held: RangeSet;
    try {
      held = parseAddressSpec(pool.spec).addresses;
    } catch (e) {
      if (e instanceof AddressError) continue; // never admitted in this shape; leave it to a person
      throw e;
    }
    if (held.containsSet(addresses)) continue;
    const keep = addresses.intersection(held);
    out.push({ name, claim: addresses, keep, why: `SpiderIPPool "${name}" holds only ${keep.isEmpty ? "none" : keep.toString()} of ${addresses.toString()}` });
  }
  return out;
}
