/**
 * Settles the provisional claims this replica's admissions wrote (reservation/pending.ts)
 * at their deadline, against the objects as the API server has them: a claim is kept as
 * far as its object holds it and dropped when no object was stored; an auto pool an
 * admission created is deleted when the workload as stored does not name it and no pod
 * uses it. A forged review therefore blocks a range until the deadline (the webhooks'
 * timeout plus a margin, and up to a second more to settle a burst together), not for the
 * sweep's grace period. A source that floods the
 * webhook without mutual TLS has its claims settled at once. The leader's sweep settles
 * what a replica that died first left (LedgerReconciler.settleLapsed).
 */
import type * as k8s from "@kubernetes/client-node";
import { reservedPoolNames } from "../api/annotations.js";
import { LABEL } from "../api/labels.js";
import { type WorkloadRef, workloadKey } from "../api/names.js";
import { GROUP, PLURAL, type SpiderIPPool, VERSION } from "../api/types.js";
import { orUndefined } from "../k8s/errors.js";
import { PoolClient, SubnetClient, readWorkload } from "../k8s/resources.js";
import type { WebhookMetrics } from "../metrics/webhook.js";
import { ownedBy } from "../reservation/auto-pool.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import { clusterEntries } from "../reservation/ledger.js";
import { subnetEntries } from "../reservation/subnet-ledger.js";
import { type Due, type PendingEntry, type Provisional, type StoredObject, settleEntries } from "../reservation/pending.js";
import { ADOPTED_ANNOTATION } from "./auto-pools.js";
import { unlessRaced } from "./effects.js";
import type { Finalizers } from "./finalizers.js";

interface Base {
  source: string;
  uid: string;
  due: number;
  tries: number;
  /** Settle at `due`, without waiting to settle a burst together (its source is flooding). */
  now?: boolean;
}
type EntryItem = Base & { kind: "entry"; entry: PendingEntry };
type WorkloadItem = Base & { kind: "workload"; workload: WorkloadRef; pools: Set<string> };
type Item = EntryItem | WorkloadItem;

interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface PendingClaimsDeps {
  stores: LedgerStores;
  custom: k8s.CustomObjectsApi;
  apps: k8s.AppsV1Api;
  finalizers: Finalizers;
  metrics: Pick<WebhookMetrics, "provisionalClaims">;
  log: Log;
  now?: () => number;
}

/**
 * Settling waits this much past the earliest deadline, so the admissions of a burst are
 * settled together: one ledger write per ledger per second of admissions, not one each.
 */
const COALESCE_MS = 1_000;

/** A failed settlement is tried again this much later, this many times; then the sweep has it. */
const RETRY_MS = 2_000;
const MAX_TRIES = 5;

export class PendingClaims {
  private readonly items = new Map<string, Item>();
  private timer?: NodeJS.Timeout;
  /** When the timer fires: an item due later needs no new timer (admissions add items in deadline order). */
  private timerAt = Infinity;
  private running = false;
  private readonly pools: PoolClient;
  private readonly subnets: SubnetClient;

  /** `lapseMs`: from an admission to its deadline (the webhooks' timeoutSeconds plus a margin). */
  constructor(
    private readonly d: PendingClaimsDeps,
    private readonly lapseMs: number,
  ) {
    this.pools = new PoolClient(d.custom);
    this.subnets = new SubnetClient(d.custom);
  }

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  /** What an admission from `source` (a client certificate name or an address) marks and reports; undefined on a dry run. */
  provisional(req: { uid: string; dryRun: boolean }, source: string): Provisional | undefined {
    if (req.dryRun) return undefined;
    // Whole milliseconds: the mark is stored as an integer (pendingOf reads nothing else).
    const pending = { uid: req.uid, until: Math.ceil(this.now() + this.lapseMs) };
    const base = { source, uid: req.uid, due: pending.until, tries: 0 };
    return {
      pending,
      marked: (entry) => this.add(`${ledgerKey(entry)}/${entry.name}/${req.uid}`, { ...base, kind: "entry", entry }),
      createdPool: (workload, pool) => {
        const key = `workload/${workloadKey(workload)}/${req.uid}`;
        const item = this.items.get(key);
        if (item?.kind === "workload") item.pools.add(pool);
        else this.add(key, { ...base, kind: "workload", workload, pools: new Set([pool]) });
      },
    };
  }

  /** Settles every claim `source` has pending now (it is flooding the webhook). */
  lapseSource(source: string): void {
    const now = this.now();
    for (const item of this.items.values()) {
      if (item.source !== source) continue;
      item.due = Math.min(item.due, now);
      item.now = true;
    }
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private add(key: string, item: Item): void {
    if (this.items.has(key)) return;
    this.items.set(key, item);
    // One scan per timer, not one per admission: a burst of N admissions costs O(N), not O(N²).
    if (this.running || item.due + COALESCE_MS >= this.timerAt) return;
    this.schedule();
  }

  private schedule(): void {
    if (this.running) return; // run() schedules again when it is done
    let next = Infinity;
    for (const item of this.items.values()) next = Math.min(next, item.due + (item.now ? 0 : COALESCE_MS));
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (next === Infinity) return;
    this.timer = setTimeout(() => void this.run(), Math.max(0, next - this.now()));
    this.timer.unref();
  }

  /** Settles what is due: one read of each object, one write per ledger. */
  private async run(): Promise<void> {
    this.running = true;
    this.timerAt = Infinity;
    try {
      const now = this.now();
      const due = [...this.items].filter(([, item]) => item.due <= now);
      for (const [key] of due) this.items.delete(key);
      const byLedger = new Map<string, EntryItem[]>();
      for (const [key, item] of due) {
        if (item.kind === "workload") await this.attempt([[key, item]], () => this.settleWorkload(key, item));
        else byLedger.set(ledgerKey(item.entry), [...(byLedger.get(ledgerKey(item.entry)) ?? []), item]);
      }
      for (const items of byLedger.values()) {
        await this.attempt(
          items.map((i) => [`${ledgerKey(i.entry)}/${i.entry.name}/${i.uid}`, i]),
          () => this.settleLedger(items),
        );
      }
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  /** Runs one settlement; on failure puts its items back for a later try, up to MAX_TRIES. */
  private async attempt(items: Array<[string, Item]>, act: () => Promise<void>): Promise<void> {
    try {
      await act();
    } catch (e) {
      for (const [key, item] of items) if (item.tries + 1 < MAX_TRIES) this.items.set(key, { ...item, due: this.now() + RETRY_MS, tries: item.tries + 1 });
      this.d.log.warn({ err: e, uids: [...new Set(items.map(([, i]) => i.uid))] }, "settling provisional claims failed; trying again (the leader's sweep is the backstop)");
    }
  }

  private read(entry: PendingEntry): Promise<StoredObject | undefined> {
    return entry.object === "SpiderSubnet" ? this.subnets.get(entry.name) : this.pools.get(entry.name);
  }

  /** Items of one ledger, settled in one compare-and-swap. */
  private async settleLedger(items: EntryItem[]): Promise<void> {
    const stored = await Promise.all(items.map((i) => this.read(i.entry)));
    const ledger = (items[0] as EntryItem).entry.ledger;
    let kinds: string[] = [];
    if (ledger.kind === "cluster") {
      const due = items.map((i, n) => ({ name: i.entry.name, uid: i.uid, stored: stored[n], ops: clusterEntries(i.entry.ledger.kind === "cluster" ? i.entry.ledger.section : "pools") }));
      await this.d.stores.updateCluster(false, (l) => {
        const out = settleEntries(l, due as Array<Due<typeof l>>);
        kinds = out.kinds;
        return out.ledger === l ? {} : { write: out.ledger };
      });
    } else {
      await this.d.stores.updateSubnet(ledger.subnet, false, (state) => {
        if (!state) return {};
        const out = settleEntries(state.ledger, items.map((i, n) => ({ name: i.entry.name, uid: i.uid, stored: stored[n], ops: subnetEntries })));
        kinds = out.kinds;
        return out.ledger === state.ledger ? {} : { write: out.ledger };
      });
    }
    const where = ledger.kind === "cluster" ? "the cluster ledger" : `SpiderSubnet "${ledger.subnet}"'s ledger`;
    kinds.forEach((kind, n) => {
      if (kind === "none") return;
      const { entry, source, uid } = items[n] as EntryItem;
      this.d.metrics.provisionalClaims.inc({ result: kind === "drop" ? "dropped" : "kept" });
      if (kind === "drop") this.d.log.info({ uid, source }, `dropped ${entry.object} "${entry.name}"'s claim in ${where}: no object holding it was stored by the admission's deadline`);
    });
  }

  /**
   * The auto pools an admission of `item.workload` created go when the workload as stored
   * now does not name them and no pod uses them: deleted, then released at once. Another
   * admission of the same workload still pending here is waited for first (it may be the
   * genuine one, reusing the pool).
   */
  private async settleWorkload(key: string, item: WorkloadItem): Promise<void> {
    const later = [...this.items.values()].filter((i) => i.kind === "workload" && workloadKey(i.workload) === workloadKey(item.workload)).map((i) => i.due);
    if (later.length > 0) {
      this.items.set(key, { ...item, due: Math.max(...later) });
      return;
    }
    const stored = await orUndefined(readWorkload(this.d.apps, item.workload));
    const named = stored && !stored.metadata?.deletionTimestamp ? reservedPoolNames(stored.spec?.template?.metadata?.annotations) : new Map();
    for (const name of item.pools) {
      if (named.has(name)) continue;
      const pool = await this.pools.get(name);
      if (!pool || !unused(pool, item.workload)) continue;
      const body: k8s.V1DeleteOptions = { preconditions: { uid: pool.metadata.uid, resourceVersion: pool.metadata.resourceVersion } };
      if (!(await unlessRaced(this.d.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name, body })))) continue;
      this.d.metrics.provisionalClaims.inc({ result: "dropped" });
      const why = stored ? "does not name it" : "was not stored";
      this.d.log.info({ uid: item.uid, source: item.source, pool: name }, `deleted auto pool "${name}": ${item.workload.kind} ${workloadKey(item.workload)} ${why} by the admission's deadline`);
      const deleting = await this.pools.get(name);
      if (deleting) await this.d.finalizers.settlePool(deleting);
    }
  }
}

function ledgerKey(entry: PendingEntry): string {
  return entry.ledger.kind === "cluster" ? "cluster" : `subnet/${entry.ledger.subnet}`;
}

/**
 * An auto pool of `workload` that no pod uses and that is not going already. Not one a
 * stored workload adopted with `ippool-reclaim: "false"`: that workload existed and asked
 * for its pool to outlive it (created and deleted within the deadline, say).
 */
function unused(pool: SpiderIPPool, workload: WorkloadRef): boolean {
  const kept = !!pool.metadata.annotations?.[ADOPTED_ANNOTATION] && pool.metadata.labels?.[LABEL.reclaim] === "false";
  return ownedBy(pool, workload) && !kept && !pool.metadata.deletionTimestamp && (pool.status?.allocatedIPCount ?? 0) === 0 && !pool.status?.allocations?.holders.length;
}
