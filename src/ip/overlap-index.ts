import type { Family } from "./address.js";
import { type IPRange, RangeSet } from "./range-set.js";

interface Entry extends IPRange {
  readonly owner: string;
}

export interface Overlap {
  /** The existing object that overlaps the candidate. */
  readonly owner: string;
  /** Exactly the addresses both hold. */
  readonly overlap: RangeSet;
}

function compareEntries(a: Entry, b: Entry): number {
  if (a.start !== b.start) return a.start < b.start ? -1 : 1;
  if (a.end !== b.end) return a.end < b.end ? -1 : 1;
  return a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0;
}

/**
 * Finds every owner (pool, subnet) whose addresses overlap a candidate set, in
 * O(log n + k) per candidate range for n indexed ranges and k hits.
 *
 * The ranges are kept sorted by start in an array read as an implicit balanced binary
 * tree (the middle element is the root of each slice); `maxEnd[i]` is the highest end
 * in the subtree rooted at i, so whole subtrees that end before the query are skipped.
 * Owners may overlap each other (state imported from elsewhere need not be clean).
 * Immutable: a changed ledger builds a new index (O(n log n)).
 */
export class OverlapIndex {
  private readonly maxEnd: bigint[];

  private constructor(
    readonly family: Family,
    private readonly entries: readonly Entry[],
  ) {
    this.maxEnd = new Array<bigint>(entries.length);
    this.fillMaxEnd(0, entries.length - 1);
  }

  static build(family: Family, owners: Iterable<readonly [string, RangeSet]>): OverlapIndex {
    const entries: Entry[] = [];
    for (const [owner, set] of owners) {
      if (set.family !== family) continue;
      for (const r of set.ranges) entries.push({ start: r.start, end: r.end, owner });
    }
    return new OverlapIndex(family, entries.sort(compareEntries));
  }

  /** Every owner (except `ignore`) overlapping `candidate`, sorted by owner name. */
  query(candidate: RangeSet, ignore?: string): Overlap[] {
    if (candidate.family !== this.family) return [];
    const hits = new Map<string, IPRange[]>();
    for (const q of candidate.ranges) {
      this.visit(0, this.entries.length - 1, q, (e) => {
        if (e.owner === ignore) return;
        const piece = { start: e.start > q.start ? e.start : q.start, end: e.end < q.end ? e.end : q.end };
        const list = hits.get(e.owner);
        if (list) list.push(piece);
        else hits.set(e.owner, [piece]);
      });
    }
    return [...hits.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([owner, pieces]) => ({ owner, overlap: RangeSet.fromRanges(this.family, pieces) }));
  }

  private visit(lo: number, hi: number, q: IPRange, report: (e: Entry) => void): void {
    if (lo > hi) return;
    const mid = (lo + hi) >> 1;
    if ((this.maxEnd[mid] as bigint) < q.start) return;
    this.visit(lo, mid - 1, q, report);
    const e = this.entries[mid] as Entry;
    if (e.start > q.end) return; // everything to the right starts later still
    if (e.end >= q.start) report(e);
    this.visit(mid + 1, hi, q, report);
  }

  private fillMaxEnd(lo: number, hi: number): bigint {
    if (lo > hi) return -1n;
    const mid = (lo + hi) >> 1;
    const left = this.fillMaxEnd(lo, mid - 1);
    const right = this.fillMaxEnd(mid + 1, hi);
    let m = (this.entries[mid] as Entry).end;
    if (left > m) m = left;
    if (right > m) m = right;
    this.maxEnd[mid] = m;
    return m;
  }
}
