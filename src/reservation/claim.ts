/**
 * The ledger step of a reservation, pure: does the subnet hold the auto pool's addresses,
 * and if not, which of its lowest free addresses does the pool get?
 */
import type { ParsedAddressSpec } from "../api/address-spec.js";
import type { WorkloadRef } from "../api/names.js";
import { familyName } from "../ip/address.js";
import { formatCidr } from "../ip/cidr.js";
import { RangeSet } from "../ip/range-set.js";
import { allow, deny, type Outcome } from "../api/verdict.js";
import { reclaimed } from "./ledger.js";
import { type SubnetLedger } from "./subnet-ledger.js";
import type { PoolPlan } from "./plan.js";

export interface SubnetView {
  name: string;
  spec: ParsedAddressSpec;
  ledger: SubnetLedger;
  /** Being deleted: it hands out nothing more (its deletion waits for its ledger to empty). */
  deleting?: boolean;
}

/** Spiderpool's application key for an auto pool: `apps_v1_Deployment_ns_name`. */
export function applicationKey(w: WorkloadRef): string {
  return `apps_v1_${w.kind}_${w.namespace}_${w.name}`;
}

/** Addresses an auto pool may never get: the gateway and every SpiderReservedIP. */
export function unavailable(spec: ParsedAddressSpec, reserved: RangeSet): RangeSet {
  return spec.gateway === undefined ? reserved : reserved.union(RangeSet.of(spec.family, spec.gateway));
}

/**
 * Claims, in the subnet's ledger, at least `pool.size` addresses for `pool`: what it already
 * holds plus the subnet's lowest free addresses. Never shrinks (see shrink in reserve.ts).
 * `why` explains the size in a denial ("replicas 2 + 3"). `reserved`: addresses never taken
 * (SpiderReservedIPs). `stored` is the pool object's
 * addresses as read before (undefined: no pool yet): when the claim covers the size but the
 * pool will grow into it, the claim is still written (its revision bumped), so a concurrent
 * shrink's release or a trim, decided on the older claim, stands back.
 */
export function decideClaim(
  workload: WorkloadRef,
  pool: PoolPlan,
  why: string,
  subnet: SubnetView | undefined,
  { reserved, stored }: { reserved: RangeSet; stored?: RangeSet },
): Outcome<SubnetLedger> & { addresses?: RangeSet } {
  const kind = workload.kind.toLowerCase();
  if (!subnet) {
    return { verdict: deny(`SpiderSubnet "${pool.subnet}" (asked for ${familyName(pool.family)} on ${pool.interface} of ${kind} "${workload.name}") does not exist`, 404) };
  }
  if (subnet.spec.family !== pool.family) {
    return {
      verdict: deny(
        `SpiderSubnet "${pool.subnet}" is ${familyName(subnet.spec.family)} (spec.subnet ${formatCidr(subnet.spec.cidr)}), but ${kind} "${workload.name}" names it under ipv${pool.family}; list it under ipv${subnet.spec.family}`,
      ),
    };
  }
  const held = subnet.ledger.pools.get(pool.name);
  if (subnet.deleting) {
    return { verdict: deny(`SpiderSubnet "${pool.subnet}" is being deleted and hands out no more addresses; ${kind} "${workload.name}" must name another subnet (or wait until it is gone and create it again)`, 409) };
  }
  const have = held ? Number(held.addresses.size) : 0;
  if (held && have >= pool.size) {
    if (stored?.containsSet(held.addresses)) return { verdict: allow(), addresses: held.addresses };
    return { verdict: allow(), addresses: held.addresses, write: subnet.ledger.with(pool.name, reclaimed(held)) };
  }
  const need = pool.size - have;
  const free = subnet.ledger.lowestFree(subnet.spec.addresses, unavailable(subnet.spec, reserved), need);
  if (free.size < BigInt(need)) {
    const wants = have > 0 ? `needs ${need} more (${why} = ${pool.size}; pool "${pool.name}" holds ${have})` : `needs ${pool.size} (${why})`;
    return { verdict: deny(`SpiderSubnet "${pool.subnet}" has ${free.size} free addresses; ${kind} "${workload.name}" ${wants}`) };
  }
  const addresses = held ? held.addresses.union(free) : free;
  return { verdict: allow(), addresses, write: subnet.ledger.with(pool.name, reclaimed({ addresses, application: applicationKey(workload), ...(held?.rev ? { rev: held.rev } : {}) })) };
}
