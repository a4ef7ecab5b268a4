/**
 * Stored objects that share addresses, pure. Admission keeps pools and subnets apart, but
 * objects written while the webhooks were off (break glass, a restore, pinpool installed
 * late) are not checked: the controller shows such conflicts, the agent hands out none of
 * the shared addresses, and neither object loses them silently.
 */
import type { Family } from "../ip/address.js";
import { OverlapIndex } from "../ip/overlap-index.js";
import type { RangeSet } from "../ip/range-set.js";

export interface Holding {
  name: string;
  addresses: RangeSet;
}

/** Two objects of one kind and the addresses both hold; `a` sorts before `b`. */
export interface AddressConflict {
  a: string;
  b: string;
  shared: RangeSet;
}

/** Every pair of `holdings` that share addresses, each pair once, sorted. */
export function findConflicts(holdings: readonly Holding[]): AddressConflict[] {
  const out: AddressConflict[] = [];
  for (const family of [4, 6] as const satisfies readonly Family[]) {
    const mine = holdings.filter((h) => h.addresses.family === family && !h.addresses.isEmpty);
    if (mine.length < 2) continue;
    const index = OverlapIndex.build(family, mine.map((h) => [h.name, h.addresses] as const));
    for (const h of mine) {
      for (const hit of index.query(h.addresses, h.name)) {
        if (h.name < hit.owner) out.push({ a: h.name, b: hit.owner, shared: hit.overlap });
      }
    }
  }
  return out.sort((x, y) => (x.a === y.a ? (x.b < y.b ? -1 : 1) : x.a < y.a ? -1 : 1));
}

/** Per object: the others it shares addresses with, and which. */
export function conflictsByObject(conflicts: readonly AddressConflict[]): Map<string, Array<{ other: string; shared: RangeSet }>> {
  const out = new Map<string, Array<{ other: string; shared: RangeSet }>>();
  const add = (name: string, other: string, shared: RangeSet): void => {
    const list = out.get(name);
    if (list) list.push({ other, shared });
    else out.set(name, [{ other, shared }]);
  };
  for (const c of conflicts) {
    add(c.a, c.b, c.shared);
    add(c.b, c.a, c.shared);
  }
  return out;
}
