/**
 * SpiderIPPool admission, pure. A pool whose spec.subnet is exactly a SpiderSubnet's CIDR
 * belongs to that subnet and is claimed in the subnet's ledger; any other pool is claimed
 * in the cluster ledger. Rules from Spiderpool's ippool_validate.go.
 */
import { type ParsedAddressSpec, parseAddressSpec, parsedOrUndefined } from "../api/address-spec.js";
import { RELEASE_FINALIZER, type SpiderIPPool } from "../api/types.js";
import { formatAddress } from "../ip/address.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { formatCidr } from "../ip/cidr.js";
import type { RangeSet } from "../ip/range-set.js";
import { type ClusterLedger, reclaimed } from "../reservation/ledger.js";
import { type SubnetLedger } from "../reservation/subnet-ledger.js";
import type { AdmissionRequest } from "./admission.js";
import { type Verdict, allow, deny, type Outcome, nameList } from "../api/verdict.js";
import { checkAddressSpec, checkAffinities, deletingSpecChange, immutableChange, specErrorMessage } from "./spec-checks.js";

export interface PreparedPool {
  readonly name: string;
  readonly operation: "CREATE" | "UPDATE";
  readonly spec: ParsedAddressSpec;
  /** On UPDATE, the stored pool's addresses (undefined when its spec never parsed). */
  readonly stored?: RangeSet;
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
  // A DELETE never touches a ledger: the controller releases the pool's claims once the
  // API server has it gone. With pinpool's finalizer the deletion waits for the pool's pods;
  // a pool without it (made while the webhooks were off) may not go while pods hold addresses.
  if (req.operation === "DELETE") return { verdict: decidePoolDelete(pool, subject) };
  if (req.operation === "UPDATE" && pool.metadata.deletionTimestamp) {
    const old = req.oldObject as unknown as SpiderIPPool;
    const refused = deletingSpecChange(subject, old.spec, pool.spec);
    return { verdict: refused ? deny(refused) : allow() };
  }
  let spec: ParsedAddressSpec;
  try {
    spec = checkAddressSpec(pool.spec);
    checkAffinities(pool.spec);
  } catch (e) {
    return { verdict: deny(`${subject}: ${specErrorMessage(e)}`) };
  }
  let stored: RangeSet | undefined;
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
    stored = parsedOrUndefined(old.spec)?.addresses;
  }
  return { pool: { name, operation: req.operation === "UPDATE" ? "UPDATE" : "CREATE", spec, ...(stored ? { stored } : {}) } };
}

/**
 * Whether the claim must be written even though it already covers the pool: when the
 * stored pool does not have every address yet (a CREATE, or an UPDATE that adds), the
 * claim is asserted again (its revision bumped), so a trim decided on the older claim
 * stands back instead of dropping addresses this pool is about to hold.
 */
function covered(pool: PreparedPool, claim: RangeSet | undefined): boolean {
  return !!claim?.containsSet(pool.spec.addresses) && !!pool.stored?.containsSet(pool.spec.addresses);
}

function decidePoolDelete(pool: SpiderIPPool, subject: string): Verdict {
  if (pool.metadata.finalizers?.includes(RELEASE_FINALIZER)) return allow();
  let allocated: AllocationRecord;
  try {
    allocated = allocatedIn(pool, parseAddressSpec(pool.spec));
  } catch {
    return allow(); // a pool that never parsed hands out nothing
  }
  if (allocated.count === 0) return allow();
  const holders = [...allocated.holders()];
  return deny(`${subject} still has ${allocated.count} allocated addresses (held by ${nameList(holders, 3)}); delete those pods or workloads first`);
}

function overlapMessage(pool: string, other: string, at: RangeSet): string {
  return `${subjectOf(pool)} overlaps SpiderIPPool "${other}" at ${at.toString()}`;
}

/**
 * Decides a pool against the cluster ledger. Returns `{ subnet }` when the pool belongs to
 * a SpiderSubnet (decide it with decidePoolInSubnet), else the outcome for a pool that lies
 * in no subnet.
 */
export function decidePoolInCluster(pool: PreparedPool, ledger: ClusterLedger): Outcome<ClusterLedger> & { subnet?: string } {
  const cidrText = formatCidr(pool.spec.cidr);
  const subnet = ledger.subnetOf(pool.spec.cidr);
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
  if (covered(pool, current?.addresses)) return { verdict: allow() };
  // Union with what it held: if this update never lands, the stored pool still holds the old addresses.
  const addresses = current ? current.addresses.union(pool.spec.addresses) : pool.spec.addresses;
  return { verdict: allow(), write: ledger.with("pools", pool.name, reclaimed({ cidr: pool.spec.cidr, addresses, ...(current?.rev ? { rev: current.rev } : {}) })) };
}

/**
 * Decides a pool that belongs to SpiderSubnet `subnetName` against that subnet's ledger.
 * `claimedByWriter`: the review is of pinpool's own write (an auto pool it reserved), which
 * it makes only after claiming the pool's addresses in this ledger with a new revision and
 * within that claim's deadline: a claim covering the pool needs no second write.
 */
export function decidePoolInSubnet(
  pool: PreparedPool,
  subnetName: string,
  subnet: ParsedAddressSpec,
  ledger: SubnetLedger,
  { deleting = false, claimedByWriter = false }: { deleting?: boolean; claimedByWriter?: boolean } = {},
): Outcome<SubnetLedger> {
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
  if (covered(pool, current?.addresses) || (claimedByWriter && current?.addresses.containsSet(pool.spec.addresses))) return { verdict: allow() };
  if (deleting) return { verdict: deny(`${subjectOf(pool.name)}: SpiderSubnet "${subnetName}" is being deleted and hands out no more addresses; use another subnet's CIDR`, 409) };
  const addresses = current ? current.addresses.union(pool.spec.addresses) : pool.spec.addresses;
  return { verdict: allow(), write: ledger.with(pool.name, reclaimed({ ...current, addresses })) };
}
