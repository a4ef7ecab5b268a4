/**
 * SpiderReservedIPs: addresses no pool hands out and no auto pool takes. Read by the
 * webhook (auto-pool reservation) and the agent (claims) through one cache, so neither hot
 * path lists them on every request. Re-read at most every 5 s: an address reserved in the
 * last 5 s can still be chosen, a window operators accept for objects that change rarely.
 */
import type * as k8s from "@kubernetes/client-node";
import type { SpiderReservedIP } from "../api/types.js";
import type { Family } from "../ip/address.js";
import { parseIPList } from "../ip/ip-list.js";
import { RangeSet } from "../ip/range-set.js";
import { listReservedIPs } from "../k8s/resources.js";

/** spec.ipVersion, or the family of the first entry when it is left out. */
export function reservedIPFamily(r: SpiderReservedIP): Family {
  return r.spec?.ipVersion ?? (r.spec?.ips?.[0]?.includes(":") ? 6 : 4);
}

/** Every SpiderReservedIP's addresses, per family. */
export function reservedSets(items: readonly SpiderReservedIP[]): Record<Family, RangeSet> {
  const out: Record<Family, RangeSet> = { 4: RangeSet.empty(4), 6: RangeSet.empty(6) };
  for (const r of items) {
    const family = reservedIPFamily(r);
    out[family] = out[family].union(parseIPList(family, r.spec.ips, `SpiderReservedIP "${r.metadata.name}" spec.ips`));
  }
  return out;
}

export class ReservedIPs {
  private cache?: { at: number; sets: Record<Family, RangeSet> };

  constructor(
    private readonly custom: k8s.CustomObjectsApi,
    private readonly ttlMs = 5_000,
  ) {}

  async sets(): Promise<Record<Family, RangeSet>> {
    if (!this.cache || Date.now() - this.cache.at > this.ttlMs) {
      this.cache = { at: Date.now(), sets: reservedSets(await listReservedIPs(this.custom)) };
    }
    return this.cache.sets;
  }
}
