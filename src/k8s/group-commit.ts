/**
 * Group commit on one object: decisions that arrive while a write is in flight are queued
 * and then decided together on one read, in arrival order (each sees the ones before it),
 * and written once. 200 admissions on one ledger cost a few round trips instead of 200
 * serial read-modify-writes. The write is a compare-and-swap: on a conflict the whole
 * batch is decided again on fresh state, so nothing decided on stale state is ever written.
 */
import { type CasOptions, DEFAULT_CAS, compareAndSwap } from "./cas.js";

interface Pending<V, L> {
  dryRun: boolean;
  decide: (view: V) => { write?: L };
  resolve: (r: { write?: L }) => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitStore<V, L> {
  /** Reads the object; the returned view is what decisions see. */
  read(): Promise<V>;
  /** The view after a decision's write, for the decisions after it in the batch. */
  apply(view: V, write: L): V;
  /** Writes the final view with the resourceVersion `base` was read at (409 on a race). */
  write(base: V, next: V): Promise<void>;
}

export class GroupCommit<V, L> {
  private queue: Array<Pending<V, L>> = [];
  private running = false;

  constructor(
    private readonly what: string,
    private readonly store: GroupCommitStore<V, L>,
    private readonly cas: CasOptions = DEFAULT_CAS,
  ) {}

  /** Decides on the current object and writes the decision (unless `dryRun`). */
  submit<R extends { write?: L }>(dryRun: boolean, decide: (view: V) => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ dryRun, decide, resolve: resolve as (r: { write?: L }) => void, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        const outcomes = await compareAndSwap(this.what, () => this.decideAll(batch), this.cas);
        batch.forEach((p, i) => {
          const o = outcomes[i] as { ok: true; value: { write?: L } } | { ok: false; error: unknown };
          if (o.ok) p.resolve(o.value);
          else p.reject(o.error);
        });
      } catch (e) {
        batch.forEach((p) => p.reject(e));
      }
    }
    this.running = false;
  }

  private async decideAll(batch: ReadonlyArray<Pending<V, L>>): Promise<Array<{ ok: true; value: { write?: L } } | { ok: false; error: unknown }>> {
    const base: V = await this.store.read();
    let view: V = base;
    let changed = false;
    const outcomes = batch.map((p) => {
      try {
        const value = p.decide(view);
        if (value.write && !p.dryRun) {
          view = this.store.apply(view, value.write);
          changed = true;
        }
        return { ok: true as const, value };
      } catch (error) {
        return { ok: false as const, error };
      }
    });
    if (changed) await this.store.write(base, view);
    return outcomes;
  }
}
