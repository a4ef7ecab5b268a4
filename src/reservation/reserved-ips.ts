/**
 * SpiderReservedIPs: addresses no pool hands out and no auto pool takes. Read by the
 * webhook (auto-pool reservation) and the agent (claims) through one cache, so neither hot
 * path lists them on every request. Re-read at most every 5 s: an address reserved in the
 * last 5 s can still be chosen, a window operators accept for objects that change rarely.
 */
import type * as k8s from "@kubernetes/client-node";
import type { SpiderReservedIP } from "../api/types.js";
import { AddressError, type Family } from "../ip/address.js";
import { parseIPList } from "../ip/ip-list.js";
import { RangeSet } from "../ip/range-set.js";
import { listReservedIPs } from "../k8s/resources.js";

/** spec.ipVersion, or the family of the first entry when it is left out. */
export function reservedIPFamily(r: SpiderReservedIP): Family {
  return r.spec?.ipVersion ?? (r.spec?.ips?.[0]?.includes(":") ? 6 : 4);
}

export interface Reserved {
  /** Every well-formed SpiderReservedIP's addresses, per family. */
  sets: Record<Family, RangeSet>;
  /** Those that do not parse (written while the webhooks were off): skipped, each with why. */
  skipped: Array<{ name: string; message: string; object: SpiderReservedIP }>;
}

/**
 * Every SpiderReservedIP's addresses, per family. A malformed one is skipped and named in
 * `skipped`: one bad object must not stop every reservation and every pod on the cluster.
 */
export function reservedSets(items: readonly SpiderReservedIP[]): Reserved {
  const sets: Record<Family, RangeSet> = { 4: RangeSet.empty(4), 6: RangeSet.empty(6) };
  const skipped: Reserved["skipped"] = [];
  for (const r of items) {
    const family = reservedIPFamily(r);
    try {
      sets[family] = sets[family].union(parseIPList(family, r.spec?.ips, `SpiderReservedIP "${r.metadata.name}" spec.ips`));
    } catch (e) {
      if (!(e instanceof AddressError)) throw e;
      skipped.push({ name: r.metadata.name as string, message: e.message, object: r });
    }
  }
  return { sets, skipped };
}

/** The warning an admission carries for each skipped SpiderReservedIP. */
export function skippedWarnings(reserved: Reserved): string[] {
  return reserved.skipped.map((s) => `SpiderReservedIP "${s.name}" is ignored: ${s.message}; fix or delete it`);
}

export class ReservedIPs {
  private cache?: { at: number; reserved: Reserved };

  constructor(
    private readonly custom: k8s.CustomObjectsApi,
    private readonly ttlMs = 5_000,
  ) {}

  async read(): Promise<Reserved> {
    if (!this.cache || Date.now() - this.cache.at > this.ttlMs) {
      this.cache = { at: Date.now(), reserved: reservedSets(await listReservedIPs(this.custom)) };
    }
    return this.cache.reserved;
  }
}
