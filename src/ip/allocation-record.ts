import { AddressError, type Family, formatAddress } from "./address.js";
import { parseIPList } from "./ip-list.js";
import { RangeSet } from "./range-set.js";

/**
 * A pool's allocations as stored in `SpiderIPPool.status.allocations`:
 *
 *   prefixes: ["default/nginx-644659db67-", "default/web/"]
 *   ips:      ["10.244.100.90-10.244.100.91", "10.244.100.93"]
 *   holders:  ["0:6lsmm", "0:n7ttd", "1:0"]
 *
 * `ips` lists every allocated address in ascending order in the compact `spec.ips` form;
 * `holders[i]` names the key holding the i-th of them as `<index into prefixes>:<suffix>`,
 * a key being split after its last "/" or "-" (pods of one ReplicaSet share
 * `namespace/rs-name-`; a StatefulSet's ordinals share `namespace/name/`). So above,
 * 10.244.100.90 is held by default/nginx-644659db67-6lsmm and 10.244.100.93 by the
 * StatefulSet `default/web`'s ordinal 0.
 *
 * Size: a ReplicaSet pod costs its 5-character suffix plus about 5 bytes (index, colon,
 * quotes, comma), however pods of different ReplicaSets interleave during rollouts: a fully
 * allocated pool of 65,536 IPv4 addresses is about 0.63 MiB of JSON (measured by the unit
 * test), far below the API server's 1.5 MiB object limit. Spiderpool's `{ip: {pod, podUid}}`
 * map would be about 5 MiB. Pod UIDs and container ids live in the pod's SpiderEndpoint,
 * where the agent checks them; the pool record holds only what keeps two pods off one
 * address: the address and its holder's key.
 */
export interface AllocationsStatus {
  prefixes: string[];
  ips: string[];
  holders: string[];
}

/** An address is held by another key: the caller raced, or its record is stale. */
export class AddressTakenError extends Error {
  override name = "AddressTakenError";
  constructor(
    readonly address: string,
    readonly holder: string,
    readonly claimant: string,
  ) {
    super(`${address} is already held by "${holder}", cannot give it to "${claimant}"`);
  }
}

/** Splits a holder key after its last "/" or "-". */
function splitKey(key: string): [prefix: string, suffix: string] {
  const cut = Math.max(key.lastIndexOf("/"), key.lastIndexOf("-")) + 1;
  return [key.slice(0, cut), key.slice(cut)];
}

/** One stored holder: `<index into prefixes>:<suffix>` (s: a suffix may hold any character encode() wrote). */
const HOLDER = /^(\d+):(.*)$/s;

/**
 * Whether `stored` lists `key` as a holder, read as decode() reads it but without decoding:
 * string matches only, no address enumerated, so checking every pool of a cluster stays
 * cheap. Never throws: a field that is not a list lists nobody.
 */
export function listsHolder(stored: AllocationsStatus | undefined, key: string): boolean {
  const prefixes: unknown = stored?.prefixes;
  const holders: unknown = stored?.holders;
  if (!Array.isArray(prefixes) || !Array.isArray(holders)) return false;
  return holders.some((h) => {
    const m = typeof h === "string" ? HOLDER.exec(h) : null;
    const prefix: unknown = m && prefixes[Number(m[1])];
    return typeof prefix === "string" && prefix + (m?.[2] ?? "") === key;
  });
}

/** A pool's allocations: which address is held by which key. Mutable; decode → change → encode. */
export class AllocationRecord {
  private readonly byAddress = new Map<bigint, string>();
  private readonly byHolder = new Map<string, bigint[]>();

  constructor(readonly family: Family) {}

  static decode(family: Family, stored: AllocationsStatus | undefined, field = "status.allocations"): AllocationRecord {
    const record = new AllocationRecord(family);
    if (!stored) return record;
    const allocated = parseIPList(family, stored.ips, `${field}.ips`);
    const holders = stored.holders ?? [];
    if (!Array.isArray(holders)) {
      throw new AddressError(`${field}.holders`, holders, `expected a list with one holder for each address in ${field}.ips`);
    }
    // Sized by arithmetic before a single address is enumerated: the holders list is bounded
    // by the object's size, the ranges are not (one stored "fd00::-fd00::ffff:ffff:ffff:ffff"
    // is 2^64 addresses, and enumerating them hangs the agent or the controller).
    if (allocated.size !== BigInt(holders.length)) {
      throw new AddressError(
        `${field}.ips`,
        stored.ips,
        `holds ${allocated.size} addresses, but ${field}.holders lists ${holders.length}; allowed: exactly one holder per address, so exactly ${holders.length} addresses`,
      );
    }
    [...allocated.addresses()].forEach((address, i) => {
      const m = HOLDER.exec(holders[i] ?? "");
      const prefix = m ? stored.prefixes?.[Number(m[1])] : undefined;
      if (!m || prefix === undefined) {
        throw new AddressError(
          `${field}.holders[${i}]`,
          holders[i],
          `expected "<index into ${field}.prefixes (0-${(stored.prefixes?.length ?? 0) - 1})>:<key suffix>"`,
        );
      }
      record.allocate(address, prefix + m[2]);
    });
    return record;
  }

  encode(): AllocationsStatus {
    const entries = [...this.byAddress].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const split = entries.map(([, key]) => splitKey(key));
    const prefixes = [...new Set(split.map(([prefix]) => prefix))].sort();
    const indexOf = new Map(prefixes.map((p, i) => [p, i]));
    return {
      prefixes,
      ips: RangeSet.fromRanges(
        this.family,
        entries.map(([a]) => ({ start: a, end: a })),
      ).toStrings(),
      holders: split.map(([prefix, suffix]) => `${indexOf.get(prefix)}:${suffix}`),
    };
  }

  get count(): number {
    return this.byAddress.size;
  }

  holderOf(address: bigint): string | undefined {
    return this.byAddress.get(address);
  }

  addressesOf(key: string): readonly bigint[] {
    return this.byHolder.get(key) ?? [];
  }

  holders(): IterableIterator<string> {
    return this.byHolder.keys();
  }

  allocated(): RangeSet {
    return RangeSet.fromRanges(
      this.family,
      [...this.byAddress.keys()].map((a) => ({ start: a, end: a })),
    );
  }

  /** Records `address` as held by `key`. Refuses an address another key holds. */
  allocate(address: bigint, key: string): void {
    if (key === "") throw new RangeError(`empty holder key for ${formatAddress(this.family, address)}`);
    const current = this.byAddress.get(address);
    if (current === key) return;
    if (current !== undefined) {
      throw new AddressTakenError(formatAddress(this.family, address), current, key);
    }
    this.byAddress.set(address, key);
    const list = this.byHolder.get(key);
    if (list) list.push(address);
    else this.byHolder.set(key, [address]);
  }

  /** Frees every address `key` holds; returns them. */
  releaseHolder(key: string): bigint[] {
    const addresses = this.byHolder.get(key) ?? [];
    for (const a of addresses) this.byAddress.delete(a);
    this.byHolder.delete(key);
    return addresses;
  }
}
