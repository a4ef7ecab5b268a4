/**
 * Which of a pool's addresses another stored pool holds too, for the agent: it never hands
 * out a shared address. Read through a cache of every pool's spec, re-listed at most every
 * `ttlMs` and only when a claim asks (an idle agent lists nothing). A pool that starts to
 * overlap within the TTL is also caught by the controller's sweep (Conflict condition).
 */
import { parseAddressSpec } from "../api/address-spec.js";
import { AddressError, type Family } from "../ip/address.js";
import { RangeSet } from "../ip/range-set.js";
import type { PoolClient } from "../k8s/resources.js";
import { conflictsByObject, findConflicts } from "./conflicts.js";

export interface Shared {
  addresses: RangeSet;
  /** The other pools holding some of them. */
  with: string[];
}

export class SharedAddresses {
  private cache?: { at: number; byPool: Map<string, Shared> };

  constructor(
    private readonly pools: PoolClient,
    private readonly ttlMs = 5_000,
  ) {}

  /** The addresses of pool `name` (of `family`) that other pools hold too. */
  async of(name: string, family: Family): Promise<Shared> {
    if (!this.cache || Date.now() - this.cache.at > this.ttlMs) this.cache = { at: Date.now(), byPool: await this.load() };
    return this.cache.byPool.get(name) ?? { addresses: RangeSet.empty(family), with: [] };
  }

  private async load(): Promise<Map<string, Shared>> {
    const holdings = (await this.pools.list()).flatMap((p) => {
      try {
        return [{ name: p.metadata.name as string, addresses: parseAddressSpec(p.spec).addresses }];
      } catch (e) {
        if (e instanceof AddressError) return []; // never admitted in this shape: it hands out nothing
        throw e;
      }
    });
    const out = new Map<string, Shared>();
    for (const [name, list] of conflictsByObject(findConflicts(holdings))) {
      out.set(name, { addresses: RangeSet.fromRanges(list[0]!.shared.family, list.flatMap((c) => c.shared.ranges)), with: list.map((c) => c.other) });
    }
    return out;
  }
}
