/**
 * Ledger repair, pure: every stored pool and subnet must be covered by its ledger. A
 * claim can be missing when the object was written while the webhooks were off (break
 * glass, a restore, pinpool installed late) or when a subnet's status was wiped. A missing
 * claim that collides with nothing is added; one that collides is left out and shown as a
 * conflict (conflicts.ts), never resolved by choosing a winner.
 */
import { type ParsedAddressSpec, parsedOrUndefined } from "../api/address-spec.js";
import type { AddressSpec, ObjectMeta } from "../api/types.js";
import { type Cidr, formatCidr } from "../ip/cidr.js";
import { RangeSet } from "../ip/range-set.js";
import { type ClusterLedger, reclaimed } from "../reservation/ledger.js";
import { type SubnetLedger } from "../reservation/subnet-ledger.js";

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

/** Parsed specs of `objects` (those that never parsed hold nothing), with whether each is being deleted. */
function parsed<T extends Stored>(objects: readonly T[]): Array<{ name: string; spec: ParsedAddressSpec; deleting: boolean }> {
  return objects.flatMap((o) => {
    const spec = parsedOrUndefined(o.spec);
    return spec ? [{ name: o.metadata.name as string, spec, deleting: !!o.metadata.deletionTimestamp }] : [];
  });
}

/**
 * Which ledger each stored object belongs in. A pool whose CIDR is exactly a subnet's is
 * claimed in that subnet's ledger (the addresses it has of the subnet's), so auto pools
 * never take them; one already in the cluster ledger (it was made before its subnet) stays
 * there too. Any other pool goes to the cluster ledger. Objects being deleted are left to
 * their finalizer step (re-adding would resurrect a claim it just released).
 */
export function planRepair(pools: readonly Stored[], subnets: readonly Stored[], cluster: ClusterLedger): RepairPlan {
  const plan: RepairPlan = { clusterSubnets: [], clusterPools: [], subnetPools: new Map() };
  const subnetByCidr = new Map<string, { name: string; addresses: RangeSet }>();
  for (const s of parsed(subnets)) {
    subnetByCidr.set(formatCidr(s.spec.cidr), { name: s.name, addresses: s.spec.addresses });
    if (!s.deleting) plan.clusterSubnets.push({ name: s.name, cidr: s.spec.cidr, addresses: s.spec.addresses });
  }
  for (const p of parsed(pools)) {
    if (p.deleting) continue;
    const wanted = { name: p.name, cidr: p.spec.cidr, addresses: p.spec.addresses };
    const subnet = subnetByCidr.get(formatCidr(p.spec.cidr));
    if (!subnet || cluster.pools.has(p.name)) plan.clusterPools.push(wanted);
    if (!subnet) continue;
    // Addresses outside the subnet's spec.ips are not its to give: they stay out of its ledger.
    const inside = { ...wanted, addresses: p.spec.addresses.intersection(subnet.addresses) };
    if (inside.addresses.isEmpty) continue;
    const list = plan.subnetPools.get(subnet.name);
    if (list) list.push(inside);
    else plan.subnetPools.set(subnet.name, [inside]);
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
  /** What of `missing` another entry holds (for a subnet's CIDR: all of it, or nothing). */
  colliding(ledger: L, w: Wanted, missing: RangeSet): RangeSet;
  add(ledger: L, w: Wanted, missing: RangeSet): L;
}

/** The addresses of `overlaps` together (empty when there are none). */
function union(family: RangeSet["family"], overlaps: ReadonlyArray<{ overlap: RangeSet }>): RangeSet {
  return RangeSet.fromRanges(family, overlaps.flatMap((o) => o.overlap.ranges));
}

/** What an entry lacks of `addresses`: all of them when there is no entry; undefined when covered. */
function lacking(entry: { addresses: RangeSet } | undefined, addresses: RangeSet): RangeSet | undefined {
  if (!entry) return addresses;
  const missing = addresses.difference(entry.addresses);
  return missing.isEmpty ? undefined : missing;
}

/**
 * Adds, inside the ledger's compare-and-swap, what is missing and collides with nothing.
 * The colliding part of a claim is left out (a conflict, shown elsewhere); the rest is
 * still claimed, so no reservation takes the unshared addresses meanwhile.
 */
function applyAdds<L>(ledger: L, wanted: readonly Wanted[], ops: AddOps<L>): { ledger: L; added: Added[] } {
  let next = ledger;
  const added: Added[] = [];
  for (const w of wanted) {
    const lacked = ops.missing(next, w);
    if (!lacked) continue;
    const missing = lacked.difference(ops.colliding(next, w, lacked));
    if (missing.isEmpty && !lacked.isEmpty) continue;
    next = ops.add(next, w, missing);
    added.push({ name: w.name, missing });
  }
  return { ledger: next, added };
}

export function addSubnetPools(ledger: SubnetLedger, wanted: readonly Wanted[]): { ledger: SubnetLedger; added: Added[] } {
  return applyAdds(ledger, wanted, {
    missing: (l, w) => lacking(l.pools.get(w.name), w.addresses),
    colliding: (l, w, missing) => union(missing.family, l.conflicts(missing, w.name)),
    add: (l, w, missing) => {
      const current = l.pools.get(w.name);
      return l.with(w.name, reclaimed({ ...current, addresses: current ? current.addresses.union(missing) : missing }));
    },
  });
}

export function addClusterPools(ledger: ClusterLedger, wanted: readonly Wanted[]): { ledger: ClusterLedger; added: Added[] } {
  return applyAdds(ledger, wanted, {
    missing: (l, w) => lacking(l.pools.get(w.name), w.addresses),
    colliding: (l, w, missing) => union(missing.family, l.addressConflicts("pools", missing, w.name)),
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
    colliding: (l, w, missing) => (l.cidrConflicts("subnets", w.cidr, { except: w.name }).length > 0 ? missing : RangeSet.empty(missing.family)),
    add: (l, w, missing) => {
      const current = l.subnets.get(w.name);
      const kept = current && sameCidr(current.cidr, w.cidr) ? current.addresses.union(missing) : w.addresses;
      return l.with("subnets", w.name, reclaimed({ ...current, cidr: w.cidr, addresses: kept }));
    },
  });
}
