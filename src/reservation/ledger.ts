/**
 * The ledgers that make overlap checks race-free: the check and the claim are one
 * compare-and-swap on the ledger object, so two admissions can never both pass.
 *
 * - SubnetLedger (subnet-ledger.ts): which of a SpiderSubnet's addresses each SpiderIPPool
 *   holds, stored in parts of 256 addresses each (ledger-part.ts).
 * - ClusterLedger: every SpiderSubnet's CIDR and addresses, and every SpiderIPPool that
 *   lies in no subnet, stored in one ConfigMap (see ledger-store.ts).
 *
 * A ledger may over-claim (an admission whose object was then refused, an update that did
 * not land) but never under-claim: the controller trims over-claims to the stored objects.
 * Both classes are immutable; `with*` returns a new ledger.
 */
import type { Family } from "../ip/address.js";
import { type Cidr, cidrBounds, formatCidr, parseCidr } from "../ip/cidr.js";
import { parseIPList } from "../ip/ip-list.js";
import { type Overlap, OverlapIndex } from "../ip/overlap-index.js";
import { RangeSet } from "../ip/range-set.js";
import { OverlayMap } from "./overlay-map.js";
import { type EntryOps, type Pending, pendingOf } from "./pending.js";

export interface PoolClaim {
  readonly addresses: RangeSet;
  /** Spiderpool's application key (`apps_v1_Deployment_ns_name`) for auto pools. */
  readonly application?: string;
  /**
   * Bumped by every write that claims (even addresses the entry already had), so a release
   * or trim decided on an older claim sees that it changed and stands back: a grow that
   * reuses claimed addresses is ordered against a concurrent shrink's release.
   */
  readonly rev?: number;
  /** Written by an admission whose object may never be stored (pending.ts). */
  readonly pending?: Pending;
}

/** `claim` asserted again: the same entry with its revision bumped. */
export function reclaimed<C extends { rev?: number }>(claim: C): C {
  return { ...claim, rev: (claim.rev ?? 0) + 1 };
}

export function revOf(v: unknown): { rev?: number } {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? { rev: v } : {};
}

export class LedgerFormatError extends Error {
  override name = "LedgerFormatError";
}

export function parseJsonObject(text: string | undefined, where: string): Record<string, unknown> {
  if (text === undefined || text === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new LedgerFormatError(`${where} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new LedgerFormatError(`${where}: expected a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** A subnet's or orphan pool's entry in the cluster ledger. */
export interface RangeClaim {
  readonly cidr: Cidr;
  readonly addresses: RangeSet;
  /** As PoolClaim.rev. */
  readonly rev?: number;
  /** As PoolClaim.pending. */
  readonly pending?: Pending;
}

export type Section = "subnets" | "pools";

function cidrSet(cidr: Cidr): RangeSet {
  const b = cidrBounds(cidr);
  return RangeSet.of(cidr.family, b.start, b.end);
}

/** The cluster ledger: all subnets, and the pools that lie in no subnet. */
export class ClusterLedger {
  private readonly indexes = new Map<string, OverlapIndex>();
  private readonly cidrGroups = new Map<Section, Map<string, string[]>>();

  constructor(
    readonly subnets: OverlayMap<string, RangeClaim>,
    readonly pools: OverlayMap<string, RangeClaim>,
  ) {}

  static empty(): ClusterLedger {
    return new ClusterLedger(OverlayMap.of([]), OverlayMap.of([]));
  }

  static decode(text: string | undefined, where = "the cluster ledger"): ClusterLedger {
    const raw = parseJsonObject(text, where);
    const section = (name: Section): Map<string, RangeClaim> => {
      const out = new Map<string, RangeClaim>();
      for (const [key, entry] of Object.entries((raw[name] ?? {}) as Record<string, { subnet?: string; ips?: string[]; rev?: unknown; pending?: unknown }>)) {
        const cidr = parseCidr(entry?.subnet as string, `${where} ${name}["${key}"].subnet`);
        out.set(key, { cidr, addresses: parseIPList(cidr.family, entry?.ips, `${where} ${name}["${key}"].ips`), ...revOf(entry?.rev), ...pendingOf(entry?.pending) });
      }
      return out;
    };
    return new ClusterLedger(OverlayMap.of(section("subnets")), OverlayMap.of(section("pools")));
  }

  encode(): string {
    const section = (m: OverlayMap<string, RangeClaim>): Record<string, { subnet: string; ips: string[]; rev?: number; pending?: Pending }> =>
      Object.fromEntries(
        [...m.keys()].sort().map((k) => {
          const c = m.get(k) as RangeClaim;
          return [k, { subnet: formatCidr(c.cidr), ips: c.addresses.toStrings(), ...revOf(c.rev), ...pendingOf(c.pending) }];
        }),
      );
    return JSON.stringify({ subnets: section(this.subnets), pools: section(this.pools) });
  }

  /** The subnet whose CIDR is exactly `cidr`, if any: a pool with that CIDR belongs to it. */
  subnetOf(cidr: Cidr): string | undefined {
    for (const [name, c] of this.subnets) {
      if (c.cidr.family === cidr.family && c.cidr.base === cidr.base && c.cidr.prefix === cidr.prefix) return name;
    }
    return undefined;
  }

  /**
   * Entries of `section` (except `except`) whose CIDR overlaps `cidr`; with `sameCidrAllowed`,
   * entries with exactly this CIDR are left out (pools may share a CIDR, not addresses).
   * Indexed by distinct CIDR, so a thousand pools sharing one CIDR cost one entry.
   */
  cidrConflicts(section: Section, cidr: Cidr, options: { except?: string; sameCidrAllowed?: boolean } = {}): Array<{ name: string; cidr: Cidr }> {
    const text = formatCidr(cidr);
    const byCidr = this.namesByCidr(section);
    const hits = this.index(section, "cidr", cidr.family).query(cidrSet(cidr));
    return hits
      .filter((h) => !(options.sameCidrAllowed && h.owner === text))
      .flatMap((h) => (byCidr.get(h.owner) ?? []).filter((n) => n !== options.except))
      .sort()
      .map((name) => ({ name, cidr: (this[section].get(name) as RangeClaim).cidr }));
  }

  /** Entries of `section` holding any of `addresses`. */
  addressConflicts(section: Section, addresses: RangeSet, except?: string): Overlap[] {
    return this.index(section, "addresses", addresses.family).query(addresses, except);
  }

  with(section: Section, name: string, claim: RangeClaim): ClusterLedger {
    const next = this[section].with(name, claim);
    return section === "subnets" ? new ClusterLedger(next, this.pools) : new ClusterLedger(this.subnets, next);
  }

  without(section: Section, name: string): ClusterLedger {
    const next = this[section].without(name);
    return section === "subnets" ? new ClusterLedger(next, this.pools) : new ClusterLedger(this.subnets, next);
  }

  private namesByCidr(section: Section): Map<string, string[]> {
    const cached = this.cidrGroups.get(section);
    if (cached) return cached;
    const out = new Map<string, string[]>();
    for (const [name, c] of this[section]) {
      const text = formatCidr(c.cidr);
      const list = out.get(text);
      if (list) list.push(name);
      else out.set(text, [name]);
    }
    this.cidrGroups.set(section, out);
    return out;
  }

  private index(section: Section, by: "cidr" | "addresses", family: Family): OverlapIndex {
    const key = `${section}/${by}/${family}`;
    let index = this.indexes.get(key);
    if (!index) {
      const entries =
        by === "cidr"
          ? [...this.namesByCidr(section).keys()].map((text) => [text, cidrSet(parseCidr(text))] as const)
          : [...this[section]].map(([n, c]) => [n, c.addresses] as const);
      index = OverlapIndex.build(family, entries);
      this.indexes.set(key, index);
    }
    return index;
  }
}

/** The cluster ledger's entries of one section. */
export function clusterEntries(section: Section): EntryOps<ClusterLedger, RangeClaim> {
  return {
    get: (l, name) => l[section].get(name),
    with: (l, name, claim) => l.with(section, name, claim),
    without: (l, name) => l.without(section, name),
  };
}
