/**
 * A list-then-watch cache of one kind of object (client-node's ListWatch), for readers on a
 * hot path that can fall back to a GET: `live` is false until the first list has landed and
 * again from a watch failure until the restarted watch has re-listed, so a caller never
 * trusts a cache that stopped following the API server. `revision` counts the changes the
 * cache has seen, so derived views (the shared addresses of all pools, say) are recomputed
 * only when something changed.
 */
import * as k8s from "@kubernetes/client-node";

export interface WatchCacheOptions<T extends k8s.KubernetesObject> {
  /** The collection's API path, e.g. `/api/v1/pods`. */
  path: string;
  /** Lists the collection with the same selector as the watch. */
  list: () => Promise<k8s.KubernetesListObject<T>>;
  fieldSelector?: string;
  labelSelector?: string;
  /** Told of every change as it lands (after: undefined for a delete). */
  onChange?: (before: T | undefined, after: T | undefined) => void;
  /** Whether a change counts for `revision` (default: every add, update and delete). */
  counts?: (before: T | undefined, after: T | undefined) => boolean;
  /** Pause before restarting a failed watch (jittered up to twice this). */
  restartDelayMs?: number;
  onError?: (e: unknown) => void;
}

export class WatchCache<T extends k8s.KubernetesObject> {
  private readonly informer: k8s.ListWatch<T>;
  private stopped = false;
  private ready = false;
  private changes = 0;
  private failures = 0;
  /** The object per key as last seen, to tell `counts` what an update replaced. */
  private readonly seen = new Map<string, T>();

  constructor(
    kc: k8s.KubeConfig,
    private readonly o: WatchCacheOptions<T>,
  ) {
    this.informer = new k8s.ListWatch<T>(o.path, new k8s.Watch(kc), o.list, false, o.labelSelector, o.fieldSelector);
    const key = (obj: T): string => `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
    const change = (obj: T, gone: boolean): void => {
      const k = key(obj);
      const before = this.seen.get(k);
      if (gone) this.seen.delete(k);
      else this.seen.set(k, obj);
      if (!o.counts || o.counts(before, gone ? undefined : obj)) this.changes++;
      o.onChange?.(before, gone ? undefined : obj);
    };
    this.informer.on("add", (obj) => change(obj, false));
    this.informer.on("update", (obj) => change(obj, false));
    this.informer.on("delete", (obj) => change(obj, true));
    this.informer.on("error", (e: unknown) => {
      this.ready = false;
      this.failures++;
      if (this.stopped) return; // stopping aborts the watch; that is not a failure
      o.onError?.(e);
      const delay = (o.restartDelayMs ?? 1000) * (1 + Math.random());
      setTimeout(() => void this.run(), delay);
    });
  }

  /** Lists and starts watching; resolves once the first list has landed. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.run();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const failures = this.failures;
    try {
      // Resolves after the list with the watch open, or after a failed list (reported
      // through the error event, which restarts it).
      await this.informer.start();
      this.ready = !this.stopped && this.failures === failures;
    } catch (e) {
      this.o.onError?.(e);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ready = false;
    await this.informer.stop();
  }

  /** True while the cache follows the API server. */
  get live(): boolean {
    return this.ready;
  }

  get revision(): number {
    return this.changes;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(): readonly T[] {
    return this.informer.list();
  }
}
