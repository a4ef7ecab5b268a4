/**
 * The leader's reconcilers, level-triggered on the leader's watch caches (cluster-cache.ts):
 * each sweep judges what changed since the last one (sweep-scope.ts), and every
 * `fullResyncMs` everything, purely (auto-pools.ts, pool-deletion.ts, ledger-sweep.ts,
 * api/holders.ts) and carries out what was decided. Anything destructive acts only on what
 * stayed wrong for the grace period, and is re-checked with fresh reads right before it
 * happens. Every write is a compare-and-swap: a 409 means someone else changed the object,
 * and a later sweep judges it again. The sweep shares its event loop with the webhooks: it
 * yields every few milliseconds, so an admission never waits behind it for long.
 */
import type * as k8s from "@kubernetes/client-node";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { ReconcileMetrics } from "../metrics/reconcile.js";
import type { AllocationWriter } from "../reservation/allocations.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import type { ReservedIPs } from "../reservation/reserved-ips.js";
import { Sightings } from "./grace.js";
import { recordEvent } from "./effects.js";
import { AutoPoolReconciler } from "./auto-pool-reconciler.js";
import { ClusterCache } from "./cluster-cache.js";
import { startCountReconciler } from "./count-reconciler.js";
import { missingEndpoints } from "./endpoint-restore.js";
import { Finalizers } from "./finalizers.js";
import { HolderReconciler } from "./holder-reconciler.js";
import { LedgerReconciler } from "./ledger-reconciler.js";
import type { StaleClaim } from "./ledger-sweep.js";
import type { Snapshot } from "./snapshot.js";
import { type Scope, type Subject, judged, subjectOf } from "./sweep-scope.js";
import { exportGauges } from "./gauges.js";

/** How long the sweep runs before it lets the webhooks' requests in. */
const SLICE_MS = 4;
/** Objects one step works on at once. */
const PARALLEL_OBJECTS = 8;

export interface ReconcilerDeps {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  stores: LedgerStores;
  allocations: AllocationWriter;
  reserved: ReservedIPs;
  metrics: ReconcileMetrics;
  log: { info(o: object, m: string): void; error(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface ReconcilerTiming {
  /** How long something must stay wrong before a destructive fix. */
  graceMs: number;
  /** Pause between sweeps. */
  intervalMs: number;
  /** How often a sweep judges everything, not only what changed (the backstop of the change tracking). */
  fullResyncMs: number;
}

export class Reconciler {
  private readonly sightings: Sightings;
  private readonly cache: ClusterCache;
  private readonly holders: HolderReconciler;
  private readonly ledgers: LedgerReconciler;
  private readonly finalizers: Finalizers;
  private readonly autoPools: AutoPoolReconciler;
  private conflicts = 0;
  /** SpiderReservedIP versions already reported as malformed (this leader term). */
  private readonly reported = new Set<string>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  private active = false;
  /** Counts leader terms (a start, a stop): a sweep acts only while its term lasts. */
  private term = 0;
  private sweepTerm = -1;
  private lastFull = 0;
  private sliceStart = 0;
  private clusterLedgerVersion?: string;
  private unsubscribe?: () => void;
  private stopCounts?: () => void;

  constructor(
    private readonly d: ReconcilerDeps,
    private readonly timing: ReconcilerTiming,
  ) {
    this.sightings = new Sightings(timing.graceMs);
    this.cache = new ClusterCache(d.kc, (what, e) => d.log.warn({ err: e, what }, "a watch of the controller's caches failed; restarting it"));
    const done = (action: string, fields: object, message: string): void => this.done(action, fields, message);
    this.holders = new HolderReconciler({ ...d, sightings: this.sightings, done });
    this.autoPools = new AutoPoolReconciler({ ...d, graceMs: timing.graceMs, sightings: this.sightings, done, later: (subject) => this.cache.scope.later(subject) });
    this.finalizers = new Finalizers({ ...d, done: (action, fields, message) => this.done(action, fields, message) });
    this.ledgers = new LedgerReconciler({
      ...d,
      ripe: (ledger, claims, now) => this.ripe(ledger, claims, now),
      later: () => this.cache.scope.later("ledgers"),
      done,
      guarded: (step, name, act) => this.guarded(step, name, act, step === "conflicts" ? "conflicts" : "ledgers"),
    });
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    const term = ++this.term;
    this.d.metrics.leader.set(1);
    // A term begins once the last one has wound down: one sweep at a time. Its first sweep
    // waits for the mirror's first lists, and is a full one.
    this.starting = (this.stopping ?? Promise.resolve()).then(async () => {
      if (term !== this.term) return;
      this.sightings.reset();
      this.lastFull = 0;
      this.unsubscribe = this.d.stores.subnetParts.onChange(() => this.cache.scope.ledger());
      await this.cache.start();
      if (term !== this.term) return;
      this.stopCounts = startCountReconciler(this.d.custom, this.cache, this.d.stores, this.d.log);
      this.loop(term);
    });
  }

  /** Ends the term: its sweep stops acting at its next object, and the mirror stops. */
  stop(): Promise<void> {
    if (!this.active) return this.stopping ?? Promise.resolve();
    this.active = false;
    this.term++;
    clearTimeout(this.timer);
    this.stopping = this.windDown();
    return this.stopping;
  }

  private async windDown(): Promise<void> {
    const [starting, running] = [this.starting, this.running];
    await this.cache.stop(); // releases a start still waiting for its first lists
    await starting;
    await running;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.stopCounts?.();
    this.stopCounts = undefined;
    this.cache.scope.everything(); // a later term starts with a full sweep
    if (this.active) return; // leading again already: the new term owns the gauges
    this.d.metrics.leader.set(0);
    this.conflicts = 0; // the next leader counts afresh
    this.d.metrics.clearGauges();
  }

  private loop(term: number): void {
    if (term !== this.term) return;
    this.running = this.sweep(term)
      .catch((e: unknown) => {
        this.d.metrics.errors.inc({ step: "snapshot" });
        this.d.log.error({ err: e }, "reconcile sweep failed; retrying at the next one");
      })
      .finally(() => {
        if (term === this.term) this.timer = setTimeout(() => this.loop(term), this.timing.intervalMs);
      });
  }

  /** One sweep: what changed since the last one, or everything once fullResyncMs has passed. */
  private async sweep(term: number): Promise<void> {
    this.sweepTerm = term;
    const endTimer = this.d.metrics.sweepDuration.startTimer();
    const now = Date.now();
    const s = this.cache.snapshot();
    // The cluster ledger is not watched: one read per sweep tells whether it changed (or went).
    const { rv } = await this.d.stores.readCluster();
    if (rv !== this.clusterLedgerVersion) this.cache.scope.ledger();
    this.clusterLedgerVersion = rv;
    const scope = this.cache.scope.take(now - this.lastFull >= this.timing.fullResyncMs);
    if (scope.full) this.lastFull = now;
    this.sliceStart = performance.now();
    let judgedAll = false;
    try {
      await this.judge(s, scope, now);
      judgedAll = true;
    } finally {
      if (!judgedAll) this.cache.scope.everything(); // what this sweep did not finish, the next judges
      this.sightings.endSweep((subject) => judgedAll && judged(scope, subject));
      for (const subject of this.sightings.open()) this.cache.scope.later(subject);
    }
    endTimer();
  }

  private async judge(s: Snapshot, scope: Scope, now: number): Promise<void> {
    const pools = scope.full ? s.pools : [...scope.pools].flatMap((name) => this.cache.pool(name) ?? []);
    const workloads = (kind: "Deployment" | "StatefulSet") => {
      const all = kind === "Deployment" ? s.deployments : s.statefulSets;
      if (scope.full) return [...all.values()];
      return [...scope.workloads].flatMap((k) => (k.startsWith(`${kind}/`) ? (all.get(k.slice(kind.length + 1)) ?? []) : []));
    };
    const endpoints = scope.full ? s.endpoints : [...scope.endpoints].flatMap((key) => this.cache.endpoint(key) ?? []);
    await this.each("finalizers", [...pools, ...s.subnets], (o) => this.finalizers.ensure(o));
    await this.each("allocations", pools, (p) => this.holders.releaseGoneHolders(p, s, now));
    await this.each("pool-deletion", pools, (p) => this.finalizers.settlePool(p));
    await this.each("subnet-deletion", s.subnets, (x) => this.finalizers.settleSubnet(x, s));
    await this.each("auto-pool", pools, (p) => this.autoPools.reconcile(p, s, now));
    for (const kind of ["Deployment", "StatefulSet"] as const) {
      await this.each("missing-pools", workloads(kind), (w) => this.autoPools.reserveMissingPools(w, kind, s), kind);
    }
    await this.each("endpoints", endpoints, (e) => this.holders.collectEndpoint(e, s, now));
    await this.each("endpoint-restore", this.lackingEndpoints(s, scope), (e) => this.holders.restoreEndpoint(e, now));
    await this.guarded("reserved-ips", undefined, () => this.reportSkippedReservedIPs());
    if (scope.ledgers) {
      await this.guarded("ledgers", undefined, () => this.ledgers.settleLapsed(s), "ledgers");
      await this.guarded("ledgers", undefined, () => this.ledgers.trim(s, now), "ledgers");
      await this.guarded("ledgers", undefined, () => this.ledgers.repair(s), "ledgers");
    }
    if (scope.conflicts) {
      await this.guarded("conflicts", undefined, async () => {
        this.conflicts = await this.ledgers.showConflicts(s);
      }, "conflicts");
    }
    exportGauges({ metrics: this.d.metrics, stores: this.d.stores, conflicts: this.conflicts, stored: (name) => this.cache.pool(name) !== undefined }, s, scope, pools);
  }

  /** The endpoints live pods lack: of the pods the scope names (changed, or come to hold an address), or of every pod. */
  private lackingEndpoints(s: Snapshot, scope: Scope) {
    const endpoints = { has: (key: string) => this.cache.endpoint(key) !== undefined };
    if (scope.full) return missingEndpoints({ ...s, endpoints });
    // A changed pool named its holders' pods in the scope already.
    const pods = scope.pods;
    const pools = new Set([...pods].flatMap((pod) => [...this.cache.scope.poolsHolding(pod)]));
    return missingEndpoints({ pools: [...pools].flatMap((name) => this.cache.pool(name) ?? []), endpoints, pods: s.pods }, pods);
  }

  /** Runs one object's step; a failure is counted and logged with the object, and the sweep goes on. */
  private async guarded(step: string, name: string | undefined, act: () => Promise<void>, subject?: Subject): Promise<void> {
    if (this.sweepTerm !== this.term) return; // the term ended: its sweep acts no more
    if (performance.now() - this.sliceStart >= SLICE_MS) {
      await yieldToEventLoop();
      this.sliceStart = performance.now();
    }
    try {
      await act();
    } catch (e) {
      this.d.metrics.errors.inc({ step });
      this.d.log.error({ err: e, step, name }, "reconcile step failed; retrying at the next sweep");
      if (subject) this.cache.scope.later(subject);
    }
  }

  /**
   * Runs `act` for each item, PARALLEL_OBJECTS at a time (each is one object's compare-and-swap,
   * and most wait on the API server: one at a time, a fill of 35 pools a second outran their
   * adoption); an item whose step fails is judged again at the next sweep.
   */
  private async each<T extends { kind?: string; metadata?: { name?: string; namespace?: string } }>(step: string, items: T[], act: (item: T) => Promise<void>, kind?: string): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const item = items[next++] as T;
        const m = item.metadata ?? {};
        const key = `${m.namespace ? `${m.namespace}/` : ""}${m.name}`;
        await this.guarded(step, key, () => act(item), subjectOf(kind ?? item.kind, key));
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_OBJECTS, items.length) }, worker));
  }

  private done(action: string, fields: object, message: string): void {
    this.d.metrics.gcActions.inc({ action });
    this.d.log.info({ action, ...fields }, message);
  }

  /** A Warning event, once per version, for each SpiderReservedIP that is skipped because it does not parse. */
  private async reportSkippedReservedIPs(): Promise<void> {
    for (const skipped of (await this.d.reserved.read()).skipped) {
      const key = `${skipped.name}@${skipped.object.metadata.resourceVersion}`;
      if (this.reported.has(key)) continue;
      await recordEvent(this.d.core, skipped.object, { reason: "InvalidSpiderReservedIP", message: `ignored, its addresses are not kept out of pools: ${skipped.message}`, type: "Warning" });
      this.reported.add(key);
    }
  }

  /** Claims that stayed beyond their stored pools (or subnets) for the grace period. */
  private ripe(ledger: string, claims: StaleClaim[], now: number): StaleClaim[] {
    return claims.filter((c) => this.sightings.missing("ledgers", `ledger/${ledger}/${c.name}/${c.claim.toString()}/${c.rev ?? 0}`, now));
  }
}
