/**
 * Validating admission of the Spider resources: pure decisions run inside ledger
 * compare-and-swaps. Admission only ever adds claims: a DELETE reads and writes no ledger
 * (a review can be forged, or refused by a later admission step after pinpool said yes);
 * the controller releases once the API server says the object is gone (RELEASE_FINALIZER).
 */
import type { SpiderSubnet } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import { LedgerFormatError } from "../reservation/ledger.js";
import type { SubnetLedger } from "../reservation/subnet-ledger.js";
import { clusterEntries } from "../reservation/ledger.js";
import { subnetEntries } from "../reservation/subnet-ledger.js";
import { type Provisional, withMark } from "../reservation/pending.js";
import type { AdmissionRequest } from "./admission.js";
import { type Verdict, allow, deny } from "../api/verdict.js";
import { type PreparedPool, decidePoolInCluster, decidePoolInSubnet, preparePool } from "./validate-pool.js";
import { decideReservedIP } from "./validate-reserved-ip.js";
import { decideSubnet, decideSubnetWithoutLedger } from "./validate-subnet.js";

/** Who sent the object under review: pinpool itself (the review's user is the controller's own, as the API server said at start). */
export interface Writer {
  self: boolean;
}

async function admitPool(req: AdmissionRequest, stores: LedgerStores, provisional: Provisional | undefined, by: Writer): Promise<Verdict> {
  const prepared = preparePool(req);
  return "verdict" in prepared ? prepared.verdict : claimPool(prepared.pool, stores, req.dryRun, provisional, by);
}

/**
 * Claims `pool`'s addresses in the cluster ledger and, when the pool belongs to a
 * SpiderSubnet, in that subnet's ledger.
 */
async function claimPool(pool: PreparedPool, stores: LedgerStores, dryRun: boolean, provisional: Provisional | undefined, by: Writer): Promise<Verdict> {
  const inCluster = await stores.updateCluster(dryRun, (ledger) => withMark(ledger, decidePoolInCluster(pool, ledger), pool.name, provisional, clusterEntries("pools")));
  if (inCluster.write && !dryRun) provisional?.marked({ ledger: { kind: "cluster", section: "pools" }, name: pool.name, object: "SpiderIPPool", pending: provisional.pending });
  if (!inCluster.verdict.allowed || !inCluster.subnet) return inCluster.verdict;
  const subnet = inCluster.subnet;
  const inSubnet = await stores.updateSubnet(subnet, dryRun, (state) =>
    state
      ? withMark(state.ledger, decidePoolInSubnet(pool, subnet, state.spec, state.ledger, { deleting: !!state.subnet.metadata.deletionTimestamp, claimedByWriter: by.self }), pool.name, provisional, subnetEntries)
      : { verdict: deny(`SpiderSubnet "${subnet}" was deleted while SpiderIPPool "${pool.name}" was admitted; apply the pool again`, 409) },
  );
  if (inSubnet.write && !dryRun) provisional?.marked({ ledger: { kind: "subnet", subnet }, name: pool.name, object: "SpiderIPPool", pending: provisional.pending });
  return inSubnet.verdict;
}

/** The ledger of the subnet as stored (the review's old object); undefined when there is none or it does not parse. */
function storedLedger(req: AdmissionRequest, stores: LedgerStores): SubnetLedger | undefined {
  if (!req.oldObject) return undefined;
  try {
    return stores.parsedSubnet(req.oldObject as unknown as SpiderSubnet).ledger;
  } catch (e) {
    if (e instanceof AddressError || e instanceof LedgerFormatError) return undefined;
    throw e;
  }
}

async function admitSubnet(req: AdmissionRequest, stores: LedgerStores, provisional?: Provisional): Promise<Verdict> {
  const held = storedLedger(req, stores);
  const early = decideSubnetWithoutLedger(req, held);
  if (early) return early;
  const name = (req.object as { metadata?: { name?: string } }).metadata?.name as string;
  const outcome = await stores.updateCluster(req.dryRun, (ledger) => withMark(ledger, decideSubnet(req, ledger, held), name, provisional, clusterEntries("subnets")));
  if (outcome.write && !req.dryRun) provisional?.marked({ ledger: { kind: "cluster", section: "subnets" }, name, object: "SpiderSubnet", pending: provisional.pending });
  return outcome.verdict;
}

/**
 * `provisional`: how the claims this admission writes are marked and settled (pending.ts).
 * `self`: the controller's own user name, when known.
 */
export async function admitSpiderResource(req: AdmissionRequest, stores: LedgerStores, provisional?: Provisional, self?: string): Promise<Verdict> {
  switch (req.resource.resource) {
    case "spidersubnets":
      return admitSubnet(req, stores, provisional);
    case "spiderippools":
      return admitPool(req, stores, provisional, { self: !!self && req.userInfo?.username === self });
    case "spiderreservedips":
      return decideReservedIP(req);
    default:
      return allow();
  }
}
