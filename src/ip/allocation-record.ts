import { AddressError, type Family, formatAddress } from "./address.js";
import { parseIPList } from "./ip-list.js";
import { type AddressUse, type AllocationsStatus, readHolder, readUse, splitKey, writeUse } from "./allocation-status.js";
import { RangeSet } from "./range-set.js";

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

/**
 * A pool's allocations: which address is held by which key, and what it serves (when
 * recorded). Mutable; decode → change → encode.
 */
export class AllocationRecord {
  private readonly byAddress = new Map<bigint, string>();
  private readonly byHolder = new Map<string, bigint[]>();
  private readonly uses = new Map<bigint, AddressUse>();

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
    const sandboxes: unknown = stored.sandboxes;
    if (sandboxes !== undefined && (!Array.isArray(sandboxes) || sandboxes.length !== holders.length)) {
      const what = Array.isArray(sandboxes) ? `a list of ${sandboxes.length}` : sandboxes;
      throw new AddressError(`${field}.sandboxes`, what, `expected a list with one entry for each address in ${field}.ips (${holders.length}), or none`);
    }
    [...allocated.addresses()].forEach((address, i) => {
      const key = readHolder(stored.prefixes, holders, i, field);
      if (key instanceof AddressError) throw key;
      const use = readUse(sandboxes as unknown[] | undefined, i, field);
      if (use instanceof AddressError) throw use;
      record.allocate(address, key, use);
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
      ...(this.uses.size > 0 ? { sandboxes: entries.map(([a]) => writeUse(this.uses.get(a))) } : {}),
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

  /** What `address` serves; undefined when not recorded. */
  useOf(address: bigint): AddressUse | undefined {
    return this.uses.get(address);
  }

  /** Records `address` as held by `key` (serving `use`, when known). Refuses an address another key holds. */
  allocate(address: bigint, key: string, use?: AddressUse): void {
    if (key === "") throw new RangeError(`empty holder key for ${formatAddress(this.family, address)}`);
    const current = this.byAddress.get(address);
    if (current !== undefined && current !== key) {
      throw new AddressTakenError(formatAddress(this.family, address), current, key);
    }
    if (use) this.uses.set(address, use);
    if (current === key) return;
    this.byAddress.set(address, key);
    const list = this.byHolder.get(key);
    if (list) list.push(address);
    else this.byHolder.set(key, [address]);
  }

  /** Frees the addresses `key` holds, or those of them `which` picks by what they serve; returns them. */
  releaseHolder(key: string, which?: (use: AddressUse | undefined) => boolean): bigint[] {
    const held = this.byHolder.get(key) ?? [];
    const freed = which ? held.filter((a) => which(this.uses.get(a))) : held;
    for (const a of freed) {
      this.byAddress.delete(a);
      this.uses.delete(a);
    }
    const kept = held.filter((a) => !freed.includes(a));
    if (kept.length > 0) this.byHolder.set(key, kept);
    else this.byHolder.delete(key);
    return freed;
  }
}
