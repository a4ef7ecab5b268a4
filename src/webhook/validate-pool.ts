/**
 * SpiderIPPool admission, pure. A pool whose spec.subnet is exactly a SpiderSubnet's CIDR
 * belongs to that subnet and is claimed in the subnet's ledger; any other pool is claimed
 * in the cluster ledger. Rules from Spiderpool's ippool_validate.go.
 */
import type { ParsedAddressSpec } from "../api/address-spec.js";
import { POOL_FINALIZER, type SpiderIPPool } from "../api/types.js";
import { formatAddress } from "../ip/address.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { formatCidr } from "../ip/cidr.js";
import type { RangeSet } from "../ip/range-set.js";
import type { ClusterLedger, SubnetLedger } from "../reservation/ledger.js";
import type { AdmissionRequest } from "./admission.js";
import { type Verdict, allow, deny, type Outcome, nameList } from "../api/verdict.js";
import { checkAddressSpec, checkAffinities, immutableChange, specErrorMessage } from "./spec-checks.js";

export interface PreparedPool {
  readonly name: string;
  readonly operation: "CREATE" | "UPDATE" | "DELETE";
  readonly spec: ParsedAddressSpec;
}

const subjectOf = (name: string): string => `SpiderIPPool "${name}"`;

/** Addresses allocated to pods in a stored pool (its status), for "never drop an allocated address". */
function allocatedIn(pool: SpiderIPPool, spec: ParsedAddressSpec): AllocationRecord {
  return AllocationRecord.decode(spec.family, pool.status?.allocations);
}

/** Checks the pool on its own: spec rules, immutable fields, allocated addresses kept. */
export function preparePool(req: AdmissionRequest): { verdict: Verdict } | { pool: PreparedPool } {
  const pool = (req.operation === "DELETE" ? req.oldObject : req.object) as unknown as SpiderIPPool;
  const name = pool.metadata?.name;
  if (!name) {
    return { verdict: deny(`SpiderIPPool needs metadata.name: generateName is not supported, because pinpool's ledgers are keyed by name`) };
  }
  const subject = subjectOf(name);
  // With pinpool's finalizer the controller releases the pool's claims once its pods are
  // gone: a DELETE needs no ledger read, and the finalizer's removal (an UPDATE) claims nothing.
  if (pool.metadata.finalizers?.includes(POOL_FINALIZER) && req.operation === "DELETE") return { verdict: allow() };
  if (req.operation === "UPDATE" && pool.metadata.deletionTimestamp) {
    const old = req.oldObject as unknown as SpiderIPPool;
    return JSON.stringify(old.spec) === JSON.stringify(pool.spec)
      ? { verdict: allow() }
      : { verdict: deny(`${subject} is being deleted; its spec can no longer change`) };
  }
  let spec: ParsedAddressSpec;
  try {
    spec = checkAddressSpec(pool.spec);
    if (req.operation !== "DELETE") checkAffinities(pool.spec);
  } catch (e) {
    if (req.operation === "DELETE") return { verdict: allow() }; // a pool that never parsed holds nothing
    return { verdict: deny(`${subject}: ${specErrorMessage(e)}`) };
  }
  if (req.operation === "DELETE") {
    const allocated = allocatedIn(pool, spec);
    if (allocated.count > 0) {
      const holders = [...allocated.holders()];
      return {
        verdict: deny(`${subject} still has ${allocated.count} allocated addresses (held by ${nameList(holders, 3)}); delete those pods or workloads first`),
      };
    }
    return { pool: { name, operation: "DELETE", spec } };
  }
  if (req.operation === "UPDATE") {
    const old = req.oldObject as unknown as SpiderIPPool;
    const changed = immutableChange(subject, old.spec, pool.spec);
    if (changed) return { verdict: deny(changed) };
    const allocated = allocatedIn(old, spec);
    const dropped = allocated.allocated().difference(spec.addresses);
    if (!dropped.isEmpty) {
      const first = dropped.first as bigint;
      return {
        verdict: deny(
          `${subject}: the update would remove ${dropped.toString()}, in use (${formatAddress(spec.family, first)} by "${allocated.holderOf(first) ?? "?"}"); a pool's addresses are spec.ips less spec.excludeIPs`,
        ),
      };
    }
  }
  return { pool: { name, operation: req.operation === "UPDATE" ? "UPDATE" : "CREATE", spec } };
}

function overlapMessage(pool: string, other: string, at: RangeSet): string {
  return `${subjectOf(pool)} overlaps SpiderIPPool "${other}" at ${at.toString()}`;
}

/**
 * Decides a pool against the cluster ledger. Returns `{ subnet }` when the pool belongs to
 * a SpiderSubnet (decide it with decidePoolInSubnet), else the outcome for a pool that lies
 * in no subnet. DELETE releases the pool's cluster-ledger claim, if it has one.
 */
export function decidePoolInCluster(pool: PreparedPool, ledger: ClusterLedger): Outcome<ClusterLedger> & { subnet?: string } {
  const cidrText = formatCidr(pool.spec.cidr);
  const subnet = ledger.subnetOf(pool.spec.cidr);
  if (pool.operation === "DELETE") {
    const release = ledger.pools.has(pool.name) ? ledger.without("pools", pool.name) : undefined;
    return { verdict: allow(), ...(release ? { write: release } : {}), ...(subnet ? { subnet } : {}) };
  }
  // A pool created before its subnet stays in the cluster ledger; the subnet contains it.
  if (subnet && !ledger.pools.has(pool.name)) return { verdict: allow(), subnet };
  const [foreignSubnet] = ledger.cidrConflicts("subnets", pool.spec.cidr, { sameCidrAllowed: true });
  if (foreignSubnet) {
    return {
      verdict: deny(
        `${subjectOf(pool.name)}: spec.subnet ${cidrText} overlaps SpiderSubnet "${foreignSubnet.name}" (${formatCidr(foreignSubnet.cidr)}); a pool in that subnet must use spec.subnet ${formatCidr(foreignSubnet.cidr)}`,
      ),
    };
  }
  const [foreignPool] = ledger.cidrConflicts("pools", pool.spec.cidr, { except: pool.name, sameCidrAllowed: true });
  if (foreignPool) {
    return {
      verdict: deny(
        `${subjectOf(pool.name)}: spec.subnet ${cidrText} overlaps SpiderIPPool "${foreignPool.name}" whose spec.subnet is ${formatCidr(foreignPool.cidr)}; pools that overlap must share one spec.subnet`,
      ),
    };
  }
  const [clash] = ledger.addressConflicts("pools", pool.spec.addresses, pool.name);
  if (clash) return { verdict: deny(overlapMessage(pool.name, clash.owner, clash.overlap)) };
  const current = ledger.pools.get(pool.name);
  if (current?.addresses.containsSet(pool.spec.addresses)) return { verdict: allow() };
  // Union with what it held: if this update never lands, the stored pool still holds the old addresses.
  const addresses = current ? current.addresses.union(pool.spec.addresses) : pool.spec.addresses;
  return { verdict: allow(), write: ledger.with("pools", pool.name, { cidr: pool.spec.cidr, addresses }) };
}

/** Decides a pool that belongs to SpiderSubnet `subnetName` against that subnet's ledger. */
export function decidePoolInSubnet(
  pool: PreparedPool,
  subnetName: string,
  subnet: ParsedAddressSpec,
  ledger: SubnetLedger,
): Outcome<SubnetLedger> {
  if (pool.operation === "DELETE") {
    return ledger.pools.has(pool.name) ? { verdict: allow(), write: ledger.without(pool.name) } : { verdict: allow() };
  }
  const outside = pool.spec.addresses.difference(subnet.addresses);
  if (!outside.isEmpty) {
    return {
      verdict: deny(
        `${subjectOf(pool.name)}: ${outside.toString()} not in SpiderSubnet "${subnetName}" (its spec.ips less spec.excludeIPs); a pool in a subnet uses only the subnet's addresses`,
      ),
    };
  }
  const [clash] = ledger.conflicts(pool.spec.addresses, pool.name);
  if (clash) return { verdict: deny(overlapMessage(pool.name, clash.owner, clash.overlap)) };
  const current = ledger.pools.get(pool.name);
  if (current?.addresses.containsSet(pool.spec.addresses)) return { verdict: allow() };
  const addresses = current ? current.addresses.union(pool.spec.addresses) : pool.spec.addresses;
  return {
    verdict: allow(),
    write: ledger.with(pool.name, current?.application ? { addresses, application: current.application } : { addresses }),
  };
}
