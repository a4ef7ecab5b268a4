/**
 * A small cache of values the agent reads from the API server: each kept for `ttlMs`, at
 * most `max` of them (the oldest goes first). Concurrent reads of one key share one
 * request; a failed read is not kept, so the next caller reads again.
 */
export interface ExpiringCacheOptions {
  ttlMs: number;
  max: number;
  /** Injected by tests. */
  now?: () => number;
}

export class ExpiringCache<V> {
  private readonly entries = new Map<string, { at: number; value: Promise<V> }>();

  constructor(private readonly o: ExpiringCacheOptions) {}

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** The value of `key`: kept, or read now with `read`. */
  get(key: string, read: () => Promise<V>): Promise<V> {
    const kept = this.entries.get(key);
    if (kept && this.now() - kept.at < this.o.ttlMs) return kept.value;
    const value = read();
    this.keep(key, value);
    void value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  /** Keeps `value` for `key`, read elsewhere. */
  set(key: string, value: V): void {
    this.keep(key, Promise.resolve(value));
  }

  private keep(key: string, value: Promise<V>): void {
    this.entries.delete(key); // re-inserted last: the oldest entry stays first
    this.entries.set(key, { at: this.now(), value });
    if (this.entries.size > this.o.max) this.entries.delete(this.entries.keys().next().value as string);
  }
}
