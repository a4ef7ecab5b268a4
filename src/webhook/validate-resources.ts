/**
 * Validating admission of the Spider resources: pure decisions run inside ledger
 * compare-and-swaps. Admission only ever adds claims: a DELETE reads and writes no ledger
 * (a review can be forged, or refused by a later admission step after pinpool said yes);
 * the controller releases once the API server says the object is gone (RELEASE_FINALIZER).
 */
import type { LedgerStores } from "../reservation/ledger-store.js";
import type { AdmissionRequest } from "./admission.js";
import { type Verdict, allow, deny } from "../api/verdict.js";
import { type PreparedPool, decidePoolInCluster, decidePoolInSubnet, preparePool } from "./validate-pool.js";
import { decideReservedIP } from "./validate-reserved-ip.js";
import { decideSubnet, decideSubnetWithoutLedger } from "./validate-subnet.js";

async function admitPool(req: AdmissionRequest, stores: LedgerStores): Promise<Verdict> {
  const prepared = preparePool(req);
  return "verdict" in prepared ? prepared.verdict : claimPool(prepared.pool, stores, req.dryRun);
}

/**
 * Claims `pool`'s addresses in the cluster ledger and, when the pool belongs to a
 * SpiderSubnet, in that subnet's ledger.
 */
async function claimPool(pool: PreparedPool, stores: LedgerStores, dryRun: boolean): Promise<Verdict> {
  const inCluster = await stores.updateCluster(dryRun, (ledger) => decidePoolInCluster(pool, ledger));
  if (!inCluster.verdict.allowed || !inCluster.subnet) return inCluster.verdict;
  const subnet = inCluster.subnet;
  const inSubnet = await stores.updateSubnet(subnet, dryRun, (state) =>
    state
      ? decidePoolInSubnet(pool, subnet, state.spec, state.ledger, !!state.subnet.metadata.deletionTimestamp)
      : { verdict: deny(`SpiderSubnet "${subnet}" was deleted while SpiderIPPool "${pool.name}" was admitted; apply the pool again`, 409) },
  );
  return inSubnet.verdict;
}

async function admitSubnet(req: AdmissionRequest, stores: LedgerStores): Promise<Verdict> {
  const early = decideSubnetWithoutLedger(req);
  if (early) return early;
  return (await stores.updateCluster(req.dryRun, (ledger) => decideSubnet(req, ledger))).verdict;
}

export async function admitSpiderResource(req: AdmissionRequest, stores: LedgerStores): Promise<Verdict> {
  switch (req.resource.resource) {
    case "spidersubnets":
      return admitSubnet(req, stores);
    case "spiderippools":
      return admitPool(req, stores);
    case "spiderreservedips":
      return decideReservedIP(req);
    default:
      return allow();
  }
}
