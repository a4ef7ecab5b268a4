/**
 * The agent's CNI DEL: releases what one interface of one sandbox holds (held.ts decides
 * which addresses), except a StatefulSet ordinal's while the set keeps it, and then drops
 * the interface from the pod's SpiderEndpoint, after the answer.
 */
import type * as k8s from "@kubernetes/client-node";
import { ordinalKept } from "../api/holders.js";
import type { SpiderIPPool } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import { orUndefined } from "../k8s/errors.js";
import type { AgentMetrics } from "../metrics/agent.js";
import type { AllocationWriter } from "../reservation/allocations.js";
import type { EndpointWriter } from "./endpoints.js";
import { type ReleasePlan, type ReleaseTarget, heldPools, planFromEndpoint, releasedBy } from "./held.js";
import { type PodFacts, asPlainPod, podFacts } from "./pod.js";
import type { CniRequest } from "./protocol.js";

export interface TeardownDeps {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  node: string;
  endpoints: EndpointWriter;
  allocations: AllocationWriter;
  /** The pod as the node's cache has it; undefined when not cached. */
  cachedPod(namespace: string, name: string): k8s.V1Pod | undefined;
  /** The pod from the cache, else from the API server (for sandbox pod UID `uid`). */
  readPod(namespace: string, name: string, uid?: string): Promise<k8s.V1Pod | undefined>;
  poolList(): Promise<readonly SpiderIPPool[]>;
  metrics?: AgentMetrics;
  log?: { error(o: object, m: string): void };
}

export class Teardown {
  constructor(private readonly d: TeardownDeps) {}

  async del(req: CniRequest): Promise<void> {
    const { namespace, name } = req.pod;
    await this.d.endpoints.settled(namespace, name); // the endpoint a pending ADD write is recording
    // From what this agent stored while the pod (per the node's cache) is the one it stored it for.
    const endpoint = await this.d.endpoints.lookup(namespace, name, this.d.cachedPod(namespace, name)?.metadata?.uid);
    const current = endpoint?.status?.current;
    // A newer sandbox of the same pod owns the addresses now: this DEL is for an old one.
    if (current?.containerID && current.containerID !== req.containerID) return;
    const plan = endpoint && current ? planFromEndpoint(endpoint, namespace, name, req.ifName) : await this.planFromRecords(req);
    if (!plan) return;
    if (plan.statefulSet && (await this.ordinalKept(namespace, plan.statefulSet.name, plan.statefulSet.ordinal))) return;
    for (const target of plan.targets) await this.releaseIn(target, plan.holder, req);
    if (!endpoint) return;
    this.d.endpoints.forget(namespace, name, req.containerID, req.ifName, endpoint); // after the answer, like the ADD's write
  }

  /** Fresh reads for the shared ordinal rule (api/holders.ts#ordinalKept). */
  private async ordinalKept(namespace: string, sts: string, ordinal: number): Promise<boolean> {
    const set = await orUndefined(this.d.apps.readNamespacedStatefulSet({ namespace, name: sts }));
    if (!ordinalKept(set, false, ordinal)) return false;
    const ns = await orUndefined(this.d.core.readNamespace({ name: namespace }));
    return ordinalKept(set, !!ns?.metadata?.deletionTimestamp, ordinal);
  }

  /**
   * No endpoint: never written (a crash after the claim) or already deleted (a namespace
   * deletion removes endpoints before the pods' DEL). The pod still exists while its
   * sandbox is torn down: release what the pools' records say it holds (held.ts).
   */
  private async planFromRecords(req: CniRequest): Promise<ReleasePlan | undefined> {
    const { namespace, name, uid } = req.pod;
    const pod = await this.d.readPod(namespace, name, uid);
    if (!pod) return undefined; // nothing recorded and no pod: DEL is idempotent
    // A newer pod of the same name holds the key now (it may be running elsewhere): this
    // sandbox's pod is gone, and what it left the controller releases after its grace period.
    if (uid && pod.metadata?.uid !== uid) return undefined;
    const facts = await this.ownFacts(podFacts(pod, this.d.node));
    const report = (pool: string, e: AddressError): void =>
      this.d.log?.error({ pool, err: e.message }, `DEL of ${namespace}/${name}: SpiderIPPool "${pool}" has an entry that names no holder, read as no pod's; releasing in that pool fails until it is fixed: ${e.message}`);
    const targets = heldPools(await this.d.poolList(), facts.holder, req.ifName, report);
    return { holder: facts.holder, ...(facts.statefulSet ? { statefulSet: facts.statefulSet } : {}), targets };
  }

  /**
   * `facts`, but a plain pod's when the StatefulSet its ownerReference names exists with
   * another UID (pod.ts#asPlainPod): that set's ordinal is another pod's. A set that is gone
   * keeps no ordinal, so its ordinal's address goes as it always did (ordinalKept).
   */
  private async ownFacts(facts: PodFacts): Promise<PodFacts> {
    if (!facts.statefulSet) return facts;
    const set = await orUndefined(this.d.apps.readNamespacedStatefulSet({ namespace: facts.namespace, name: facts.statefulSet.name }));
    return set && set.metadata?.uid !== facts.controller?.uid ? asPlainPod(facts) : facts;
  }

  /** Releases in one pool what `holder` holds for the DEL's interface and sandbox. */
  private async releaseIn(target: ReleaseTarget, holder: string, req: CniRequest): Promise<void> {
    try {
      if (await this.d.allocations.release(target.pool, holder, releasedBy(req.ifName, req.containerID, target))) this.d.metrics?.releases.inc();
    } catch (e) {
      // A pool whose spec or record cannot be read (written with the webhooks off) must
      // not fail the DEL for ever: the runtime could never tear the sandbox down. Its
      // Conflict/ledger sweep shows it; the other pools are released.
      if (!(e instanceof AddressError)) throw e;
      this.d.log?.error({ pool: target.pool, holder, err: e.message }, `DEL of ${req.pod.namespace}/${req.pod.name} leaves SpiderIPPool "${target.pool}" as it is: ${e.message}`);
    }
  }
}
