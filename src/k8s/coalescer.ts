/**
 * Runs work per key so that a burst of requests costs two runs, not one each: a request that
 * arrives while a run is queued (not yet started) joins it; one that arrives while a run is
 * under way queues the next, which sees everything the request wanted.
 */
import { KeyedMutex } from "./keyed-mutex.js";

export class Coalescer {
  private readonly mutex = new KeyedMutex();
  private readonly queued = new Map<string, Promise<void>>();

  run(key: string, work: () => Promise<void>): Promise<void> {
    const waiting = this.queued.get(key);
    if (waiting) return waiting;
    const run = this.mutex.run(key, () => {
      this.queued.delete(key);
      return work();
    });
    this.queued.set(key, run);
    return run;
  }
}
