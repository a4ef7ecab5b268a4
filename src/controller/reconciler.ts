/**
 * The leader's reconcilers, level-triggered: every sweep lists the cluster once
 * (snapshot.ts), judges each object purely (auto-pools.ts, pool-deletion.ts,
 * ledger-sweep.ts, snapshot.ts#holderGone) and carries out what was decided. Anything
 * destructive acts only on what stayed wrong for the grace period, and is re-checked
 * with fresh reads right before it happens. Every write is a compare-and-swap: a 409
 * means someone else changed the object, and the next sweep judges it again.
 */
import type * as k8s from "@kubernetes/client-node";
import { parseAddressSpec } from "../api/address-spec.js";
import { GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, VERSION } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { PoolClient } from "../k8s/resources.js";
import type { ReconcileMetrics } from "../metrics/reconcile.js";
import { poolCounts, subnetCountsOf } from "../reservation/counts.js";
import { LedgerFormatError } from "../reservation/ledger.js";
import type { AllocationWriter } from "../reservation/allocations.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import type { ReservedIPs } from "../reservation/reserved-ips.js";
import { Sightings } from "./grace.js";
import { recordEvent, unlessRaced } from "./effects.js";
import { orUndefined } from "../k8s/errors.js";
import { AutoPoolReconciler } from "./auto-pool-reconciler.js";
import { missingEndpoints } from "./endpoint-restore.js";
import { Finalizers } from "./finalizers.js";
import { LedgerReconciler } from "./ledger-reconciler.js";
import type { StaleClaim } from "./ledger-sweep.js";
import { type HolderView, holderGone, holderKey, parseHolder, statefulSetMember } from "../api/holders.js";
import { type Snapshot, takeSnapshot } from "./snapshot.js";

export interface ReconcilerDeps {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  stores: LedgerStores;
  allocations: AllocationWriter;
  reserved: ReservedIPs;
  metrics: ReconcileMetrics;
  log: { info(o: object, m: string): void; error(o: object, m: string): void };
}

export interface ReconcilerTiming {
  /** How long something must stay wrong before a destructive fix. */
  graceMs: number;
  /** Pause between sweeps. */
  intervalMs: number;
}

export class Reconciler {
  private readonly sightings: Sightings;
  private readonly pools: PoolClient;
  private readonly ledgers: LedgerReconciler;
  private readonly finalizers: Finalizers;
  private readonly autoPools: AutoPoolReconciler;
  private conflicts = 0;
  /** SpiderReservedIP versions already reported as malformed (this leader term). */
  private readonly reported = new Set<string>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private active = false;

  constructor(
    private readonly d: ReconcilerDeps,
    private readonly timing: ReconcilerTiming,
  ) {
    this.sightings = new Sightings(timing.graceMs);
    this.pools = new PoolClient(d.custom);
    this.autoPools = new AutoPoolReconciler({ ...d, graceMs: timing.graceMs, sightings: this.sightings, done: (action, fields, message) => this.done(action, fields, message) });
    this.finalizers = new Finalizers({ ...d, done: (action, fields, message) => this.done(action, fields, message) });
    this.ledgers = new LedgerReconciler({
      ...d,
      ripe: (ledger, claims, now) => this.ripe(ledger, claims, now),
      done: (action, fields, message) => this.done(action, fields, message),
      guarded: (step, name, act) => this.guarded(step, name, act),
    });
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.sightings.reset();
    this.d.metrics.leader.set(1);
    this.loop();
  }

  async stop(): Promise<void> {
    this.active = false;
    clearTimeout(this.timer);
    await this.running;
    this.d.metrics.leader.set(0);
    this.conflicts = 0; // the next leader counts afresh
    this.d.metrics.clearGauges();
  }

  private loop(): void {
    if (!this.active) return;
    this.running = this.sweep()
      .catch((e: unknown) => {
        this.d.metrics.errors.inc({ step: "snapshot" });
        this.d.log.error({ err: e }, "reconcile sweep failed; retrying at the next one");
      })
      .finally(() => {
        if (this.active) this.timer = setTimeout(() => this.loop(), this.timing.intervalMs);
      });
  }

  /** One pass over the cluster. Public for tests that need a sweep now. */
  async sweep(): Promise<void> {
    const endTimer = this.d.metrics.sweepDuration.startTimer();
    const s = await takeSnapshot(this.d);
    const now = Date.now();
    await this.each("finalizers", [...s.pools, ...s.subnets], (o) => this.finalizers.ensure(o));
    await this.each("allocations", s.pools, (p) => this.releaseGoneHolders(p, s, now));
    await this.each("pool-deletion", s.pools, (p) => this.finalizers.settlePool(p));
    await this.each("subnet-deletion", s.subnets, (x) => this.finalizers.settleSubnet(x, s));
    await this.each("auto-pool", s.pools, (p) => this.autoPools.reconcile(p, s, now));
    await this.each("missing-pools", [...s.deployments.values()], (w) => this.autoPools.reserveMissingPools(w, "Deployment", s));
    await this.each("missing-pools", [...s.statefulSets.values()], (w) => this.autoPools.reserveMissingPools(w, "StatefulSet", s));
    await this.each("endpoints", s.endpoints, (e) => this.collectEndpoint(e, s, now));
    await this.each("endpoint-restore", missingEndpoints(s), (e) => this.restoreEndpoint(e, now));
    await this.guarded("reserved-ips", undefined, () => this.reportSkippedReservedIPs());
    await this.guarded("ledgers", undefined, () => this.ledgers.settleLapsed(s));
    await this.guarded("ledgers", undefined, () => this.ledgers.trim(s, now));
    await this.guarded("ledgers", undefined, () => this.ledgers.repair(s));
    await this.guarded("conflicts", undefined, async () => {
      this.conflicts = await this.ledgers.showConflicts(s);
    });
    this.exportGauges(s);
    this.sightings.endSweep();
    endTimer();
  }

  /** Runs one object's step; a failure is counted and logged with the object, and the sweep goes on. */
  private async guarded(step: string, name: string | undefined, act: () => Promise<void>): Promise<void> {
    if (!this.active) return;
    try {
      await act();
    } catch (e) {
      this.d.metrics.errors.inc({ step });
      this.d.log.error({ err: e, step, name }, "reconcile step failed; retrying at the next sweep");
    }
  }

  private async each<T extends { metadata?: { name?: string; namespace?: string } }>(step: string, items: T[], act: (item: T) => Promise<void>): Promise<void> {
    for (const item of items) {
      const m = item.metadata ?? {};
      await this.guarded(step, `${m.namespace ? `${m.namespace}/` : ""}${m.name}`, () => act(item));
    }
  }

  private done(action: string, fields: object, message: string): void {
    this.d.metrics.gcActions.inc({ action });
    this.d.log.info({ action, ...fields }, message);
  }

  /** Fresh reads of what judges `holder`, for the re-check right before a release. */
  private async freshView(holder: string): Promise<HolderView> {
    const h = parseHolder(holder);
    const view: HolderView = { pods: new Map(), nodes: new Set(), statefulSets: new Map(), terminatingNamespaces: new Set() };
    if (!h) return view;
    const pod = await orUndefined(this.d.core.readNamespacedPod({ namespace: h.namespace, name: h.pod }));
    if (pod) view.pods.set(`${h.namespace}/${h.pod}`, pod);
    const node = pod?.spec?.nodeName;
    if (node && (await orUndefined(this.d.core.readNode({ name: node })))) view.nodes.add(node);
    if ("statefulSet" in h) {
      const set = await orUndefined(this.d.apps.readNamespacedStatefulSet({ namespace: h.namespace, name: h.statefulSet }));
      if (set) view.statefulSets.set(`${h.namespace}/${h.statefulSet}`, set);
      const ns = await orUndefined(this.d.core.readNamespace({ name: h.namespace }));
      if (ns?.metadata?.deletionTimestamp) view.terminatingNamespaces.add(h.namespace);
    }
    return view;
  }

  /** Releases addresses whose holder (pod, or StatefulSet ordinal) has been gone for the grace period. */
  private async releaseGoneHolders(pool: SpiderIPPool, s: Snapshot, now: number): Promise<void> {
    if (!pool.status?.allocations?.holders.length) return;
    const name = pool.metadata.name as string;
    const record = AllocationRecord.decode(parseAddressSpec(pool.spec).family, pool.status.allocations, `SpiderIPPool "${name}" status.allocations`);
    for (const holder of new Set(record.holders())) {
      if (!holderGone(holder, s) || !this.sightings.missing(`holder/${name}/${holder}`, now)) continue;
      const why = holderGone(holder, await this.freshView(holder));
      if (!why) continue;
      if (await this.d.allocations.release(name, holder)) this.done("release_allocation", { pool: name, holder }, `released the addresses of "${holder}": ${why}`);
    }
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

  /** Deletes a SpiderEndpoint whose pod is gone and whose addresses no holder keeps. */
  private async collectEndpoint(ep: SpiderEndpoint, s: Snapshot, now: number): Promise<void> {
    const { namespace, name } = ep.metadata as { namespace: string; name: string };
    if (s.pods.has(`${namespace}/${name}`)) return;
    const setName = ep.status?.ownerControllerType === "StatefulSet" ? ep.status.ownerControllerName : undefined;
    const holder = holderKey(namespace, name, setName ? statefulSetMember(setName, name) : undefined);
    if (!holderGone(holder, s) || !this.sightings.missing(`endpoint/${namespace}/${name}`, now)) return;
    if (!holderGone(holder, await this.freshView(holder))) return;
    const body: k8s.V1DeleteOptions = { preconditions: { uid: ep.metadata.uid } };
    if (await unlessRaced(this.d.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, name, body }))) {
      this.done("delete_endpoint", { endpoint: `${namespace}/${name}` }, "deleted the SpiderEndpoint of a pod that is gone");
    }
  }

  /**
   * Recreates the SpiderEndpoint of a pod that holds addresses but has none (its agent died
   * between the claim and the endpoint write), once it has been missing for the grace
   * period: the agent writes it a moment after the claim, and a create that loses to it
   * (409 AlreadyExists) changes nothing.
   */
  private async restoreEndpoint(ep: SpiderEndpoint, now: number): Promise<void> {
    const { namespace, name } = ep.metadata as { namespace: string; name: string };
    if (!this.sightings.missing(`endpoint-missing/${namespace}/${name}`, now)) return;
    if (await unlessRaced(this.d.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, body: ep }))) {
      this.done("restore_endpoint", { endpoint: `${namespace}/${name}` }, "recreated the SpiderEndpoint of a pod that holds addresses from the pools' records");
    }
  }

  /** Claims that stayed beyond their stored pools (or subnets) for the grace period. */
  private ripe(ledger: string, claims: StaleClaim[], now: number): StaleClaim[] {
    return claims.filter((c) => this.sightings.missing(`ledger/${ledger}/${c.name}/${c.claim.toString()}/${c.rev ?? 0}`, now));
  }

  private exportGauges(s: Snapshot): void {
    const m = this.d.metrics;
    m.clearGauges();
    m.conflicts.set(this.conflicts);
    for (const subnet of s.subnets) {
      const name = subnet.metadata.name as string;
      try {
        const { spec, ledger } = this.d.stores.parsedSubnet(subnet);
        const counts = subnetCountsOf(spec, ledger);
        m.subnetTotal.set({ subnet: name }, counts.totalIPCount);
        m.subnetAllocated.set({ subnet: name }, counts.allocatedIPCount);
      } catch (e) {
        if (!(e instanceof AddressError) && !(e instanceof LedgerFormatError)) throw e; // no counts to show; the ledger step logs it
      }
    }
    for (const pool of s.pools) {
      try {
        const counts = poolCounts(pool);
        const labels = { pool: pool.metadata.name as string };
        m.poolTotal.set(labels, counts.totalIPCount);
        m.poolAllocated.set(labels, counts.allocatedIPCount);
      } catch (e) {
        if (!(e instanceof AddressError)) throw e;
      }
    }
  }
}

