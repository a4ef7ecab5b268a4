/**
 * An immutable map whose `with`/`without` cost O(changes), not O(size): a shared base plus
 * a small overlay of changes. A ledger of 10,000 pools is not copied to record one claim;
 * the base is rebuilt only when the overlay grows past a fraction of it.
 */
const TOMBSTONE = Symbol("deleted");

export class OverlayMap<K, V> implements Iterable<[K, V]> {
  private merged?: Map<K, V>;

  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    private readonly changes: ReadonlyMap<K, V | typeof TOMBSTONE>,
  ) {}

  static of<K, V>(entries: Iterable<readonly [K, V]>): OverlayMap<K, V> {
    return new OverlayMap<K, V>(new Map(entries), new Map());
  }

  get(key: K): V | undefined {
    const c = this.changes.get(key);
    if (c === TOMBSTONE) return undefined;
    return c !== undefined ? c : this.base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  with(key: K, value: V): OverlayMap<K, V> {
    return this.changed(key, value);
  }

  without(key: K): OverlayMap<K, V> {
    return this.has(key) ? this.changed(key, TOMBSTONE) : this;
  }

  get size(): number {
    return this.materialise().size;
  }

  keys(): IterableIterator<K> {
    return this.materialise().keys();
  }

  values(): IterableIterator<V> {
    return this.materialise().values();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.materialise().entries();
  }

  /** This map with each `[key, value]` set, or removed when value is undefined: one copy for the lot. */
  withChanges(entries: Iterable<readonly [K, V | undefined]>): OverlayMap<K, V> {
    const changes = new Map<K, V | typeof TOMBSTONE>(this.changes);
    for (const [key, value] of entries) changes.set(key, value === undefined ? TOMBSTONE : value);
    return this.folded(changes);
  }

  private changed(key: K, value: V | typeof TOMBSTONE): OverlayMap<K, V> {
    return this.folded(new Map<K, V | typeof TOMBSTONE>(this.changes).set(key, value));
  }

  private folded(changes: Map<K, V | typeof TOMBSTONE>): OverlayMap<K, V> {
    // Fold a large overlay into a new base, so lookups and copies stay cheap.
    if (changes.size > 64 && changes.size * 8 > this.base.size) return new OverlayMap<K, V>(new OverlayMap<K, V>(this.base, changes).materialise(), new Map());
    return new OverlayMap<K, V>(this.base, changes);
  }

  private materialise(): Map<K, V> {
    if (!this.merged) {
      this.merged = new Map(this.base);
      for (const [k, v] of this.changes) {
        if (v === TOMBSTONE) this.merged.delete(k);
        else this.merged.set(k, v);
      }
    }
    return this.merged;
  }
}
