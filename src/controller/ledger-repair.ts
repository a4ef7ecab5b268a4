/**
 * Ledger repair, pure: every stored pool and subnet must be covered by its ledger. A
 * claim can be missing when the object was written while the webhooks were off (break
 * glass, a restore, pinpool installed late) or when a subnet's status was wiped. A missing
 * claim that collides with nothing is added; one that collides is left out and shown as a
 * conflict (conflicts.ts), never resolved by choosing a winner.
 */
import { type ParsedAddressSpec, parseAddressSpec } from "../api/address-spec.js";
import type { AddressSpec, ObjectMeta } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import { type Cidr, formatCidr } from "../ip/cidr.js";
import type { RangeSet } from "../ip/range-set.js";
import { type ClusterLedger, type SubnetLedger, reclaimed } from "../reservation/ledger.js";

/** What a stored object must hold in its ledger. */
export interface Wanted {
  name: string;
  cidr: Cidr;
  addresses: RangeSet;
}

export interface RepairPlan {
  clusterSubnets: Wanted[];
  clusterPools: Wanted[];
  /** By SpiderSubnet name: its pools. */
  subnetPools: Map<string, Wanted[]>;
}

interface Stored {
  metadata: ObjectMeta;
  spec: AddressSpec;
}

/** Parsed specs of the objects that hold addresses now and go on holding them (not deleting). */
function parsed<T extends Stored>(objects: readonly T[]): Array<{ name: string; spec: ParsedAddressSpec }> {
  return objects.flatMap((o) => {
    if (o.metadata.deletionTimestamp) return []; // its finalizer step releases it; re-adding would resurrect it
    try {
      return [{ name: o.metadata.name as string, spec: parseAddressSpec(o.spec) }];
    } catch (e) {
      if (e instanceof AddressError) return []; // never admitted in this shape: it holds nothing
      throw e;
    }
  });
}

/**
 * Which ledger each stored object belongs in. A pool already in the cluster ledger stays
 * there (it was made before its subnet); else a pool whose CIDR is exactly a subnet's goes
 * to that subnet's ledger; any other pool to the cluster ledger.
 */
export function planRepair(pools: readonly Stored[], subnets: readonly Stored[], cluster: ClusterLedger): RepairPlan {
  const plan: RepairPlan = { clusterSubnets: [], clusterPools: [], subnetPools: new Map() };
  const subnetByCidr = new Map<string, string>();
  for (const s of parsed(subnets)) {
    subnetByCidr.set(formatCidr(s.spec.cidr), s.name);
    plan.clusterSubnets.push({ name: s.name, cidr: s.spec.cidr, addresses: s.spec.addresses });
  }
  for (const p of parsed(pools)) {
    const wanted = { name: p.name, cidr: p.spec.cidr, addresses: p.spec.addresses };
    const subnet = cluster.pools.has(p.name) ? undefined : subnetByCidr.get(formatCidr(p.spec.cidr));
    if (!subnet) {
      plan.clusterPools.push(wanted);
      continue;
    }
    const list = plan.subnetPools.get(subnet);
    if (list) list.push(wanted);
    else plan.subnetPools.set(subnet, [wanted]);
  }
  return plan;
}

export interface Added {
  name: string;
  missing: RangeSet;
}

/** How one kind of ledger entry is checked and added. */
interface AddOps<L> {
  /** What the ledger lacks of `w`; undefined when its entry covers it. */
  missing(ledger: L, w: Wanted): RangeSet | undefined;
  /** True when adding `missing` would take addresses (or a CIDR) another entry holds. */
  collides(ledger: L, w: Wanted, missing: RangeSet): boolean;
  add(ledger: L, w: Wanted, missing: RangeSet): L;
}

/** What an entry lacks of `addresses`: all of them when there is no entry; undefined when covered. */
function lacking(entry: { addresses: RangeSet } | undefined, addresses: RangeSet): RangeSet | undefined {
  if (!entry) return addresses;
  const missing = addresses.difference(entry.addresses);
  return missing.isEmpty ? undefined : missing;
}

/** Adds, inside the ledger's compare-and-swap, what is missing and collides with nothing. */
function applyAdds<L>(ledger: L, wanted: readonly Wanted[], ops: AddOps<L>): { ledger: L; added: Added[] } {
  let next = ledger;
  const added: Added[] = [];
  for (const w of wanted) {
    const missing = ops.missing(next, w);
    if (!missing || ops.collides(next, w, missing)) continue;
    next = ops.add(next, w, missing);
    added.push({ name: w.name, missing });
  }
  return { ledger: next, added };
}

export function addSubnetPools(ledger: SubnetLedger, wanted: readonly Wanted[]): { ledger: SubnetLedger; added: Added[] } {
  return applyAdds(ledger, wanted, {
    missing: (l, w) => lacking(l.pools.get(w.name), w.addresses),
    collides: (l, w, missing) => l.conflicts(missing, w.name).length > 0,
    add: (l, w, missing) => {
      const current = l.pools.get(w.name);
      return l.with(w.name, reclaimed({ ...current, addresses: current ? current.addresses.union(missing) : missing }));
    },
  });
}

export function addClusterPools(ledger: ClusterLedger, wanted: readonly Wanted[]): { ledger: ClusterLedger; added: Added[] } {
  return applyAdds(ledger, wanted, {
    missing: (l, w) => lacking(l.pools.get(w.name), w.addresses),
    collides: (l, w, missing) => l.addressConflicts("pools", missing, w.name).length > 0,
    add: (l, w, missing) => {
      const current = l.pools.get(w.name);
      return l.with("pools", w.name, reclaimed({ ...current, cidr: w.cidr, addresses: current ? current.addresses.union(missing) : missing }));
    },
  });
}

export function addClusterSubnets(ledger: ClusterLedger, wanted: readonly Wanted[]): { ledger: ClusterLedger; added: Added[] } {
  const sameCidr = (a: Cidr, b: Cidr): boolean => formatCidr(a) === formatCidr(b);
  return applyAdds(ledger, wanted, {
    missing: (l, w) => {
      const current = l.subnets.get(w.name);
      return lacking(current && sameCidr(current.cidr, w.cidr) ? current : undefined, w.addresses);
    },
    collides: (l, w) => l.cidrConflicts("subnets", w.cidr, { except: w.name }).length > 0,
    add: (l, w, missing) => {
      const current = l.subnets.get(w.name);
      const kept = current && sameCidr(current.cidr, w.cidr) ? current.addresses.union(missing) : w.addresses;
      return l.with("subnets", w.name, reclaimed({ ...current, cidr: w.cidr, addresses: kept }));
    },
  });
}
