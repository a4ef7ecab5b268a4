/**
 * The one writer of a pool's allocations (status.allocations), used by the agent (claims
 * and releases) and the controller (GC of gone holders): a compare-and-swap on the pool's
 * resourceVersion with group commit per pool, every conflict counted through `cas`.
 *
 * With a `cached` view (the agent's watch cache of pools) a decision starts from the newest
 * copy it knows, the cache's or the one its own last write returned, so a claim costs one
 * API call, the write. A copy that turns out stale costs a 409: the next attempt reads the
 * pool from the API server, as every attempt does without a cache.
 */
import type * as k8s from "@kubernetes/client-node";
import { parseAddressSpec } from "../api/address-spec.js";
import type { SpiderIPPool } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import type { AddressUse } from "../ip/allocation-status.js";
import { type CasOptions, DEFAULT_CAS } from "../k8s/cas.js";
import { isConflict } from "../k8s/errors.js";
import { GroupCommit, type GroupCommitStore } from "../k8s/group-commit.js";
import { PoolClient } from "../k8s/resources.js";
import { countValue } from "./counts.js";

/** `pool` with `record` as its allocations and the printer-column counts to match. */
export function withRecord(pool: SpiderIPPool, record: AllocationRecord, total: bigint): SpiderIPPool {
  return {
    ...pool,
    status: { ...pool.status, allocations: record.encode(), allocatedIPCount: record.count, totalIPCount: countValue(total) },
  };
}

/** Frees the addresses `holder` holds in `pool` (those `which` picks, when given); undefined when none. Pure. */
export function decideRelease(pool: SpiderIPPool | undefined, holder: string, which?: (use: AddressUse | undefined) => boolean): SpiderIPPool | undefined {
  if (!pool) return undefined;
  const spec = parseAddressSpec(pool.spec);
  const record = AllocationRecord.decode(spec.family, pool.status?.allocations, `SpiderIPPool "${pool.metadata.name}" status.allocations`);
  if (record.releaseHolder(holder, which).length === 0) return undefined;
  return withRecord(pool, record, spec.addresses.size);
}

/**
 * The newer of two copies of one object. resourceVersions are etcd revisions, integers that
 * grow (KEP-5504 made comparing them supported); anything else keeps `a`, and a wrong
 * guess only costs a 409.
 */
export function newer<T extends { metadata: { resourceVersion?: string } }>(a: T, b: T | undefined): T {
  const ra = a.metadata.resourceVersion ?? "";
  const rb = b?.metadata.resourceVersion ?? "";
  return b && /^\d+$/.test(ra) && /^\d+$/.test(rb) && BigInt(rb) > BigInt(ra) ? b : a;
}

/** A pool as a watch cache holds it: undefined when unknown (or the cache is not following). */
export type CachedPool = (name: string) => SpiderIPPool | undefined;

export class AllocationWriter {
  private readonly pools: PoolClient;
  private readonly lanes = new Map<string, GroupCommit<SpiderIPPool | undefined, SpiderIPPool>>();

  constructor(
    custom: k8s.CustomObjectsApi,
    private readonly cas: CasOptions = DEFAULT_CAS,
    private readonly cached?: CachedPool,
  ) {
    this.pools = new PoolClient(custom);
  }

  /** The lane's store: reads the newest known copy (or GETs), and writes with CAS. */
  private store(name: string): GroupCommitStore<SpiderIPPool | undefined, SpiderIPPool> {
    let last: SpiderIPPool | undefined; // the pool as this lane last read or wrote it
    let stale = false; // a write met a conflict: the next read asks the API server
    return {
      read: async () => {
        const cached = stale ? undefined : this.cached?.(name);
        // A pool the cache does not know (made a moment ago, or deleted) is read.
        if (cached) return newer(cached, last);
        stale = false;
        last = await this.pools.get(name);
        return last;
      },
      apply: (_view, next) => next,
      write: async (base, next) => {
        if (!base || !next) return;
        try {
          last = await this.pools.replaceStatus({ ...next, metadata: { ...next.metadata, resourceVersion: base.metadata.resourceVersion } });
        } catch (e) {
          if (isConflict(e)) stale = true;
          throw e;
        }
      },
    };
  }

  /**
   * Decides on the pool as stored (undefined when it does not exist) and writes the
   * decision's pool status. Concurrent decisions on one pool share one read and one write.
   */
  submit<R extends { write?: SpiderIPPool }>(name: string, decide: (pool: SpiderIPPool | undefined) => R): Promise<R> {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = new GroupCommit(`SpiderIPPool "${name}" allocations`, this.store(name), this.cas);
      this.lanes.set(name, lane);
    }
    return lane.submit(false, decide);
  }

  /** Frees what `holder` holds in pool `name` (what `which` picks of it, when given); true when something was freed. */
  async release(name: string, holder: string, which?: (use: AddressUse | undefined) => boolean): Promise<boolean> {
    const { write } = await this.submit(name, (pool) => ({ write: decideRelease(pool, holder, which) }));
    return !!write;
  }
}
