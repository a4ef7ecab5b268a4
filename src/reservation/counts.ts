/**
 * Keeps the count columns (TOTAL-IP-COUNT, ALLOCATED-IP-COUNT) of pools and subnets true
 * to their spec, allocations and ledger. Every write is a compare-and-swap.
 */
import type * as k8s from "@kubernetes/client-node";
import { parseAddressSpec } from "../api/address-spec.js";
import { GROUP, PLURAL, type SpiderIPPool, type SpiderSubnet, VERSION } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { type CasOptions, DEFAULT_CAS, compareAndSwap } from "../k8s/cas.js";
import { isNotFound } from "../k8s/errors.js";
import type { PoolClient } from "../k8s/resources.js";
import type { ParsedAddressSpec } from "../api/address-spec.js";
import type { LedgerStores } from "./ledger-store.js";
import { LEGACY_MARK } from "./ledger-objects.js";
import type { SubnetLedger } from "./subnet-ledger.js";


/** The count columns are int64; a /64's size is saturated at the largest integer JSON keeps exact. */
export function countValue(n: bigint): number {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

export interface Counts {
  totalIPCount: number;
  allocatedIPCount: number;
}

/** A pool's counts: its addresses (spec.ips less excludeIPs) and those held by pods. */
export function poolCounts(pool: SpiderIPPool): Counts {
  const spec = parseAddressSpec(pool.spec);
  return {
    totalIPCount: countValue(spec.addresses.size),
    allocatedIPCount: AllocationRecord.decode(spec.family, pool.status?.allocations).count,
  };
}

/** A subnet's counts: its addresses and those its ledger hands to pools. */
export function subnetCountsOf(spec: ParsedAddressSpec, ledger: SubnetLedger): Counts {
  return {
    totalIPCount: countValue(spec.addresses.size),
    allocatedIPCount: countValue(ledger.heldIn(spec.addresses)),
  };
}

export function countsStale(status: Partial<Counts> | undefined, counts: Counts): boolean {
  return status?.totalIPCount !== counts.totalIPCount || status?.allocatedIPCount !== counts.allocatedIPCount;
}

/**
 * Rewrites a pool's counts when they are stale. `known`: the pool as its writer just got it
 * back, for the first attempt instead of a read (if it changed since, the write is a 409
 * and the next attempt reads).
 */
export async function refreshPoolCounts(pools: PoolClient, name: string, cas: CasOptions = DEFAULT_CAS, known?: SpiderIPPool): Promise<void> {
  let first = known;
  await compareAndSwap(
    `SpiderIPPool "${name}" status`,
    async () => {
      const pool = first ?? (await pools.get(name));
      first = undefined;
      if (!pool) return;
      const counts = poolCounts(pool);
      if (countsStale(pool.status, counts)) await pools.replaceStatus({ ...pool, status: { ...pool.status, ...counts } });
    },
    cas,
  );
}

/**
 * Rewrites a subnet's counts when they are stale, from its ledger as `stores` has it. Once
 * the ledger is stored in parts, `status.controlledIPPools` says so (LEGACY_MARK): an older
 * pinpool's ledger there is taken over, and an older pinpool still running refuses rather
 * than reads it as empty.
 */
export async function refreshSubnetCounts(custom: k8s.CustomObjectsApi, stores: LedgerStores, name: string, cas: CasOptions = DEFAULT_CAS): Promise<void> {
  const ref = { group: GROUP, version: VERSION, plural: PLURAL.SpiderSubnet, name };
  await compareAndSwap(
    `SpiderSubnet "${name}" status`,
    async () => {
      let subnet: SpiderSubnet;
      try {
        subnet = (await custom.getClusterCustomObject(ref)) as SpiderSubnet;
      } catch (e) {
        if (isNotFound(e)) return;
        throw e;
      }
      const { spec, ledger } = stores.parsedSubnet(subnet);
      const counts = subnetCountsOf(spec, ledger);
      const marked = subnet.status?.controlledIPPools === LEGACY_MARK || !stores.subnetParts.stored(subnet);
      if (!countsStale(subnet.status, counts) && marked) return;
      const status = { ...subnet.status, ...counts, ...(marked ? {} : { controlledIPPools: LEGACY_MARK }) };
      await custom.replaceClusterCustomObjectStatus({ ...ref, body: { ...subnet, status } });
    },
    cas,
  );
}
