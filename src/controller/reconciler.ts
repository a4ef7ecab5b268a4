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
import { LABEL } from "../api/labels.js";
import { GROUP, PLURAL, POOL_FINALIZER, type SpiderEndpoint, type SpiderIPPool, VERSION } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { isConflict, isNotFound } from "../k8s/errors.js";
import { PoolClient, readWorkload } from "../k8s/resources.js";
import type { ReconcileMetrics } from "../metrics/reconcile.js";
import { poolCounts, subnetCountsOf } from "../reservation/counts.js";
import { LedgerFormatError } from "../reservation/ledger.js";
import type { AllocationWriter } from "../reservation/allocations.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import type { ReservedIPs } from "../reservation/reserved-ips.js";
import { reserve } from "../reservation/reserve.js";
import { settlePool } from "../webhook/validate-resources.js";
import { ADOPTED_ANNOTATION, autoPoolOwner, decideAutoPool } from "./auto-pools.js";
import { Sightings } from "./grace.js";
import { type StaleClaim, applyTrims, staleClaims } from "./ledger-sweep.js";
import { decidePoolDeletion, withDeletingCondition } from "./pool-deletion.js";
import { type HolderView, holderGone, parseHolder } from "../api/holders.js";
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

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Runs `write`; a 409 or 404 (someone else changed or deleted the object) leaves it to the next sweep. */
async function unlessRaced(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (e) {
    if (isConflict(e) || isNotFound(e)) return false;
    throw e;
  }
}

export class Reconciler {
  private readonly sightings: Sightings;
  private readonly pools: PoolClient;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private active = false;

  constructor(
    private readonly d: ReconcilerDeps,
    private readonly timing: ReconcilerTiming,
  ) {
    this.sightings = new Sightings(timing.graceMs);
    this.pools = new PoolClient(d.custom);
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
    await this.each("allocations", s.pools, (p) => this.releaseGoneHolders(p, s, now));
    await this.each("pool-deletion", s.pools, (p) => this.settleDeletion(p));
    await this.each("auto-pool", s.pools, (p) => this.reconcileAutoPool(p, s, now));
    await this.each("endpoints", s.endpoints, (e) => this.collectEndpoint(e, s, now));
    await this.guarded("ledgers", undefined, () => this.trimLedgers(s, now));
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

  private async each<T extends { metadata: { name?: string; namespace?: string } }>(step: string, items: T[], act: (item: T) => Promise<void>): Promise<void> {
    for (const item of items) {
      const m = item.metadata;
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

  /** A deleted pool: says what it waits for, or releases its ledger claims and its finalizer. */
  private async settleDeletion(snapshotPool: SpiderIPPool): Promise<void> {
    if (decidePoolDeletion(snapshotPool).kind === "none") return;
    const name = snapshotPool.metadata.name as string;
    const pool = await this.pools.get(name);
    if (!pool) return;
    const step = decidePoolDeletion(pool);
    if (step.kind === "wait") {
      const conditions = withDeletingCondition(pool.status?.conditions, step.message, new Date());
      if (!conditions) return;
      if (await unlessRaced(this.pools.replaceStatus({ ...pool, status: { ...pool.status, conditions } }))) await this.poolEvent(pool, "WaitingForPods", step.message);
      return;
    }
    if (step.kind !== "release") return;
    if (step.spec) await settlePool({ name, operation: "DELETE", spec: step.spec }, this.d.stores, false);
    const finalizers = (pool.metadata.finalizers ?? []).filter((f) => f !== POOL_FINALIZER);
    if (await unlessRaced(this.pools.replace({ ...pool, metadata: { ...pool.metadata, finalizers } }))) {
      this.done("release_pool", { pool: name }, "released the deleted pool's addresses to its ledgers and removed its finalizer");
    }
  }

  private async poolEvent(pool: SpiderIPPool, reason: string, message: string): Promise<void> {
    const now = new Date();
    await this.d.core.createNamespacedEvent({
      namespace: "default", // events about cluster-scoped objects live in "default", as kubectl describe expects
      body: {
        metadata: { generateName: `${pool.metadata.name}.` },
        involvedObject: { apiVersion: pool.apiVersion, kind: "SpiderIPPool", name: pool.metadata.name, uid: pool.metadata.uid },
        reason,
        message,
        type: "Normal",
        source: { component: "pinpool-controller" },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }

  private async reconcileAutoPool(pool: SpiderIPPool, s: Snapshot, now: number): Promise<void> {
    const owner = autoPoolOwner(pool);
    if (!owner) return;
    const key = `${owner.namespace}/${owner.name}`;
    const workload = owner.kind === "Deployment" ? s.deployments.get(key) : s.statefulSets.get(key);
    const action = decideAutoPool(pool, owner, workload, now, this.timing.graceMs);
    const name = pool.metadata.name as string;
    switch (action.kind) {
      case "adopt": {
        const metadata = action.ownerReference
          ? { ...pool.metadata, ownerReferences: [...(pool.metadata.ownerReferences ?? []).filter((o) => o.apiVersion !== "apps/v1"), action.ownerReference] }
          : { ...pool.metadata, annotations: { ...pool.metadata.annotations, [ADOPTED_ANNOTATION]: action.annotation as string } };
        if (await unlessRaced(this.pools.replace({ ...pool, metadata }))) this.done("adopt_pool", { pool: name, workload: key }, `adopted by ${owner.kind} ${key}`);
        return;
      }
      case "resize": {
        const verdict = await reserve(action.plan, this.d, false);
        if (!verdict.allowed) throw new Error(`resizing SpiderIPPool "${name}" from ${action.from} to ${action.to} addresses failed: ${verdict.message}`);
        this.done("resize_pool", { pool: name, from: String(action.from), to: action.to }, `resized for ${owner.kind} ${key}`);
        return;
      }
      case "delete": {
        // Re-check: the workload may have been created since the list.
        const fresh = await orUndefined(readWorkload(this.d.apps, owner));
        if (decideAutoPool(pool, owner, fresh, now, this.timing.graceMs).kind !== "delete") return;
        const body: k8s.V1DeleteOptions = { preconditions: { uid: pool.metadata.uid, resourceVersion: pool.metadata.resourceVersion } };
        if (await unlessRaced(this.d.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name, body }))) {
          this.done("delete_pool", { pool: name }, action.reason);
        }
        return;
      }
      default:
    }
  }

  /** Deletes a SpiderEndpoint whose pod is gone and whose addresses no holder keeps. */
  private async collectEndpoint(ep: SpiderEndpoint, s: Snapshot, now: number): Promise<void> {
    const { namespace, name } = ep.metadata as { namespace: string; name: string };
    if (s.pods.has(`${namespace}/${name}`)) return;
    const setName = ep.status?.ownerControllerType === "StatefulSet" ? ep.status.ownerControllerName : undefined;
    const holder = setName ? `${namespace}/${setName}/${name.slice(setName.length + 1)}` : `${namespace}/${name}`;
    if (!holderGone(holder, s) || !this.sightings.missing(`endpoint/${namespace}/${name}`, now)) return;
    if (!holderGone(holder, await this.freshView(holder))) return;
    const body: k8s.V1DeleteOptions = { preconditions: { uid: ep.metadata.uid } };
    if (await unlessRaced(this.d.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, name, body }))) {
      this.done("delete_endpoint", { endpoint: `${namespace}/${name}` }, "deleted the SpiderEndpoint of a pod that is gone");
    }
  }

  /** Claims that stayed beyond their stored pools (or subnets) for the grace period. */
  private ripe(ledger: string, claims: StaleClaim[], now: number): StaleClaim[] {
    return claims.filter((c) => this.sightings.missing(`ledger/${ledger}/${c.name}/${c.claim.toString()}`, now));
  }

  private async trimLedgers(s: Snapshot, now: number): Promise<void> {
    const stored = new Map(s.pools.map((p) => [p.metadata.name as string, p]));
    const { ledger: cluster } = await this.d.stores.readCluster();
    // A subnet's own entry in the cluster ledger is stale when the SpiderSubnet does not exist.
    const subnets = new Map(s.subnets.map((x) => [x.metadata.name as string, x]));
    const clusterTrims = [
      ...this.ripe("cluster-pools", staleClaims(cluster.pools, stored), now).map((t) => ({ section: "pools" as const, t })),
      ...this.ripe("cluster-subnets", staleClaims(cluster.subnets, subnets, "SpiderSubnet"), now).map((t) => ({ section: "subnets" as const, t })),
    ];
    if (clusterTrims.length) {
      const { applied } = await this.d.stores.updateCluster(false, (l) => {
        let next = l;
        const applied: string[] = [];
        for (const section of ["pools", "subnets"] as const) {
          const trims = clusterTrims.filter((c) => c.section === section).map((c) => c.t);
          const out = applyTrims(next, trims, { get: (x, n) => x[section].get(n), without: (x, n) => x.without(section, n), with: (x, n, c) => x.with(section, n, c) });
          next = out.ledger;
          applied.push(...out.applied.map((t) => `${section} "${t.name}": ${t.why}`));
        }
        return next === l ? { applied } : { write: next, applied };
      });
      for (const what of applied) this.done("trim_ledger", { ledger: "cluster" }, `trimmed the cluster ledger's ${what}`);
    }
    for (const subnet of s.subnets) {
      const subnetName = subnet.metadata.name as string;
      await this.guarded("ledgers", subnetName, async () => {
        const trims = this.ripe(`subnet/${subnetName}`, staleClaims(this.d.stores.parsedSubnet(subnet).ledger.pools, stored), now);
        if (!trims.length) return;
        const { applied } = await this.d.stores.updateSubnet(subnetName, false, (state) => {
          if (!state) return { applied: [] };
          const out = applyTrims(state.ledger, trims, { get: (x, n) => x.pools.get(n), without: (x, n) => x.without(n), with: (x, n, c) => x.with(n, c) });
          return out.ledger === state.ledger ? { applied: out.applied } : { write: out.ledger, applied: out.applied };
        });
        for (const t of applied) this.done("trim_ledger", { ledger: subnetName }, `trimmed SpiderSubnet "${subnetName}"'s ledger: ${t.why}`);
      });
    }
  }

  private exportGauges(s: Snapshot): void {
    const m = this.d.metrics;
    m.clearGauges();
    const subnetByCidr = new Map<string, string>();
    for (const subnet of s.subnets) {
      const name = subnet.metadata.name as string;
      try {
        const { spec, ledger } = this.d.stores.parsedSubnet(subnet);
        subnetByCidr.set(subnet.spec.subnet, name);
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
        // spec.subnet is canonical in both (the webhook refuses any other form): compared as text.
        const labels = { pool: pool.metadata.name as string, subnet: pool.metadata.labels?.[LABEL.ownerSubnet] ?? subnetByCidr.get(pool.spec.subnet) ?? "" };
        m.poolTotal.set(labels, counts.totalIPCount);
        m.poolAllocated.set(labels, counts.allocatedIPCount);
      } catch (e) {
        if (!(e instanceof AddressError)) throw e;
      }
    }
  }
}

