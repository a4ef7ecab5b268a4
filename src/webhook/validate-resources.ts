/** Validating admission of the Spider resources: pure decisions run inside ledger compare-and-swaps. */
import type { LedgerStores } from "../reservation/ledger-store.js";
import type { AdmissionRequest } from "./admission.js";
import { type Verdict, allow, deny } from "../api/verdict.js";
import { type PreparedPool, decidePoolInCluster, decidePoolInSubnet, preparePool } from "./validate-pool.js";
import { decideReservedIP } from "./validate-reserved-ip.js";
import { decideSubnet } from "./validate-subnet.js";

async function admitPool(req: AdmissionRequest, stores: LedgerStores): Promise<Verdict> {
  const prepared = preparePool(req);
  return "verdict" in prepared ? prepared.verdict : settlePool(prepared.pool, stores, req.dryRun);
}

/**
 * Claims (CREATE, UPDATE) or releases (DELETE) `pool`'s addresses in the cluster ledger and,
 * when the pool belongs to a SpiderSubnet, in that subnet's ledger. The controller releases
 * a deleted pool's claims through here too, once its finalizer's wait is over.
 */
export async function settlePool(pool: PreparedPool, stores: LedgerStores, dryRun: boolean): Promise<Verdict> {
  const inCluster = await stores.updateCluster(dryRun, (ledger) => decidePoolInCluster(pool, ledger));
  if (!inCluster.verdict.allowed || !inCluster.subnet) return inCluster.verdict;
  const subnet = inCluster.subnet;
  const inSubnet = await stores.updateSubnet(subnet, dryRun, (state) => {
    if (state) return decidePoolInSubnet(pool, subnet, state.spec, state.ledger);
    // A deleted subnet holds nothing to release; a pool cannot join a subnet that is gone.
    return { verdict: pool.operation === "DELETE" ? allow() : deny(`SpiderSubnet "${subnet}" was deleted while SpiderIPPool "${pool.name}" was admitted; apply the pool again`, 409) };
  });
  return inSubnet.verdict;
}

export async function admitSpiderResource(req: AdmissionRequest, stores: LedgerStores): Promise<Verdict> {
  switch (req.resource.resource) {
    case "spidersubnets":
      return (await stores.updateCluster(req.dryRun, (ledger) => decideSubnet(req, ledger))).verdict;
    case "spiderippools":
      return admitPool(req, stores);
    case "spiderreservedips":
      return decideReservedIP(req);
    default:
      return allow();
  }
}
