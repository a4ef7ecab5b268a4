/**
 * Which of a pool's addresses another stored pool holds too, for the agent: it never hands
 * out a shared address. Read through a cache of every pool's spec, re-listed when it is
 * older than `ttlMs`, or than a second when a claim names a pool the cache has not seen
 * (a pool made moments ago), and only when a claim asks (an idle agent lists nothing);
 * concurrent claims share one list. A pool that starts to overlap a known one within the
 * TTL is caught by the controller's sweep too (Conflict condition).
 *
 * Given a `revision` (the agent's watch cache of pools: it counts spec changes and answers
 * undefined while the watch is down), the catalog is rebuilt when the revision moves
 * instead of on a timer, from the cache's list: no API call at all.
 */
import { parsedOrUndefined } from "../api/address-spec.js";
import type { Family } from "../ip/address.js";
import { RangeSet } from "../ip/range-set.js";
import type { SpiderIPPool } from "../api/types.js";
import { conflictsByObject, findConflicts } from "./conflicts.js";

export interface Shared {
  addresses: RangeSet;
  /** The other pools holding some of them. */
  with: string[];
}

const UNKNOWN_POOL_REFRESH_MS = 1_000;

/** Where the pools come from: the API server (PoolClient) or a watch cache. */
export interface PoolSource {
  list(): Promise<SpiderIPPool[]>;
}

interface Catalog {
  at: number;
  revision?: number;
  known: Set<string>;
  byPool: Map<string, Shared>;
}

export class SharedAddresses {
  private cache?: Catalog;
  private loading?: Promise<Catalog>;

  constructor(
    private readonly pools: PoolSource,
    private readonly ttlMs = 5_000,
    private readonly revision?: () => number | undefined,
  ) {}

  /** The addresses of pool `name` (of `family`) that other pools hold too. */
  async of(name: string, family: Family): Promise<Shared> {
    const revision = this.revision?.();
    if (revision !== undefined) {
      if (this.cache?.revision !== revision) this.cache = { ...(await this.reload()), revision };
    } else {
      const age = this.cache ? Date.now() - this.cache.at : Infinity;
      if (age > this.ttlMs || (!this.cache?.known.has(name) && age > UNKNOWN_POOL_REFRESH_MS)) this.cache = await this.reload();
    }
    const shared = this.cache?.byPool.get(name);
    return shared && shared.addresses.family === family ? shared : { addresses: RangeSet.empty(family), with: [] };
  }

  private reload(): Promise<Catalog> {
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<Catalog> {
    const at = Date.now();
    const listed = await this.pools.list();
    const holdings = listed.flatMap((p) => {
      const spec = parsedOrUndefined(p.spec);
      return spec ? [{ name: p.metadata.name as string, addresses: spec.addresses }] : [];
    });
    const byPool = new Map<string, Shared>();
    for (const [name, list] of conflictsByObject(findConflicts(holdings))) {
      byPool.set(name, { addresses: RangeSet.fromRanges(list[0]!.shared.family, list.flatMap((c) => c.shared.ranges)), with: list.map((c) => c.other) });
    }
    return { at, known: new Set(listed.map((p) => p.metadata.name as string)), byPool };
  }
}
