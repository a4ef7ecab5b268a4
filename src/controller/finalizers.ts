/**
 * pinpool's finalizer (RELEASE_FINALIZER) on pools and subnets: added to objects written
 * while the webhooks were off; on deletion, the object waits (condition and event) while
 * its addresses are in use, then the leader releases its ledger claims and removes the
 * finalizer. The only place claims are released for a deleted object.
 */
import type * as k8s from "@kubernetes/client-node";
import { RELEASE_FINALIZER, type SpiderIPPool, type SpiderSubnet } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import { PoolClient, SubnetClient } from "../k8s/resources.js";
import { LedgerFormatError } from "../reservation/ledger.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import { releasePoolClaims, releaseSubnetClaim } from "../reservation/release.js";
import { withCondition } from "./conditions.js";
import { recordEvent, unlessRaced } from "./effects.js";
import { DELETING_CONDITION, decidePoolDeletion } from "./pool-deletion.js";
import type { Snapshot } from "./snapshot.js";
import { decideSubnetDeletion } from "./subnet-deletion.js";

export interface FinalizerDeps {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  stores: LedgerStores;
  /** Records an action (metric and log line). */
  done(action: string, fields: object, message: string): void;
}

export class Finalizers {
  private readonly pools: PoolClient;
  private readonly subnets: SubnetClient;

  constructor(private readonly d: FinalizerDeps) {
    this.pools = new PoolClient(d.custom);
    this.subnets = new SubnetClient(d.custom);
  }

  /** A deleted pool: says what it waits for, or releases its ledger claims and its finalizer. */
  async settlePool(snapshotPool: SpiderIPPool): Promise<void> {
    if (decidePoolDeletion(snapshotPool).kind === "none") return;
    const name = snapshotPool.metadata.name as string;
    const pool = await this.pools.get(name);
    if (!pool) return;
    const step = decidePoolDeletion(pool);
    if (step.kind === "wait") {
      const conditions = withCondition(pool.status?.conditions, DELETING_CONDITION, "AddressesInUse", step.message, new Date());
      if (!conditions) return;
      if (await unlessRaced(this.pools.replaceStatus({ ...pool, status: { ...pool.status, conditions } }))) {
        await recordEvent(this.d.core, pool, { reason: "WaitingForPods", message: step.message, type: "Normal" });
      }
      return;
    }
    if (step.kind !== "release") return;
    if (step.spec) await releasePoolClaims(this.d.stores, name, step.spec);
    const finalizers = (pool.metadata.finalizers ?? []).filter((f) => f !== RELEASE_FINALIZER);
    if (await unlessRaced(this.pools.replace({ ...pool, metadata: { ...pool.metadata, finalizers } }))) {
      this.d.done("release_pool", { pool: name }, "released the deleted pool's addresses to its ledgers and removed its finalizer");
    }
  }

  /**
   * Pools and subnets written while the webhooks were off (break glass, a restore) lack
   * pinpool's finalizer: without it their claims would only be trimmed after the grace
   * period once they are gone, and a pool's deletion would not wait for its pods.
   */
  async ensure(o: SpiderIPPool | SpiderSubnet): Promise<void> {
    if (o.metadata.deletionTimestamp || o.metadata.finalizers?.includes(RELEASE_FINALIZER)) return;
    const metadata = { ...o.metadata, finalizers: [...(o.metadata.finalizers ?? []), RELEASE_FINALIZER] };
    const written = o.kind === "SpiderSubnet" ? this.subnets.replace({ ...o, metadata }) : this.pools.replace({ ...o, metadata });
    if (await unlessRaced(written)) this.d.done("add_finalizer", { [o.kind]: o.metadata.name }, `added the finalizer ${RELEASE_FINALIZER}`);
  }

  /** The pools `subnet`'s ledger lists; none when it does not parse (the ledger step reports that). */
  private claimedIn(subnet: SpiderSubnet): string[] {
    try {
      return [...this.d.stores.parsedSubnet(subnet).ledger.pools.keys()];
    } catch (e) {
      if (e instanceof AddressError || e instanceof LedgerFormatError) return [];
      throw e;
    }
  }

  /** A deleted subnet: says which pools it waits for, or releases its cluster-ledger claim and its finalizer. */
  async settleSubnet(snapshotSubnet: SpiderSubnet, s: Snapshot): Promise<void> {
    if (decideSubnetDeletion(snapshotSubnet, s.pools, []).kind === "none") return;
    const name = snapshotSubnet.metadata.name as string;
    const subnet = await this.subnets.get(name);
    if (!subnet) return;
    // Fresh pools and a fresh ledger: a pool admitted since the snapshot must keep the subnet.
    const step = decideSubnetDeletion(subnet, await this.pools.list(), this.claimedIn(subnet));
    if (step.kind === "wait") {
      const conditions = withCondition(subnet.status?.conditions, DELETING_CONDITION, "PoolsInSubnet", step.message, new Date());
      if (conditions && (await unlessRaced(this.subnets.replaceStatus({ ...subnet, status: { ...subnet.status, conditions } })))) {
        await recordEvent(this.d.core, subnet, { reason: "WaitingForPools", message: step.message, type: "Normal" });
      }
      return;
    }
    if (step.kind !== "release") return;
    await releaseSubnetClaim(this.d.stores, name);
    await this.d.stores.subnetParts.release(name, subnet.metadata.uid as string);
    const finalizers = (subnet.metadata.finalizers ?? []).filter((f) => f !== RELEASE_FINALIZER);
    if (await unlessRaced(this.subnets.replace({ ...subnet, metadata: { ...subnet.metadata, finalizers } }))) {
      this.d.done("release_subnet", { subnet: name }, "released the deleted subnet's claim in the cluster ledger, deleted its ledger and removed its finalizer");
    }
  }
}
