/**
 * The pool and subnet gauges the leader exports (src/metrics/reconcile.ts), set from what a
 * sweep judged.
 */
import type { SpiderIPPool } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import type { ReconcileMetrics } from "../metrics/reconcile.js";
import { poolCounts, subnetCountsOf } from "../reservation/counts.js";
import { LedgerFormatError } from "../reservation/ledger.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import type { Snapshot } from "./snapshot.js";
import type { Scope } from "./sweep-scope.js";

export interface GaugeSources {
  metrics: ReconcileMetrics;
  stores: LedgerStores;
  /** Pairs of objects that share addresses, as the last conflict check counted them. */
  conflicts: number;
  /** Whether pool `name` is stored. */
  stored(name: string): boolean;
}

/** The gauges of what a sweep judged: every pool on a full sweep, else those it named (gone ones dropped). */
export function exportGauges(d: GaugeSources, s: Snapshot, scope: Scope, pools: readonly SpiderIPPool[]): void {
  const m = d.metrics;
  if (scope.full) m.clearGauges();
  m.conflicts.set(d.conflicts);
  if (scope.ledgers) {
    // Every subnet's, afresh: a deleted subnet's go.
    m.subnetTotal.reset();
    m.subnetAllocated.reset();
    for (const subnet of s.subnets) {
      const name = subnet.metadata.name as string;
      try {
        const { spec, ledger } = d.stores.parsedSubnet(subnet);
        const counts = subnetCountsOf(spec, ledger);
        m.subnetTotal.set({ subnet: name }, counts.totalIPCount);
        m.subnetAllocated.set({ subnet: name }, counts.allocatedIPCount);
      } catch (e) {
        if (!(e instanceof AddressError) && !(e instanceof LedgerFormatError)) throw e; // no counts to show; the ledger step logs it
      }
    }
  }
  for (const name of scope.full ? [] : scope.pools) {
    if (d.stored(name)) continue;
    m.poolTotal.remove({ pool: name });
    m.poolAllocated.remove({ pool: name });
  }
  for (const pool of pools) {
    try {
      const counts = poolCounts(pool);
      const labels = { pool: pool.metadata.name as string };
      m.poolTotal.set(labels, counts.totalIPCount);
      m.poolAllocated.set(labels, counts.allocatedIPCount);
    } catch (e) {
      if (!(e instanceof AddressError)) throw e;
    }
  }
}

