/**
 * The effects of auto-pool decisions (auto-pools.ts): adopt, resize, release once unused
 * for the grace period, and reserve again a pool a live workload names but that is gone.
 */
import type * as k8s from "@kubernetes/client-node";
import { parsedOrUndefined } from "../api/address-spec.js";
import { holderGone } from "../api/holders.js";
import { LABEL } from "../api/labels.js";
import type { WorkloadObject, WorkloadRef } from "../api/names.js";
import { GROUP, PLURAL, type SpiderIPPool, VERSION } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { orUndefined } from "../k8s/errors.js";
import { PoolClient, readWorkload } from "../k8s/resources.js";
import { autoPoolOwner } from "../api/auto-pool-owner.js";
import { type ReserveDeps, reserve } from "../reservation/reserve.js";
import { ADOPTED_ANNOTATION, decideAutoPool, missingPools } from "./auto-pools.js";
import { unlessRaced } from "./effects.js";
import type { Sightings } from "./grace.js";
import type { Snapshot } from "./snapshot.js";
import type { Subject } from "./sweep-scope.js";

export interface AutoPoolDeps extends ReserveDeps {
  apps: k8s.AppsV1Api;
  graceMs: number;
  sightings: Sightings;
  /** Records an action (metric and log line). */
  done(action: string, fields: object, message: string): void;
  /** Names a subject for the next sweep again. */
  later(subject: Subject): void;
}

export class AutoPoolReconciler {
  private readonly pools: PoolClient;

  constructor(private readonly d: AutoPoolDeps) {
    this.pools = new PoolClient(d.custom);
  }

  async reconcile(pool: SpiderIPPool, s: Snapshot, now: number): Promise<void> {
    const owner = autoPoolOwner(pool);
    if (!owner) return;
    const key = `${owner.namespace}/${owner.name}`;
    const workload = owner.kind === "Deployment" ? s.deployments.get(key) : s.statefulSets.get(key);
    const action = decideAutoPool(pool, owner, workload, now, this.d.graceMs);
    const name = pool.metadata.name as string;
    if (action.kind === "none" && action.recheck) this.d.later(`pool:${name}`);
    switch (action.kind) {
      case "adopt": {
        const metadata = {
          ...pool.metadata,
          annotations: { ...pool.metadata.annotations, [ADOPTED_ANNOTATION]: action.uid },
          labels: {
            ...pool.metadata.labels,
            [LABEL.reclaim]: String(action.reclaim),
            ...(pool.metadata.labels?.[LABEL.ownerUID] !== undefined ? { [LABEL.ownerUID]: action.uid } : {}),
          },
          // Older versions wrote an ownerReference the garbage collector refuses (cluster-scoped → namespaced).
          ownerReferences: (pool.metadata.ownerReferences ?? []).filter((o) => o.apiVersion !== "apps/v1"),
        };
        if (await unlessRaced(this.pools.replace({ ...pool, metadata }))) this.d.done("adopt_pool", { pool: name, workload: key }, `adopted by ${owner.kind} ${key} (reclaim ${action.reclaim})`);
        return;
      }
      case "resize": {
        // A shrink frees addresses another pool may take at once: decided again on the workload
        // as the API server has it now (the cache may not show a scale-up the webhook grew the pool for).
        const fresh = await orUndefined(readWorkload(this.d.apps, owner));
        const again = decideAutoPool(pool, owner, fresh, now, this.d.graceMs);
        if (again.kind !== "resize") return;
        // This pool only: the workload's other pools are items of this step too.
        const verdict = await reserve({ ...again.plan, pools: again.plan.pools.filter((p) => p.name === name) }, this.d, false, { shrink: true });
        if (!verdict.allowed) throw new Error(`resizing SpiderIPPool "${name}" from ${again.from} to ${again.to} addresses failed: ${verdict.message}`);
        this.d.done("resize_pool", { pool: name, from: String(again.from), to: again.to }, `resized for ${owner.kind} ${key}`);
        return;
      }
      case "release": {
        // Never while a pod still holds one of its addresses (a StatefulSet deleted with
        // --cascade=orphan keeps its pods, and comes back for them), and only once that has
        // lasted the grace period; then re-checked against the workload as it is now.
        if (this.holdersLive(pool, s) || !this.d.sightings.missing(`pool:${name}`, `release/${name}/${pool.metadata.uid}`, now)) return;
        const fresh = await orUndefined(readWorkload(this.d.apps, owner));
        if (decideAutoPool(pool, owner, fresh, now, this.d.graceMs).kind !== "release") return;
        const body: k8s.V1DeleteOptions = { preconditions: { uid: pool.metadata.uid, resourceVersion: pool.metadata.resourceVersion } };
        if (await unlessRaced(this.d.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name, body }))) {
          this.d.done("delete_pool", { pool: name }, action.reason);
        }
        return;
      }
      default:
    }
  }

  /** Whether a pod (or a StatefulSet ordinal) the snapshot shows still holds one of the pool's addresses. */
  private holdersLive(pool: SpiderIPPool, s: Snapshot): boolean {
    const spec = parsedOrUndefined(pool.spec);
    if (!spec || !pool.status?.allocations?.holders.length) return false;
    return [...AllocationRecord.decode(spec.family, pool.status.allocations).holders()].some((h) => !holderGone(h, s));
  }

  /**
   * A workload whose annotations name a pool that does not exist (it was deleted, say,
   * while the workload was re-created) gets it reserved again, so its pods, waiting in
   * ContainerCreating, get addresses at their next try.
   */
  async reserveMissingPools(workload: WorkloadObject, kind: WorkloadRef["kind"], s: Snapshot): Promise<void> {
    const ref = { kind, namespace: workload.metadata?.namespace as string, name: workload.metadata?.name as string };
    if (missingPools(workload, kind, s).missing.length === 0) return;
    // Decided again on the workload as stored now: the cache may still show one just deleted.
    const fresh = await orUndefined(readWorkload(this.d.apps, ref));
    const { plan, missing } = fresh ? missingPools(fresh, kind, s) : { missing: [] };
    if (!plan || missing.length === 0) return;
    const verdict = await reserve(plan, this.d, false, { shrink: true });
    if (!verdict.allowed) throw new Error(`reserving ${missing.join(", ")} again for ${kind} ${ref.namespace}/${ref.name} failed: ${verdict.message}`);
    this.d.done("reserve_missing_pool", { pools: missing.join(","), workload: `${ref.namespace}/${ref.name}` }, `reserved again for ${kind} ${ref.namespace}/${ref.name}`);
  }
}
