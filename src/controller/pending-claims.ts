/**
 * Settles the provisional claims this replica's admissions wrote (reservation/pending.ts)
 * at their deadline, against the objects as the API server has them: a claim is kept as
 * far as its object holds it and dropped when no object was stored; an auto pool reserved
 * by a workload CREATE is deleted when no such workload was stored (and nobody uses it).
 * A forged review therefore blocks a range for the deadline (webhook timeout plus a
 * margin), not for the sweep's grace period. A source that floods the webhook has its
 * claims settled at once. The leader's sweep is the backstop for a replica that died
 * first: it trims a lapsed, unbacked claim without a grace period (reconciler.ts).
 */
import type * as k8s from "@kubernetes/client-node";
import { type WorkloadRef, workloadKey } from "../api/names.js";
import { ADOPTED_ANNOTATION } from "./auto-pools.js";
import { GROUP, PLURAL, type SpiderIPPool, VERSION } from "../api/types.js";
import { orUndefined } from "../k8s/errors.js";
import { PoolClient, SubnetClient, readWorkload } from "../k8s/resources.js";
import type { WebhookMetrics } from "../metrics/webhook.js";
import { ownedBy } from "../reservation/auto-pool.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import { clusterEntries, subnetEntries } from "../reservation/ledger.js";
import { type Pending, type PendingEntry, type Provisional, type StoredObject, settleEntry } from "../reservation/pending.js";
import { unlessRaced } from "./effects.js";
import type { Finalizers } from "./finalizers.js";

type Item =
  | { kind: "entry"; entry: PendingEntry; source: string; due: number; tries: number }
  | { kind: "workload"; workload: WorkloadRef; pools: string[]; pending: Pending; source: string; due: number; tries: number };

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

/** A failed settlement is tried again this much later, this many times; then the sweep's backstop has it. */
const RETRY_MS = 2_000;
const MAX_TRIES = 5;

export class PendingClaims {
  private readonly items = new Map<string, Item>();
  private timer?: NodeJS.Timeout;
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
    const pending = { uid: req.uid, until: this.now() + this.lapseMs };
    return {
      pending,
      marked: (entry) => {
        const where = entry.ledger.kind === "cluster" ? `cluster/${entry.ledger.section}` : `subnet/${entry.ledger.subnet}`;
        this.add(`${where}/${entry.name}/${pending.uid}`, { kind: "entry", entry, source, due: pending.until, tries: 0 });
      },
      reservedFor: (workload, pools) => this.add(`workload/${workloadKey(workload)}/${pending.uid}`, { kind: "workload", workload, pools, pending, source, due: pending.until, tries: 0 }),
    };
  }

  /** Settles every claim `source` has pending now (it is flooding the webhook). */
  lapseSource(source: string): void {
    const now = this.now();
    for (const item of this.items.values()) if (item.source === source) item.due = Math.min(item.due, now);
    this.schedule();
  }

  /** How many claims wait for their deadline (tests, and the log when stopping). */
  get size(): number {
    return this.items.size;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private add(key: string, item: Item): void {
    if (!this.items.has(key)) this.items.set(key, item);
    this.schedule();
  }

  private schedule(): void {
    if (this.running) return; // run() schedules again when it is done
    let next = Infinity;
    for (const item of this.items.values()) next = Math.min(next, item.due);
    clearTimeout(this.timer);
    this.timer = undefined;
    if (next === Infinity) return;
    this.timer = setTimeout(() => void this.run(), Math.max(0, next - this.now()));
    this.timer.unref();
  }

  /** Settles what is due: one read of each object, one write per ledger. */
  private async run(): Promise<void> {
    this.running = true;
    try {
      const now = this.now();
      const due = [...this.items].filter(([, item]) => item.due <= now);
      for (const [key] of due) this.items.delete(key);
      const byLedger = new Map<string, Array<Extract<Item, { kind: "entry" }>>>();
      for (const [, item] of due) {
        if (item.kind === "workload") {
          await this.attempt(`workload/${workloadKey(item.workload)}/${item.pending.uid}`, item, () => this.settleWorkload(item));
          continue;
        }
        const ledger = item.entry.ledger.kind === "cluster" ? "" : item.entry.ledger.subnet;
        byLedger.set(ledger, [...(byLedger.get(ledger) ?? []), item]);
      }
      for (const [ledger, items] of byLedger) {
        await this.attempt(`ledger/${ledger}`, items, () => this.settleLedger(ledger, items));
      }
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  /** Runs one settlement; on failure puts its items back for a later try, up to MAX_TRIES. */
  private async attempt(what: string, items: Item | Item[], act: () => Promise<void>): Promise<void> {
    try {
      await act();
    } catch (e) {
      for (const item of Array.isArray(items) ? items : [items]) {
        if (item.tries + 1 >= MAX_TRIES) continue;
        const key = `${what}/${item.kind === "entry" ? `${item.entry.name}/${item.entry.pending.uid}` : item.pending.uid}/retry`;
        this.items.set(key, { ...item, due: this.now() + RETRY_MS, tries: item.tries + 1 });
      }
      this.d.log.warn({ err: e, what }, "settling provisional claims failed; trying again (the leader's sweep is the backstop)");
    }
  }

  private async read(entry: PendingEntry): Promise<StoredObject | undefined> {
    return entry.object === "SpiderSubnet" ? this.subnets.get(entry.name) : this.pools.get(entry.name);
  }

  /** `ledger`: a SpiderSubnet's name, or "" for the cluster ledger. */
  private async settleLedger(ledger: string, items: Array<Extract<Item, { kind: "entry" }>>): Promise<void> {
    const stored = await Promise.all(items.map((i) => this.read(i.entry)));
    // Which items changed the ledger, in the decision that was written (a conflict decides again).
    let settled = new Set<number>();
    const fold = <L>(start: L, settleOne: (l: L, entry: PendingEntry, s: StoredObject | undefined) => L): { write?: L } => {
      settled = new Set();
      let next = start;
      items.forEach((item, n) => {
        const before = next;
        next = settleOne(next, item.entry, stored[n]);
        if (next !== before) settled.add(n);
      });
      return next === start ? {} : { write: next };
    };
    if (ledger === "") {
      await this.d.stores.updateCluster(false, (l) => fold(l, (x, e, s) => settleEntry(x, e.name, e.pending.uid, s, clusterEntries(e.ledger.kind === "cluster" ? e.ledger.section : "pools"))));
    } else {
      await this.d.stores.updateSubnet(ledger, false, (state) => (state ? fold(state.ledger, (x, e, s) => settleEntry(x, e.name, e.pending.uid, s, subnetEntries)) : {}));
    }
    const where = ledger === "" ? "the cluster ledger" : `SpiderSubnet "${ledger}"'s ledger`;
    for (const n of settled) {
      const { entry, source } = items[n] as (typeof items)[number];
      this.d.metrics.provisionalClaims.inc({ result: stored[n] ? "kept" : "dropped" });
      if (!stored[n]) this.d.log.info({ uid: entry.pending.uid, source }, `dropped ${entry.object} "${entry.name}"'s claim in ${where}: no such object was stored by the admission's deadline`);
    }
  }

  /** A workload CREATE's auto pools go when no such workload was stored: deleted, then released at once. */
  private async settleWorkload(item: Extract<Item, { kind: "workload" }>): Promise<void> {
    if (await orUndefined(readWorkload(this.d.apps, item.workload))) return;
    for (const name of item.pools) {
      const pool = await this.pools.get(name);
      if (!pool || !unusedOrphan(pool, item.workload)) continue;
      const body: k8s.V1DeleteOptions = { preconditions: { uid: pool.metadata.uid, resourceVersion: pool.metadata.resourceVersion } };
      if (!(await unlessRaced(this.d.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name, body })))) continue;
      this.d.metrics.provisionalClaims.inc({ result: "dropped" });
      this.d.log.info({ uid: item.pending.uid, source: item.source, pool: name }, `deleted auto pool "${name}": ${item.workload.kind} ${workloadKey(item.workload)} was not stored by the admission's deadline`);
      const deleting = await this.pools.get(name);
      if (deleting) await this.d.finalizers.settlePool(deleting);
    }
  }
}

/** An auto pool of `workload` that no stored workload ever adopted and no pod uses. */
function unusedOrphan(pool: SpiderIPPool, workload: WorkloadRef): boolean {
  return ownedBy(pool, workload) && !pool.metadata.annotations?.[ADOPTED_ANNOTATION] && !pool.metadata.deletionTimestamp && (pool.status?.allocatedIPCount ?? 0) === 0 && !pool.status?.allocations?.holders.length;
}
