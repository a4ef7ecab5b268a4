/**
 * The one writer of a pool's allocations (status.allocations), used by the agent (claims
 * and releases) and the controller (GC of gone holders): a compare-and-swap on the pool's
 * resourceVersion with group commit per pool, every conflict counted through `cas`.
 */
import type * as k8s from "@kubernetes/client-node";
import { parseAddressSpec } from "../api/address-spec.js";
import type { SpiderIPPool } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { type CasOptions, DEFAULT_CAS } from "../k8s/cas.js";
import { GroupCommit } from "../k8s/group-commit.js";
import { PoolClient } from "../k8s/resources.js";
import { countValue } from "./counts.js";

/** `pool` with `record` as its allocations and the printer-column counts to match. */
export function withRecord(pool: SpiderIPPool, record: AllocationRecord, total: bigint): SpiderIPPool {
  return {
    ...pool,
    status: { ...pool.status, allocations: record.encode(), allocatedIPCount: record.count, totalIPCount: countValue(total) },
  };
}

/** Frees every address `holder` holds in `pool`; undefined when it holds none. Pure. */
export function decideRelease(pool: SpiderIPPool | undefined, holder: string): SpiderIPPool | undefined {
  if (!pool) return undefined;
  const spec = parseAddressSpec(pool.spec);
  const record = AllocationRecord.decode(spec.family, pool.status?.allocations);
  if (record.releaseHolder(holder).length === 0) return undefined;
  return withRecord(pool, record, spec.addresses.size);
}

export class AllocationWriter {
  private readonly pools: PoolClient;
  private readonly lanes = new Map<string, GroupCommit<SpiderIPPool | undefined, SpiderIPPool>>();

  constructor(
    custom: k8s.CustomObjectsApi,
    private readonly cas: CasOptions = DEFAULT_CAS,
  ) {
    this.pools = new PoolClient(custom);
  }

  /**
   * Decides on the pool as stored (undefined when it does not exist) and writes the
   * decision's pool status. Concurrent decisions on one pool share one read and one write.
   */
  submit<R extends { write?: SpiderIPPool }>(name: string, decide: (pool: SpiderIPPool | undefined) => R): Promise<R> {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = new GroupCommit(
        `SpiderIPPool "${name}" allocations`,
        {
          read: () => this.pools.get(name),
          apply: (_view, next) => next,
          write: async (base, next) => {
            if (base && next) await this.pools.replaceStatus({ ...next, metadata: { ...next.metadata, resourceVersion: base.metadata.resourceVersion } });
          },
        },
        this.cas,
      );
      this.lanes.set(name, lane);
    }
    return lane.submit(false, decide);
  }

  /** Frees what `holder` holds in pool `name`; true when something was freed. */
  async release(name: string, holder: string): Promise<boolean> {
    const { write } = await this.submit(name, (pool) => ({ write: decideRelease(pool, holder) }));
    return !!write;
  }
}
