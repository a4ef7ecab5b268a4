/**
 * A SpiderSubnet's ledger: which pool holds which of its addresses. Read as one map of
 * pools (`pools`), stored in parts (ledger-part.ts): one per registered block of 256
 * addresses, and the directory for the rest and the list of registered blocks. Every
 * change says which parts it touched, so a reservation writes one small object, however
 * many pools the subnet has. Each address lies in exactly one part, so two admissions that
 * want the same address write the same object and its compare-and-swap orders them.
 *
 * A ledger may over-claim (an admission whose object was then refused, an update that did
 * not land) but never under-claim: the controller trims over-claims to the stored objects.
 * Immutable; `with*` returns a new ledger.
 */
import type { Family } from "../ip/address.js";
import type { Overlap } from "../ip/overlap-index.js";
import { type IPRange, RangeSet } from "../ip/range-set.js";
import { LedgerFormatError, type PoolClaim, parseJsonObject } from "./ledger.js";
import {
  DIRECTORY,
  LedgerPart,
  MAX_BLOCKS_REGISTERED_PER_CLAIM,
  blockEnd,
  blockKey,
  blockOf,
  blockSet,
  blockStart,
  blocksTouched,
  encodeClaim,
} from "./ledger-part.js";
import { OverlayMap } from "./overlay-map.js";
import type { EntryOps } from "./pending.js";

interface Layout {
  readonly parts: OverlayMap<string, LedgerPart>;
  /** Registered blocks, ascending. */
  readonly blocks: readonly bigint[];
  readonly registered: ReadonlySet<bigint>;
  readonly registeredRanges: RangeSet;
  /**
   * Registered blocks whose part was not there when read (deleted, or its first write has not
   * landed): held closed, as if full, until it is; a claim in one cannot be checked.
   */
  readonly missing: ReadonlySet<string>;
}

function layoutOf(family: Family, parts: OverlayMap<string, LedgerPart>, blocks: readonly bigint[], missing: ReadonlySet<string> = new Set()): Layout {
  const sorted = [...blocks].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const registeredRanges = RangeSet.fromRanges(family, sorted.map((b) => ({ start: blockStart(b), end: blockEnd(b) })));
  return { parts, blocks: sorted, registered: new Set(sorted), registeredRanges, missing };
}

/** A claim put together from its pieces: the one piece itself, or their union with the newest piece's metadata. */
function mergePieces(pieces: readonly PoolClaim[]): PoolClaim | undefined {
  if (pieces.length <= 1) return pieces[0];
  const newest = pieces.reduce((a, b) => ((b.rev ?? 0) > (a.rev ?? 0) ? b : a));
  return { ...newest, addresses: RangeSet.fromRanges(newest.addresses.family, pieces.flatMap((p) => p.addresses.ranges)) };
}

export class SubnetLedger {
  private heldCache?: RangeSet;

  private constructor(
    readonly family: Family,
    readonly pools: OverlayMap<string, PoolClaim>,
    private readonly layout: Layout,
    /** Keys of the parts changed since the ledger was read from where it is stored. */
    readonly touched: ReadonlySet<string>,
  ) {}

  static empty(family: Family): SubnetLedger {
    return new SubnetLedger(family, OverlayMap.of([]), layoutOf(family, OverlayMap.of([]), []), new Set());
  }

  /** A ledger holding `pools`, laid out afresh (every part touched: nothing of it is stored yet). */
  static of(family: Family, pools: Iterable<readonly [string, PoolClaim]>): SubnetLedger {
    let ledger = SubnetLedger.empty(family);
    for (const [name, claim] of pools) ledger = ledger.with(name, claim);
    return ledger;
  }

  /** Spiderpool's `status.controlledIPPools` JSON (pool → {ips, application}): how ledgers were stored before parts. */
  static decode(family: Family, controlledIPPools: string | undefined, where = "status.controlledIPPools"): SubnetLedger {
    return SubnetLedger.of(family, LedgerPart.decode(family, parseJsonObject(controlledIPPools, where), where).entries);
  }

  /** The ledger as stored: the directory's part and blocks, and each registered block's part (undefined: missing). */
  static stored(family: Family, directory: LedgerPart, blocks: readonly bigint[], parts: ReadonlyMap<string, LedgerPart | undefined>): SubnetLedger {
    // Only the registered blocks' parts belong to the ledger: a stray one would count in `held` but in no pool.
    const registered = new Set(blocks);
    const all = new Map<string, LedgerPart>([...parts].flatMap(([k, p]) => (p && k !== DIRECTORY && registered.has(BigInt(`0x${k}`)) ? [[k, p] as const] : [])));
    all.set(DIRECTORY, directory);
    const missing = new Set(blocks.map(blockKey).filter((k) => !all.has(k)));
    const layout = layoutOf(family, OverlayMap.of(all), blocks, missing);
    const pieces = new Map<string, PoolClaim[]>();
    for (const part of all.values()) {
      for (const [name, piece] of part.entries) pieces.set(name, [...(pieces.get(name) ?? []), piece]);
    }
    const pools = [...pieces].map(([name, list]) => [name, mergePieces(list) as PoolClaim] as const);
    return new SubnetLedger(family, OverlayMap.of(pools), layout, new Set());
  }

  /**
   * This stored ledger after other writers changed some of its parts (undefined: not there)
   * and, with `blocks`, the registered blocks. Costs what changed, not the ledger's size.
   */
  withStoredChanges(changes: ReadonlyMap<string, LedgerPart | undefined>, blocks?: readonly bigint[]): SubnetLedger {
    const names = new Set<string>();
    const updates: Array<[string, LedgerPart | undefined]> = [];
    for (const [key, part] of changes) {
      for (const name of this.layout.parts.get(key)?.entries.keys() ?? []) names.add(name);
      for (const name of part?.entries.keys() ?? []) names.add(name);
      updates.push([key, part]);
    }
    const parts = this.layout.parts.withChanges(updates);
    const registered = new Set((blocks ?? this.layout.blocks).map(blockKey));
    const missing = new Set([...this.layout.missing, ...changes.keys()].filter((k) => registered.has(k) && !parts.has(k)));
    const layout = layoutOf(this.family, parts, blocks ?? this.layout.blocks, missing);
    const merged: Array<[string, PoolClaim | undefined]> = [...names].map((name) => {
      const keys = new Set([...keysOf(layout, this.pools.get(name)?.addresses), ...[...changes.keys()].filter((k) => parts.get(k)?.entries.has(name))]);
      return [name, mergePieces([...keys].flatMap((k) => parts.get(k)?.entries.get(name) ?? []))];
    });
    return new SubnetLedger(this.family, this.pools.withChanges(merged), layout, new Set());
  }

  /** Registered blocks' keys whose part is missing (see Layout.missing). */
  get missing(): ReadonlySet<string> {
    return this.layout.missing;
  }

  /** A part by key (empty when there is none). */
  part(key: string): LedgerPart {
    return this.layout.parts.get(key) ?? LedgerPart.empty(this.family);
  }

  get blocks(): readonly bigint[] {
    return this.layout.blocks;
  }

  /** Spiderpool's `controlledIPPools` JSON of the whole ledger; pool names sorted, so equal ledgers are equal bytes. */
  encode(): string {
    return JSON.stringify(Object.fromEntries([...this.pools.keys()].sort().map((name) => [name, encodeClaim(this.pools.get(name) as PoolClaim)])));
  }

  /** Every address some pool holds. */
  get held(): RangeSet {
    this.heldCache ??= RangeSet.fromRanges(this.family, [...this.layout.parts.values()].flatMap((p) => p.held.ranges));
    return this.heldCache;
  }

  /** How many addresses of `space` pools hold: what changed since the last count costs, not the ledger's size. */
  heldIn(space: RangeSet): bigint {
    let n = 0n;
    for (const part of this.layout.parts.values()) n += part.heldIn(space);
    return n;
  }

  /**
   * The lowest `count` addresses of `space` that no pool holds and `unavailable` lacks
   * (fewer when there are not enough). Walks the blocks upwards and skips a full one in
   * constant time, so it does not parse or merge the whole ledger.
   */
  lowestFree(space: RangeSet, unavailable: RangeSet, count: number): RangeSet {
    const out: IPRange[] = [];
    let left = BigInt(count);
    const directory = this.part(DIRECTORY).held;
    for (const range of space.ranges) {
      let cursor = range.start;
      while (cursor <= range.end && left > 0n) {
        const block = blockOf(cursor);
        const registered = this.layout.registered.has(block);
        const next = registered ? undefined : this.nextRegistered(block);
        const limit = registered ? blockEnd(block) : next === undefined ? range.end : blockStart(next) - 1n;
        const segment = RangeSet.of(this.family, cursor, limit < range.end ? limit : range.end);
        const used = registered ? this.part(blockKey(block)).held : directory;
        if (!(registered && this.layout.missing.has(blockKey(block))) && !used.containsSet(segment)) {
          const free = segment.lowestFree(used.union(unavailable.intersection(segment)), left);
          out.push(...free.ranges);
          left -= free.size;
        }
        cursor = (segment.ranges[0] as IPRange).end + 1n;
      }
    }
    return RangeSet.fromRanges(this.family, out);
  }

  /** Pools other than `except` holding any of `addresses`, with exactly the addresses they share. */
  conflicts(addresses: RangeSet, except?: string): Overlap[] {
    const hits = new Map<string, IPRange[]>();
    for (const key of keysOf(this.layout, addresses)) {
      if (this.layout.missing.has(key)) {
        throw new LedgerFormatError(`the ledger's part for ${blockSet(this.family, BigInt(`0x${key}`)).toString()} is registered but missing, so who holds those addresses cannot be checked; the controller's sweep rebuilds it from the stored pools`);
      }
      for (const o of this.part(key).index.query(addresses, except)) hits.set(o.owner, [...(hits.get(o.owner) ?? []), ...o.overlap.ranges]);
    }
    return [...hits.keys()].sort().map((owner) => ({ owner, overlap: RangeSet.fromRanges(this.family, hits.get(owner) as IPRange[]) }));
  }

  with(pool: string, claim: PoolClaim): SubnetLedger {
    let layout = this.layout;
    const touched = new Set(this.touched);
    const outside = claim.addresses.difference(layout.registeredRanges);
    // A block where the directory holds claims stays the directory's: its claims never move.
    const directory = this.part(DIRECTORY).held;
    const fresh = (outside.isEmpty ? [] : (blocksTouched(outside, MAX_BLOCKS_REGISTERED_PER_CLAIM) ?? [])).filter((b) => directory.intersection(blockSet(this.family, b)).isEmpty);
    if (fresh.length) layout = register(this.family, layout, fresh, touched);
    let parts = layout.parts;
    const piece = (key: string, p: PoolClaim | undefined): void => {
      parts = parts.with(key, (parts.get(key) ?? LedgerPart.empty(this.family)).withPiece(pool, p));
      touched.add(key);
    };
    for (const key of keysOf(layout, this.pools.get(pool)?.addresses)) piece(key, undefined);
    for (const key of keysOf(layout, claim.addresses)) piece(key, { ...claim, addresses: claim.addresses.intersection(regionOf(layout, key, this.family)) });
    return new SubnetLedger(this.family, this.pools.with(pool, claim), { ...layout, parts }, touched);
  }

  without(pool: string): SubnetLedger {
    const old = this.pools.get(pool);
    if (!old) return this;
    const touched = new Set(this.touched);
    let parts = this.layout.parts;
    for (const key of keysOf(this.layout, old.addresses)) {
      parts = parts.with(key, (parts.get(key) ?? LedgerPart.empty(this.family)).withPiece(pool, undefined));
      touched.add(key);
    }
    return new SubnetLedger(this.family, this.pools.without(pool), { ...this.layout, parts }, touched);
  }

  private nextRegistered(block: bigint): bigint | undefined {
    const blocks = this.layout.blocks;
    let lo = 0;
    let hi = blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((blocks[mid] as bigint) <= block) lo = mid + 1;
      else hi = mid;
    }
    return blocks[lo];
  }
}

/** The part keys `addresses` has pieces in: the registered blocks they touch, and the directory for the rest. */
function keysOf(layout: Layout, addresses: RangeSet | undefined): string[] {
  if (!addresses) return [];
  if (addresses.isEmpty) return [DIRECTORY]; // an emptied claim is kept (with its revision) in the directory
  const keys: string[] = [];
  const blocks = layout.blocks;
  for (const r of addresses.ranges) {
    // The first registered block at or after the range's first block, then onwards while inside it.
    let lo = 0;
    let hi = blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((blocks[mid] as bigint) < blockOf(r.start)) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < blocks.length && (blocks[i] as bigint) <= blockOf(r.end); i++) {
      const key = blockKey(blocks[i] as bigint);
      if (keys[keys.length - 1] !== key) keys.push(key);
    }
  }
  if (!addresses.difference(layout.registeredRanges).isEmpty) keys.push(DIRECTORY);
  return keys;
}

/** The addresses part `key` holds claims for. */
function regionOf(layout: Layout, key: string, family: Family): RangeSet {
  if (key !== DIRECTORY) return blockSet(family, BigInt(`0x${key}`));
  return RangeSet.of(family, 0n, family === 4 ? 2n ** 32n - 1n : 2n ** 128n - 1n).difference(layout.registeredRanges);
}

/** `layout` with `blocks` (in which the directory holds nothing) registered, each with an empty part. */
function register(family: Family, layout: Layout, blocks: readonly bigint[], touched: Set<string>): Layout {
  const parts = layout.parts.withChanges(blocks.map((b) => [blockKey(b), LedgerPart.empty(family)]));
  for (const b of blocks) touched.add(blockKey(b));
  touched.add(DIRECTORY);
  return layoutOf(family, parts, [...layout.blocks, ...blocks], layout.missing);
}

/** A subnet ledger's entries, one per pool. */
export const subnetEntries: EntryOps<SubnetLedger, PoolClaim> = {
  get: (l, name) => l.pools.get(name),
  with: (l, name, claim) => l.with(name, claim),
  without: (l, name) => l.without(name),
};
