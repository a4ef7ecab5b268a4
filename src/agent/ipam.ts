/**
 * The agent's IPAM: CNI ADD/DEL/CHECK/STATUS/GC against the API server. An ADD makes one
 * API call: the claim, a compare-and-swap on the pool's status that starts from the watch
 * caches (src/agent/caches.ts: the node's pods, every pool and reserved IP); a pool that
 * asks about the pod's workload, namespace or node adds a cached read (affinity-facts.ts).
 * Claims on one pool are batched by group commit (one compare-and-swap writes many
 * claims), so a burst of ADDs on one node never races itself and costs a few writes, not
 * one per pod. The SpiderEndpoint is written after the answer (src/agent/endpoints.ts).
 */
import * as k8s from "@kubernetes/client-node";
import { ANNOTATION, AnnotationError } from "../api/annotations.js";
import { holderKey, ordinalKept, statefulSetMember } from "../api/holders.js";
import { type EndpointIP, GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, VERSION } from "../api/types.js";
import { AddressError, type Family, formatAddress } from "../ip/address.js";
import { parseCidr } from "../ip/cidr.js";
import type { RangeSet } from "../ip/range-set.js";
import { DEFAULT_CAS } from "../k8s/cas.js";
import { orUndefined } from "../k8s/errors.js";
import { conflictLabel } from "../metrics/cas.js";
import type { AgentMetrics } from "../metrics/agent.js";
import { AllocationWriter } from "../reservation/allocations.js";
import { ReservedIPs } from "../reservation/reserved-ips.js";
import { SharedAddresses } from "../reservation/shared-addresses.js";
import { PoolClient } from "../k8s/resources.js";
import { type PoolSubject, missingFacts } from "../api/pool-affinity.js";
import { AffinityFacts } from "./affinity-facts.js";
import type { NodeCaches } from "./caches.js";
import { candidatePools } from "./candidates.js";
import { type ClaimDecision, type Unclaimed, claimFailure, decideClaim } from "./claim.js";
import { type Claimed, EndpointWriter, endpointIP } from "./endpoints.js";
import { heldPools } from "./held.js";
import { type PodFacts, podFacts } from "./pod.js";
import { CNI_CODE, CniError, type CniRequest, type CniResult } from "./protocol.js";

export interface IpamDeps {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  node: string;
  metrics?: AgentMetrics;
  /** Watch caches; without them every read goes to the API server. */
  caches?: NodeCaches;
  log?: { error(o: object, m: string): void };
  /** See EndpointWriterOptions.delayMs (tests only). */
  endpointDelayMs?: number;
}

export class Ipam {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly node: string;
  private readonly metrics?: AgentMetrics;
  private readonly caches?: NodeCaches;
  private readonly allocations: AllocationWriter;
  private readonly reservedIPs: ReservedIPs;
  private readonly shared: SharedAddresses;
  private readonly affinity: AffinityFacts;
  private readonly log: IpamDeps["log"];
  readonly endpoints: EndpointWriter;

  constructor(d: IpamDeps) {
    ({ core: this.core, apps: this.apps, custom: this.custom, node: this.node } = d);
    if (d.metrics) this.metrics = d.metrics;
    if (d.caches) this.caches = d.caches;
    const caches = d.caches;
    this.allocations = new AllocationWriter(d.custom, { ...DEFAULT_CAS, onConflict: (what) => this.metrics?.casConflicts.inc({ object: conflictLabel(what) }) }, caches && ((name) => caches.pool(name)));
    this.reservedIPs = new ReservedIPs(d.custom);
    const pools = new PoolClient(d.custom);
    this.shared = caches
      ? new SharedAddresses({ list: async () => [...(caches.allPools() ?? (await pools.list()))] }, undefined, () => caches.poolSpecRevision())
      : new SharedAddresses(pools);
    this.affinity = new AffinityFacts(d.core, d.apps, d.node);
    this.log = d.log;
    this.endpoints = new EndpointWriter(d.custom, { ...(d.log ? { log: d.log } : {}), ...(d.endpointDelayMs ? { delayMs: d.endpointDelayMs } : {}) });
  }

  /** The pod from the node's cache; a pod not in it yet (or on another node) is read once. */
  private async readPod(namespace: string, name: string, uid?: string): Promise<k8s.V1Pod | undefined> {
    const cached = this.caches?.pod(namespace, name);
    // A cached pod with another UID may be an old copy of a recreated pod: ask the API server.
    if (cached && (!uid || cached.metadata?.uid === uid)) return cached;
    return orUndefined(this.core.readNamespacedPod({ namespace, name }));
  }

  private readEndpoint(namespace: string, name: string): Promise<SpiderEndpoint | undefined> {
    return this.endpoints.read(namespace, name);
  }

  private async reserved(family: Family): Promise<RangeSet> {
    return (this.caches?.reserved() ?? (await this.reservedIPs.read()).sets)[family];
  }

  /** Every pool, from the cache when it follows the API server. */
  private async poolList(): Promise<readonly SpiderIPPool[]> {
    const cached = this.caches?.allPools();
    if (cached) return cached;
    return ((await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool })) as { items: SpiderIPPool[] }).items;
  }

  private async candidates(facts: PodFacts, req: CniRequest): Promise<{ source: string; 4: string[]; 6: string[] }> {
    const a = facts.annotations;
    const fromPod = a[ANNOTATION.reserved] ?? a[ANNOTATION.ippools] ?? a[ANNOTATION.ippool];
    const namespaceAnnotations = fromPod ? {} : ((await this.affinity.freshNamespace(facts.namespace)).metadata?.annotations ?? {});
    const ipam = (req.config as { ipam?: { default_ipv4_ippool?: string[]; default_ipv6_ippool?: string[] } }).ipam ?? {};
    const netconfDefaults = { ipv4: ipam.default_ipv4_ippool ?? [], ipv6: ipam.default_ipv6_ippool ?? [] };
    const needDefaults = !fromPod && !Object.keys(namespaceAnnotations).some((k) => k.startsWith("ipam.spidernet.io/default-ipv")) && !netconfDefaults.ipv4.length && !netconfDefaults.ipv6.length;
    const defaultPools = { ipv4: [] as string[], ipv6: [] as string[] };
    if (needDefaults) {
      for (const p of (await this.poolList()).filter((p) => p.spec.default)) defaultPools[parseCidr(p.spec.subnet).family === 4 ? "ipv4" : "ipv6"].push(p.metadata.name as string);
    }
    try {
      const c = candidatePools({ ifName: req.ifName, podAnnotations: a, namespaceAnnotations, netconfDefaults, defaultPools });
      return { source: c.source, 4: c.ipv4, 6: c.ipv6 };
    } catch (e) {
      if (e instanceof AnnotationError) throw new CniError(CNI_CODE.badAnnotation, `pod ${facts.namespace}/${facts.name} has a malformed pool annotation`, e.message);
      throw e;
    }
  }

  /** Claims an address of `family` from the first candidate pool that serves the pod (`subject`). */
  private async claimFrom(names: string[], family: Family, facts: PodFacts, subject: PoolSubject, source: string): Promise<Claimed> {
    const reserved = await this.reserved(family);
    const u: Unclaimed = { refusals: [] };
    const claimant = { holder: facts.holder, subject };
    for (const name of names) {
      // Never hand out an address another pool holds too (a conflict made with the webhooks off).
      const shared = await this.shared.of(name, family);
      const unavailable = shared.addresses.isEmpty ? reserved : reserved.union(shared.addresses);
      // "held" is written back unchanged: the compare-and-swap proves the (cached) copy that
      // says so is current, so a stale cache never hands a released address to its old holder.
      const decide = () =>
        this.allocations.submit<ClaimDecision & { write?: SpiderIPPool }>(name, (pool) => {
          const decided = decideClaim(pool, name, family, claimant, unavailable);
          return decided.kind === "held" ? { ...decided, write: decided.pool } : decided;
        });
      // What the pool as cached asks about the pod is looked up first, so the claim is
      // decided once. A pool that asks for more as decided (its spec just changed, or no
      // cache) is decided again; each round looks up at least one more of three facts.
      const cached = this.caches?.pool(name);
      if (cached) await this.affinity.complete(subject, facts, missingFacts(cached, subject));
      let d = await decide();
      while (d.kind === "needs") {
        await this.affinity.complete(subject, facts, d.facts);
        d = await decide();
      }
      if (d.kind === "claimed") this.metrics?.allocations.inc({ family: `IPv${family}` });
      if (d.kind === "held" || d.kind === "claimed") return { family, pool: d.pool, address: d.address };
      if (d.kind === "exhausted" && !shared.addresses.isEmpty) u.conflict ??= { name, shared };
      else if (d.kind === "exhausted") u.exhausted ??= { name, size: d.size, holders: d.holders };
      else u.refusals.push(d.reason);
    }
    throw claimFailure(u, family, `${facts.namespace}/${facts.name}`, source);
  }

  async add(req: CniRequest): Promise<CniResult> {
    const { namespace, name, uid } = req.pod;
    const pod = await this.readPod(namespace, name, uid);
    if (!pod) throw new CniError(CNI_CODE.unknownContainer, `pod ${namespace}/${name} does not exist`, "it may have been deleted while its sandbox was being created; nothing was allocated");
    if (uid && pod.metadata?.uid !== uid) {
      throw new CniError(CNI_CODE.unknownContainer, `pod ${namespace}/${name} was recreated`, `the sandbox is for UID ${uid}, the pod now has ${pod.metadata?.uid}; nothing was allocated`);
    }
    const facts = podFacts(pod, this.node);
    const candidates = await this.candidates(facts, req);
    const families = ([4, 6] as const).filter((f) => candidates[f].length > 0);
    if (families.length === 0) {
      throw new CniError(CNI_CODE.noPool, `no pool for pod ${namespace}/${name} on ${req.ifName}`, `${candidates.source} name none; annotate the workload (ipam.spidernet.io/subnet or ippool) or mark a pool spec.default`);
    }
    // What pools may ask about the pod beyond itself is looked up only when one asks.
    const subject: PoolSubject = { namespace, pod: name, node: this.node, interface: req.ifName, podLabels: facts.labels };
    const claimed: Claimed[] = [];
    for (const f of families) claimed.push(await this.claimFrom(candidates[f], f, facts, subject, candidates.source));
    // After the answer: the claim is the record; the controller restores a lost endpoint.
    this.endpoints.record({
      namespace,
      name,
      uid: facts.uid,
      node: facts.node,
      containerID: req.containerID,
      ip: endpointIP(req.ifName, claimed),
      ...(facts.statefulSet ? { statefulSet: facts.statefulSet } : {}),
    });
    return {
      ips: claimed.map((c) => ({
        address: `${formatAddress(c.family, c.address)}/${parseCidr(c.pool.spec.subnet).prefix}`,
        ...(c.pool.spec.gateway ? { gateway: c.pool.spec.gateway } : {}),
      })),
      routes: claimed.flatMap((c) => c.pool.spec.routes ?? []),
    };
  }

  /** Fresh reads for the shared ordinal rule (api/holders.ts#ordinalKept). */
  private async ordinalKept(namespace: string, sts: string, ordinal: number): Promise<boolean> {
    const set = await orUndefined(this.apps.readNamespacedStatefulSet({ namespace, name: sts }));
    if (!ordinalKept(set, false, ordinal)) return false;
    const ns = await orUndefined(this.core.readNamespace({ name: namespace }));
    return ordinalKept(set, !!ns?.metadata?.deletionTimestamp, ordinal);
  }

  async del(req: CniRequest): Promise<void> {
    const { namespace, name } = req.pod;
    await this.endpoints.settled(namespace, name); // the endpoint a pending ADD write is recording
    // From what this agent stored while the pod (per the node's cache) is the one it stored it for.
    const endpoint = await this.endpoints.lookup(namespace, name, this.caches?.pod(namespace, name)?.metadata?.uid);
    const current = endpoint?.status?.current;
    // A newer sandbox of the same pod owns the addresses now: this DEL is for an old one.
    if (current?.containerID && current.containerID !== req.containerID) return;
    let holder: string;
    let pools: string[];
    let sts: { name: string; ordinal: number } | undefined;
    const poolsOf = (ips: EndpointIP[]): string[] => ips.flatMap((i) => [i.ipv4Pool, i.ipv6Pool]).filter((p): p is string => !!p);
    // Only this interface's addresses go: a DEL for net1 leaves eth0's (and a pool eth0 also uses).
    const others = current?.ips.filter((i) => i.interface !== req.ifName) ?? [];
    if (endpoint && current) {
      const setName = endpoint.status?.ownerControllerType === "StatefulSet" ? endpoint.status.ownerControllerName : undefined;
      sts = setName ? statefulSetMember(setName, name) : undefined;
      holder = holderKey(namespace, name, sts);
      const stillUsed = new Set(poolsOf(others));
      pools = poolsOf(current.ips.filter((i) => i.interface === req.ifName)).filter((p) => !stillUsed.has(p));
    } else {
      // No endpoint: never written (a crash after the claim) or already deleted (a namespace
      // deletion removes endpoints before the pods' DEL). The pod still exists while its
      // sandbox is torn down: release what the pools' records say it holds, not its annotations (held.ts).
      const pod = await this.readPod(namespace, name, req.pod.uid);
      if (!pod) return; // nothing recorded and no pod: DEL is idempotent
      // A newer pod of the same name holds the key now (it may be running elsewhere): this
      // sandbox's pod is gone, and what it left the controller releases after its grace period.
      if (req.pod.uid && pod.metadata?.uid !== req.pod.uid) return;
      const facts = podFacts(pod, this.node);
      sts = facts.statefulSet;
      holder = facts.holder;
      pools = heldPools(await this.poolList(), holder, req.ifName);
    }
    if (sts && (await this.ordinalKept(namespace, sts.name, sts.ordinal))) return;
    for (const pool of pools) {
      try {
        if (await this.allocations.release(pool, holder)) this.metrics?.releases.inc();
      } catch (e) {
        // A pool whose spec or record cannot be read (written with the webhooks off) must
        // not fail the DEL for ever: the runtime could never tear the sandbox down. Its
        // Conflict/ledger sweep shows it; the other pools are released.
        if (!(e instanceof AddressError)) throw e;
        this.log?.error({ pool, holder, err: e.message }, `DEL of ${namespace}/${name} leaves SpiderIPPool "${pool}" as it is: ${e.message}`);
      }
    }
    if (!endpoint) return;
    this.endpoints.forget(namespace, name, req.containerID, req.ifName, endpoint); // after the answer, like the ADD's write
  }

  async check(req: CniRequest): Promise<void> {
    const { namespace, name } = req.pod;
    await this.endpoints.settled(namespace, name);
    const current = (await this.readEndpoint(namespace, name))?.status?.current;
    if (!current || current.containerID !== req.containerID || !current.ips.some((i) => i.interface === req.ifName)) {
      throw new CniError(CNI_CODE.unknownContainer, `pinpool has no addresses for pod ${namespace}/${name} on ${req.ifName} in sandbox ${req.containerID}`);
    }
  }

  /** STATUS: ready when the API server answers. */
  async status(): Promise<void> {
    await this.core.getAPIResources();
  }
}
