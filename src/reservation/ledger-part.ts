/**
 * The pieces a subnet's ledger is stored in (subnet-ledger.ts), pure. The subnet's address
 * space is cut into aligned blocks of 256 addresses; a block in use is "registered" and its
 * claims live in their own small object, so a reservation rewrites one object of at most
 * 256 addresses' claims however many pools the subnet has. Addresses in unregistered
 * blocks (a wide manual pool, an IPv6 /80) are claimed in the subnet's directory object,
 * which also lists the registered blocks.
 */
import type { Family } from "../ip/address.js";
import { parseIPList } from "../ip/ip-list.js";
import { OverlapIndex } from "../ip/overlap-index.js";
import { RangeSet } from "../ip/range-set.js";
import { type PoolClaim, parseJsonObject, revOf } from "./ledger.js";
import { type Pending, pendingOf } from "./pending.js";

const BLOCK_BITS = 8n;

/**
 * A claim whose addresses in unregistered blocks span more blocks than this stays in the
 * directory for those: registering a /64's worth of blocks is not an option.
 */
export const MAX_BLOCKS_REGISTERED_PER_CLAIM = 16;

/** The directory's key among a ledger's parts; a block's key is its number in hex. */
export const DIRECTORY = "dir";

export const blockOf = (address: bigint): bigint => address >> BLOCK_BITS;
export const blockStart = (block: bigint): bigint => block << BLOCK_BITS;
export const blockEnd = (block: bigint): bigint => ((block + 1n) << BLOCK_BITS) - 1n;
export const blockKey = (block: bigint): string => block.toString(16);

/** The blocks `set` touches, ascending; undefined when more than `limit`. */
export function blocksTouched(set: RangeSet, limit: number): bigint[] | undefined {
  const out: bigint[] = [];
  for (const r of set.ranges) {
    let block = blockOf(r.start);
    const last = blockOf(r.end);
    if (out[out.length - 1] === block) block++; // the previous range ended in this block
    if (block <= last && BigInt(out.length) + last - block + 1n > BigInt(limit)) return undefined;
    for (; block <= last; block++) out.push(block);
  }
  return out;
}

export const blockSet = (family: Family, block: bigint): RangeSet => RangeSet.of(family, blockStart(block), blockEnd(block));

/** One stored piece of a subnet's ledger: pool → the claim's addresses that fall in it. Immutable. */
export class LedgerPart {
  private heldCache?: RangeSet;
  private indexCache?: OverlapIndex;
  private readonly heldSizes = new WeakMap<RangeSet, bigint>();

  constructor(
    readonly family: Family,
    readonly entries: ReadonlyMap<string, PoolClaim>,
  ) {}

  static empty(family: Family): LedgerPart {
    return new LedgerPart(family, new Map());
  }

  get held(): RangeSet {
    this.heldCache ??= RangeSet.fromRanges(this.family, [...this.entries.values()].flatMap((c) => c.addresses.ranges));
    return this.heldCache;
  }

  get index(): OverlapIndex {
    this.indexCache ??= OverlapIndex.build(this.family, [...this.entries].map(([n, c]) => [n, c.addresses] as const));
    return this.indexCache;
  }

  /** Addresses of `space` some piece holds; kept per space, so a count over many parts costs only the changed ones. */
  heldIn(space: RangeSet): bigint {
    let size = this.heldSizes.get(space);
    if (size === undefined) {
      size = this.held.intersection(space).size;
      this.heldSizes.set(space, size);
    }
    return size;
  }

  /** This part with `name`'s piece set to `piece` (removed when undefined). */
  withPiece(name: string, piece: PoolClaim | undefined): LedgerPart {
    const entries = new Map(this.entries);
    if (piece) entries.set(name, piece);
    else if (!entries.delete(name)) return this;
    return new LedgerPart(this.family, entries);
  }

  /** The JSON of Spiderpool's `status.controlledIPPools` (pool → {ips, application}); names sorted. */
  encode(): Record<string, EncodedClaim> {
    const out: Record<string, EncodedClaim> = {};
    for (const name of [...this.entries.keys()].sort()) out[name] = encodeClaim(this.entries.get(name) as PoolClaim);
    return out;
  }

  static decode(family: Family, raw: Record<string, unknown>, where: string): LedgerPart {
    const entries = new Map<string, PoolClaim>();
    for (const [name, entry] of Object.entries(raw)) entries.set(name, decodeClaim(family, entry, `${where}["${name}"]`));
    return new LedgerPart(family, entries);
  }

  static parse(family: Family, text: string | undefined, where: string): LedgerPart {
    return LedgerPart.decode(family, parseJsonObject(text, where), where);
  }
}

export interface EncodedClaim {
  ips: string[];
  application?: string;
  rev?: number;
  pending?: Pending;
}

export function encodeClaim(claim: PoolClaim): EncodedClaim {
  return { ips: claim.addresses.toStrings(), ...(claim.application ? { application: claim.application } : {}), ...revOf(claim.rev), ...pendingOf(claim.pending) };
}

function decodeClaim(family: Family, entry: unknown, where: string): PoolClaim {
  const e = entry as { ips?: unknown; application?: unknown; rev?: unknown; pending?: unknown };
  const addresses = parseIPList(family, e?.ips as string[] | undefined, `${where}.ips`);
  return { addresses, ...(typeof e?.application === "string" ? { application: e.application } : {}), ...revOf(e?.rev), ...pendingOf(e?.pending) };
}
