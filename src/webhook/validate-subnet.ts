/**
 * SpiderSubnet admission, pure: given the request and the cluster ledger, the verdict and
 * the ledger to write. Rules from Spiderpool's subnet_validate.go; messages name the
 * conflicting object and the overlapping ranges.
 */
import type { SpiderSubnet } from "../api/types.js";
import { formatCidr } from "../ip/cidr.js";
import type { AdmissionRequest } from "./admission.js";
import { type Outcome, type Verdict, allow, deny, nameList } from "../api/verdict.js";
import { type ClusterLedger, reclaimed } from "../reservation/ledger.js";
import type { SubnetLedger } from "../reservation/subnet-ledger.js";
import { parsedOrUndefined } from "../api/address-spec.js";
import { checkAddressSpec, deletingSpecChange, immutableChange, specErrorMessage } from "./spec-checks.js";

/**
 * What is decided without the cluster ledger: a DELETE (refused while the subnet's own
 * ledger, `held`, lists pools, else allowed; the controller releases the claim once the
 * subnet is gone) and an UPDATE of a subnet being deleted (its spec may not change).
 * Undefined: decide against the cluster ledger (decideSubnet).
 */
export function decideSubnetWithoutLedger(req: AdmissionRequest, held: SubnetLedger | undefined): Verdict | undefined {
  if (req.operation === "DELETE") return decideSubnetDelete(req, held);
  const subnet = req.object as unknown as SpiderSubnet;
  if (req.operation === "UPDATE" && subnet.metadata?.deletionTimestamp) {
    const old = req.oldObject as unknown as SpiderSubnet;
    const refused = deletingSpecChange(`SpiderSubnet "${subnet.metadata.name}"`, old.spec, subnet.spec);
    return refused ? deny(refused) : allow();
  }
  return undefined;
}

/**
 * CREATE and UPDATE against the cluster ledger: the subnet's claim is added, never dropped.
 * `held`: the subnet's own ledger, as stored (an UPDATE may not take away what pools hold).
 */
export function decideSubnet(req: AdmissionRequest, ledger: ClusterLedger, held?: SubnetLedger): Outcome<ClusterLedger> {
  const subnet = req.object as unknown as SpiderSubnet;
  const name = subnet.metadata?.name;
  if (!name) {
    return { verdict: deny(`SpiderSubnet needs metadata.name: generateName is not supported, because pinpool's ledger is keyed by name`) };
  }
  const subject = `SpiderSubnet "${name}"`;
  let parsed;
  try {
    parsed = checkAddressSpec(subnet.spec);
  } catch (e) {
    return { verdict: deny(`${subject}: ${specErrorMessage(e)}`) };
  }
  const cidrText = formatCidr(parsed.cidr);
  if (req.operation === "UPDATE") {
    const old = req.oldObject as unknown as SpiderSubnet;
    const changed = immutableChange(subject, old.spec, subnet.spec);
    if (changed) return { verdict: deny(changed) };
    // No update may take away an address a pool holds.
    for (const [pool, claim] of held?.pools ?? []) {
      const dropped = claim.addresses.difference(parsed.addresses);
      if (!dropped.isEmpty) {
        return {
          verdict: deny(
            `${subject}: the update would remove ${dropped.toString()}, which SpiderIPPool "${pool}" holds; shrink or delete that pool first (a subnet's addresses are spec.ips less spec.excludeIPs)`,
          ),
        };
      }
    }
  }
  const [overlapping] = ledger.cidrConflicts("subnets", parsed.cidr, { except: name });
  if (overlapping) {
    return {
      verdict: deny(
        `${subject}: spec.subnet ${cidrText} overlaps SpiderSubnet "${overlapping.name}" (spec.subnet ${formatCidr(overlapping.cidr)}); subnets may not overlap`,
      ),
    };
  }
  const [stranger] = ledger.cidrConflicts("pools", parsed.cidr, { sameCidrAllowed: true });
  if (stranger) {
    return {
      verdict: deny(
        `${subject}: spec.subnet ${cidrText} overlaps SpiderIPPool "${stranger.name}" whose spec.subnet is ${formatCidr(stranger.cidr)}; a pool inside a subnet must use the subnet's CIDR`,
      ),
    };
  }
  // Pools created before this subnet, with its CIDR, become its pools: it must contain them.
  for (const [pool, claim] of ledger.pools) {
    if (formatCidr(claim.cidr) !== cidrText) continue;
    const outside = claim.addresses.difference(parsed.addresses);
    if (!outside.isEmpty) {
      return {
        verdict: deny(`${subject}: SpiderIPPool "${pool}" holds ${outside.toString()}, which this subnet's spec.ips (less spec.excludeIPs) would not contain`),
      };
    }
  }
  const current = ledger.subnets.get(name);
  const same = current && formatCidr(current.cidr) === cidrText ? current : undefined;
  // An UPDATE that adds nothing writes nothing; a CREATE re-asserts even an identical claim
  // (its revision bumped) so a trim judged on a stale one stands back.
  const stored = req.operation === "UPDATE" ? parsedOrUndefined((req.oldObject as unknown as SpiderSubnet).spec)?.addresses : undefined;
  if (same?.addresses.containsSet(parsed.addresses) && stored?.containsSet(parsed.addresses)) return { verdict: allow() };
  // Union with what it held: admission only adds; the sweep trims what the stored subnet lacks.
  const addresses = same ? same.addresses.union(parsed.addresses) : parsed.addresses;
  return { verdict: allow(), write: ledger.with("subnets", name, reclaimed({ cidr: parsed.cidr, addresses, ...(same?.rev ? { rev: same.rev } : {}) })) };
}

function decideSubnetDelete(req: AdmissionRequest, held: SubnetLedger | undefined): Verdict {
  const old = req.oldObject as unknown as SpiderSubnet;
  const name = old.metadata.name as string;
  // An unreadable ledger (undefined) must not make the subnet undeletable; the finalizer still waits for stored pools.
  const pools = [...(held?.pools.keys() ?? [])];
  if (pools.length > 0) {
    return deny(`SpiderSubnet "${name}" still hands addresses to SpiderIPPool ${nameList(pools)}; delete those pools (or their workloads) first`);
  }
  return allow();
}
