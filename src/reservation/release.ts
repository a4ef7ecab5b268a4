/**
 * Releasing ledger claims: the controller's job alone, after the API server says the
 * object is gone (or it is deleting and pinpool's finalizer is the last thing keeping it).
 * Admission never calls these.
 */
import type { ParsedAddressSpec } from "../api/address-spec.js";
import type { LedgerStores } from "./ledger-store.js";

/** Drops pool `name`'s claim from the cluster ledger and from its subnet's ledger. */
export async function releasePoolClaims(stores: LedgerStores, name: string, spec: ParsedAddressSpec): Promise<void> {
  const { subnet } = await stores.updateCluster(false, (ledger) => ({
    subnet: ledger.subnetOf(spec.cidr),
    ...(ledger.pools.has(name) ? { write: ledger.without("pools", name) } : {}),
  }));
  if (!subnet) return;
  await stores.updateSubnet(subnet, false, (state) => (state?.ledger.pools.has(name) ? { write: state.ledger.without(name) } : {}));
}

/** Drops subnet `name`'s entry from the cluster ledger. */
export async function releaseSubnetClaim(stores: LedgerStores, name: string): Promise<void> {
  await stores.updateCluster(false, (ledger) => (ledger.subnets.has(name) ? { write: ledger.without("subnets", name) } : {}));
}
