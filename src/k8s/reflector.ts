/**
 * A list-then-watch mirror of one collection that keeps only what its reader needs: each
 * object passes through `keep` before it is stored, so 50,000 pods cost their node name,
 * phase and a few annotations, not their whole spec (client-node's ListWatch stores every
 * object whole). The list is paginated, so no single answer holds the collection; the watch
 * asks for bookmarks and restarts from the last version it saw, re-listing only when the API
 * server says that version is gone (410).
 */
import * as k8s from "@kubernetes/client-node";

export interface Stored {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface ReflectorOptions<T extends Stored, S extends Stored> {
  /** The collection's API path, e.g. `/api/v1/pods`. */
  path: string;
  /** One page of the collection (`limit`, `_continue`), with the same selectors as the watch. */
  listPage: (page: { limit: number; _continue?: string }) => Promise<{ items: T[]; metadata?: { resourceVersion?: string; _continue?: string; continue?: string } }>;
  /** What is stored of an object; it must keep metadata.name, namespace and resourceVersion. */
  keep: (o: T) => S;
  labelSelector?: string;
  fieldSelector?: string;
  /** Told of every change as it lands (after undefined: deleted), with the stored forms. */
  onChange?: (key: string, before: S | undefined, after: S | undefined) => void;
  /** A failed list or watch; the reflector retries after restartDelayMs (jittered up to twice). */
  onError?: (e: unknown) => void;
  restartDelayMs?: number;
  pageSize?: number;
}

/** `namespace/name`, or `/name` for a cluster-scoped object. */
export const storedKey = (o: Stored): string => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

/** How long the API server keeps one watch open before the reflector opens the next (plus up to 20 %). */
const WATCH_SECONDS = 300;

const gone = (e: unknown): boolean => {
  const x = e as { code?: number; statusCode?: number } | undefined;
  return x?.code === 410 || x?.statusCode === 410;
};

export class Reflector<T extends Stored, S extends Stored> {
  /** The stored objects by storedKey. Read only. */
  readonly items = new Map<string, S>();
  private readonly watch: k8s.Watch;
  private version = "";
  private ready = false;
  private stopped = true;
  /** Counts starts and stops, so a start that waited for the last loop knows whether it still stands. */
  private generation = 0;
  private abort?: AbortController;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(
    kc: k8s.KubeConfig,
    private readonly o: ReflectorOptions<T, S>,
  ) {
    this.watch = new k8s.Watch(kc);
  }

  /** True while the mirror follows the API server (listed, watch not failed since). */
  get live(): boolean {
    return this.ready;
  }

  /** Lists and starts watching; resolves once the first list has landed and the watch is open (retrying failures). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    const generation = ++this.generation;
    await this.loop; // a stop still waiting on a list page: one loop at a time
    if (generation !== this.generation) return; // stopped, or started by another call, meanwhile
    this.stopped = false;
    let listed!: () => void;
    const first = new Promise<void>((resolve) => (listed = resolve));
    this.loop = this.run(listed);
    await first;
  }

  /** Stops watching; a later start lists afresh (the mirror may have missed anything since). */
  async stop(): Promise<void> {
    this.generation++;
    this.stopped = true;
    this.ready = false;
    this.version = "";
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(listed: () => void): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.version) {
          this.ready = false;
          await this.relist();
          if (this.stopped) break;
        }
        await this.follow(() => {
          // Live from the moment the API server accepted the watch: nothing is missed after the list.
          this.ready = !this.stopped;
          listed();
        });
        // The stream ended in time: the next one starts from the version seen, so still live.
      } catch (e) {
        this.ready = false;
        if (this.stopped) break;
        if (gone(e)) this.version = "";
        this.o.onError?.(e);
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, (this.o.restartDelayMs ?? 1000) * (1 + Math.random()));
        });
      }
    }
    listed(); // a stop before the first list lands releases start()
  }

  /** Lists every page and replaces the mirror, telling onChange what differs. */
  private async relist(): Promise<void> {
    const fresh = new Map<string, S>();
    let version = "";
    let _continue: string | undefined;
    do {
      const page = await this.o.listPage({ limit: this.o.pageSize ?? 500, ...(_continue ? { _continue } : {}) });
      version ||= page.metadata?.resourceVersion ?? "";
      for (const item of page.items) {
        const kept = this.o.keep(item);
        fresh.set(storedKey(kept), kept);
      }
      // Typed lists say `_continue`; custom objects come back as JSON, which says `continue`.
      _continue = page.metadata?._continue || page.metadata?.continue || undefined;
    } while (_continue && !this.stopped);
    if (this.stopped) return; // an unfinished list says nothing about what is gone
    for (const [key, before] of this.items) if (!fresh.has(key)) this.put(key, before, undefined);
    for (const [key, after] of fresh) {
      const before = this.items.get(key);
      if (before?.metadata?.resourceVersion !== after.metadata?.resourceVersion) this.put(key, before, after);
    }
    this.version = version;
  }

  /**
   * Watches from the last version seen until the stream ends (resolves) or fails (rejects).
   * The API server ends it after timeoutSeconds; a stream silent for longer than that plus a
   * bookmark period is taken for a dead connection and ended here.
   */
  private follow(opened: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timeoutSeconds = WATCH_SECONDS + Math.floor(Math.random() * WATCH_SECONDS * 0.2);
      let failure: unknown;
      let idle: NodeJS.Timeout | undefined;
      // client-node reports a watch that failed to open through `done`, then resolves anyway.
      let ended = false;
      const alive = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => this.abort?.abort(), (timeoutSeconds + 90) * 1000);
      };
      const params = {
        resourceVersion: this.version,
        allowWatchBookmarks: true,
        timeoutSeconds,
        ...(this.o.labelSelector ? { labelSelector: this.o.labelSelector } : {}),
        ...(this.o.fieldSelector ? { fieldSelector: this.o.fieldSelector } : {}),
      };
      const onEvent = (phase: string, obj: T & { code?: number }): void => {
        alive();
        if (phase === "ERROR") {
          failure = obj; // the stream ends next; the loop re-lists (410) or retries after a pause
          return;
        }
        const version = obj.metadata?.resourceVersion;
        if (phase === "ADDED" || phase === "MODIFIED") {
          const kept = this.o.keep(obj);
          const key = storedKey(kept);
          this.put(key, this.items.get(key), kept);
        } else if (phase === "DELETED") {
          const key = storedKey(obj);
          const before = this.items.get(key);
          if (before) this.put(key, before, undefined);
        }
        if (version) this.version = version;
      };
      const done = (err: unknown): void => {
        ended = true;
        clearTimeout(idle);
        this.abort = undefined;
        const e = err && !(err instanceof Error && err.name === "AbortError") ? err : failure;
        if (e && !this.stopped) reject(e instanceof Error ? e : Object.assign(new Error(`the watch of ${this.o.path} ended with an error`, { cause: e }), { code: (e as { code?: number }).code }));
        else resolve();
      };
      this.watch.watch(this.o.path, params, onEvent, done).then(
        (abort) => {
          if (ended) return;
          this.abort = abort;
          if (this.stopped) return abort.abort();
          alive();
          opened();
        },
        (e: unknown) => {
          clearTimeout(idle);
          reject(e instanceof Error ? e : new Error(`the watch of ${this.o.path} failed to open`, { cause: e }));
        },
      );
    });
  }

  private put(key: string, before: S | undefined, after: S | undefined): void {
    if (after) this.items.set(key, after);
    else this.items.delete(key);
    this.o.onChange?.(key, before, after);
  }
}
