/**
 * Addresses and endpoints of holders that are gone: a pool's addresses whose pod (or
 * StatefulSet ordinal) has been gone for the grace period are released; a SpiderEndpoint
 * whose pod is gone is deleted; one a live pod lacks is restored from the pools' records.
 * Judged on the sweep's snapshot, then re-checked with fresh reads right before acting.
 */
import type * as k8s from "@kubernetes/client-node";
import { parseAddressSpec } from "../api/address-spec.js";
import { type HolderView, holderGone, holderKey, parseHolder, statefulSetMember } from "../api/holders.js";
import { GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, VERSION } from "../api/types.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { orUndefined } from "../k8s/errors.js";
import type { AllocationWriter } from "../reservation/allocations.js";
import { unlessRaced } from "./effects.js";
import type { Sightings } from "./grace.js";
import type { Snapshot } from "./snapshot.js";

export interface HolderReconcilerDeps {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  allocations: AllocationWriter;
  sightings: Sightings;
  /** Records an action (metric and log line). */
  done(action: string, fields: object, message: string): void;
}

export class HolderReconciler {
  constructor(private readonly d: HolderReconcilerDeps) {}

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
  async releaseGoneHolders(pool: SpiderIPPool, s: Snapshot, now: number): Promise<void> {
    if (!pool.status?.allocations?.holders.length) return;
    const name = pool.metadata.name as string;
    const record = AllocationRecord.decode(parseAddressSpec(pool.spec).family, pool.status.allocations, `SpiderIPPool "${name}" status.allocations`);
    // One holder's failure is reported after the others were judged: their clocks run on.
    let failure: unknown;
    for (const holder of new Set(record.holders())) {
      if (!holderGone(holder, s) || !this.d.sightings.missing(`pool:${name}`, `holder/${name}/${holder}`, now)) continue;
      try {
        const why = holderGone(holder, await this.freshView(holder));
        if (why && (await this.d.allocations.release(name, holder))) this.d.done("release_allocation", { pool: name, holder }, `released the addresses of "${holder}": ${why}`);
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(`releasing a holder's addresses in SpiderIPPool "${name}" failed`, { cause: failure });
  }

  /** Deletes a SpiderEndpoint whose pod is gone and whose addresses no holder keeps. */
  async collectEndpoint(ep: SpiderEndpoint, s: Snapshot, now: number): Promise<void> {
    const { namespace, name } = ep.metadata as { namespace: string; name: string };
    if (s.pods.has(`${namespace}/${name}`)) return;
    const setName = ep.status?.ownerControllerType === "StatefulSet" ? ep.status.ownerControllerName : undefined;
    const holder = holderKey(namespace, name, setName ? statefulSetMember(setName, name) : undefined);
    if (!holderGone(holder, s) || !this.d.sightings.missing(`endpoint:${namespace}/${name}`, `endpoint/${namespace}/${name}`, now)) return;
    if (!holderGone(holder, await this.freshView(holder))) return;
    const body: k8s.V1DeleteOptions = { preconditions: { uid: ep.metadata.uid } };
    if (await unlessRaced(this.d.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, name, body }))) {
      this.d.done("delete_endpoint", { endpoint: `${namespace}/${name}` }, "deleted the SpiderEndpoint of a pod that is gone");
    }
  }

  /**
   * Recreates the SpiderEndpoint of a pod that holds addresses but has none (its agent died
   * between the claim and the endpoint write), once it has been missing for the grace
   * period: the agent writes it a moment after the claim, and a create that loses to it
   * (409 AlreadyExists) changes nothing.
   */
  async restoreEndpoint(ep: SpiderEndpoint, now: number): Promise<void> {
    const { namespace, name } = ep.metadata as { namespace: string; name: string };
    if (!this.d.sightings.missing(`pod:${namespace}/${name}`, `endpoint-missing/${namespace}/${name}`, now)) return;
    if (await unlessRaced(this.d.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, body: ep }))) {
      this.d.done("restore_endpoint", { endpoint: `${namespace}/${name}` }, "recreated the SpiderEndpoint of a pod that holds addresses from the pools' records");
    }
  }
}
