/**
 * The agent's IPAM: CNI ADD/DEL/CHECK/STATUS/GC against the API server (DEL: teardown.ts).
 * An ADD makes one API call: the claim, a compare-and-swap on the pool's status that starts
 * from the watch caches (src/agent/caches.ts: the node's pods, every pool and reserved IP); a pool that
 * asks about the pod's workload, namespace or node adds a cached read (affinity-facts.ts).
 * Claims on one pool are batched by group commit (one compare-and-swap writes many
 * claims), so a burst of ADDs on one node never races itself and costs a few writes, not
 * one per pod. The SpiderEndpoint is written after the answer (src/agent/endpoints.ts).
 */
import * as k8s from "@kubernetes/client-node";
import { ANNOTATION, AnnotationError } from "../api/annotations.js";
import { GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, VERSION } from "../api/types.js";
import { type Family, formatAddress } from "../ip/address.js";
import { sandboxDigest } from "../ip/allocation-status.js";
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
import { type ClaimDecision, type Claimant, type Unclaimed, claimFailure, decideClaim } from "./claim.js";
import { type Claimed, EndpointWriter, endpointIP } from "./endpoints.js";
import { type PodFacts, podFacts } from "./pod.js";
import { ReleaseWait } from "./release-wait.js";
import { Teardown } from "./teardown.js";
import { CNI_CODE, CniError, type CniRequest, type CniResult } from "./protocol.js";

/** Under the plugin's 90 s deadline for the agent's answer (src/cni/main.go) and the kubelet's 2 min for the sandbox. */
export const DEFAULT_ADD_WAIT_MS = 60_000;

export interface IpamDeps {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  node: string;
  metrics?: AgentMetrics;
  /** Watch caches; without them every read goes to the API server. */
  caches?: NodeCaches;
  log?: { error(o: object, m: string): void; info?(o: object, m: string): void };
  /** How long an ADD on full pools waits for an address a deleted pod releases (release-wait.ts); 0: fail at once. */
  addWaitMs?: number;
  /** See EndpointWriterOptions.delayMs (tests only). */
  endpointDelayMs?: number;
}

export class Ipam {
  private readonly core: k8s.CoreV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly node: string;
  private readonly metrics?: AgentMetrics;
  private readonly caches?: NodeCaches;
  private readonly allocations: AllocationWriter;
  private readonly reservedIPs: ReservedIPs;
  private readonly shared: SharedAddresses;
  private readonly affinity: AffinityFacts;
  private readonly teardown: Teardown;
  private readonly waits: ReleaseWait;
  private readonly log?: IpamDeps["log"];
  readonly endpoints: EndpointWriter;

  constructor(d: IpamDeps) {
    ({ core: this.core, custom: this.custom, node: this.node } = d);
    if (d.metrics) this.metrics = d.metrics;
    if (d.caches) this.caches = d.caches;
    if (d.log) this.log = d.log;
    const caches = d.caches;
    this.allocations = new AllocationWriter(d.custom, { ...DEFAULT_CAS, onConflict: (what) => this.metrics?.casConflicts.inc({ object: conflictLabel(what) }) }, caches && ((name) => caches.pool(name)));
    this.reservedIPs = new ReservedIPs(d.custom);
    const pools = new PoolClient(d.custom);
    this.waits = new ReleaseWait({
      readPod: (namespace, name) => this.readPod(namespace, name),
      poolVersion: async (name) => (caches?.pool(name) ?? (caches?.allPools() ? undefined : await pools.get(name)))?.metadata.resourceVersion,
      waitMs: d.addWaitMs ?? DEFAULT_ADD_WAIT_MS,
    });
    this.shared = caches
      ? new SharedAddresses({ list: async () => [...(caches.allPools() ?? (await pools.list()))] }, undefined, () => caches.poolSpecRevision())
      : new SharedAddresses(pools);
    this.affinity = new AffinityFacts(d.core, d.apps, d.node);
    this.endpoints = new EndpointWriter(d.custom, { ...(d.log ? { log: d.log } : {}), ...(d.endpointDelayMs ? { delayMs: d.endpointDelayMs } : {}) });
    this.teardown = new Teardown({
      ...d,
      endpoints: this.endpoints,
      allocations: this.allocations,
      cachedPod: (namespace, name) => caches?.pod(namespace, name),
      readPod: (namespace, name, uid) => this.readPod(namespace, name, uid),
      poolList: () => this.poolList(),
    });
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
    const namespaceAnnotations = fromPod ? {} : ((await this.affinity.namespace(facts.namespace)).metadata?.annotations ?? {});
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

  /**
   * Claims an address of `family` from the first candidate pool that serves `claimant`.
   * When every candidate is full but an address of theirs is about to come free, waits for
   * it until `until` (the request's one bound, release-wait.ts) instead of failing; the
   * pod is looked at again each time, so a pod deleted meanwhile stops waiting.
   */
  private async claimFrom(names: string[], family: Family, facts: PodFacts, claimant: Claimant, { source, pod, until }: { source: string; pod: k8s.V1Pod; until: number }): Promise<Claimed> {
    const started = this.waits.now();
    const who = `${facts.namespace}/${facts.name}`;
    const waiter = this.waits.waiter(pod);
    let waitingFor: string | undefined;
    for (;;) {
      const tried = await this.claimOnce(names, family, facts, claimant);
      if ("address" in tried) {
        if (waitingFor) this.log?.info?.({ pod: who, waitedMs: this.waits.now() - started }, `got ${formatAddress(family, tried.address)} after waiting for a full pool`);
        return tried;
      }
      const coming = tried.full.length > 0 && this.waits.now() < until ? await waiter.releaseComing(tried.full) : undefined;
      if (!coming) throw claimFailure(tried, family, who, source);
      if (coming !== waitingFor) this.log?.info?.({ pod: who, pools: tried.full.map((p) => p.metadata.name), releasing: coming }, `every IPv${family} pool is full; waiting up to ${Math.round((until - this.waits.now()) / 1000)} s for the address ${coming} releases (being deleted, or of an older revision)`);
      waitingFor = coming;
      const alive = async (): Promise<boolean> => {
        const now = await this.readPod(facts.namespace, facts.name, facts.uid);
        return !!now && now.metadata?.uid === facts.uid && !now.metadata?.deletionTimestamp;
      };
      const versions = tried.full.map((p) => ({ name: p.metadata.name as string, ...(p.metadata.resourceVersion ? { version: p.metadata.resourceVersion } : {}) }));
      if ((await this.waits.changed(versions, until, alive)) === "gone") {
        throw new CniError(CNI_CODE.unknownContainer, `pod ${who} was deleted while it waited for an address`, "nothing was allocated");
      }
    }
  }

  /** One pass over the candidate pools: the address claimed, or why none was. */
  private async claimOnce(names: string[], family: Family, facts: PodFacts, claimant: Claimant): Promise<Claimed | (Unclaimed & { full: SpiderIPPool[] })> {
    const reserved = await this.reserved(family);
    // `full`: every candidate that was full (no shared addresses), as read, for a wait.
    const u: Unclaimed & { full: SpiderIPPool[] } = { refusals: [], full: [] };
    const subject = claimant.subject;
    for (const name of names) {
      // Never hand out an address another pool holds too (a conflict made with the webhooks off).
      const shared = await this.shared.of(name, family);
      const unavailable = shared.addresses.isEmpty ? reserved : reserved.union(shared.addresses);
      // "held" is written back (unchanged, or re-stamped for a new sandbox): the compare-and-swap
      // proves the (cached) copy that says so is current, so a stale cache never hands a
      // released address to its old holder.
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
      else if (d.kind === "exhausted") {
        u.exhausted ??= { name, size: d.size, holders: d.holders };
        u.full.push(d.pool);
      } else u.refusals.push(d.reason);
    }
    return u;
  }

  /**
   * `facts` once the StatefulSet its ownerReference names is the one the API server has. A
   * pod whose set is gone or another (deleted with --cascade=orphan, before the garbage
   * collector drops the reference) is told to come back: as a plain pod it would take a new
   * address under its name that nothing releases while a pod of that name lives, and lose
   * its ordinal's. Once its reference is dropped (or a new set adopts it) it is decided anew.
   */
  private async ownFacts(facts: PodFacts): Promise<PodFacts> {
    const set = facts.statefulSet;
    const uid = facts.controller?.uid ?? "";
    if (!set || (await this.affinity.statefulSetIs(facts.namespace, set.name, uid))) return facts;
    throw new CniError(
      CNI_CODE.tryAgainLater,
      `pod ${facts.namespace}/${facts.name} names StatefulSet ${set.name} (UID ${uid}) as its controller, which the API server does not have`,
      "the set was deleted or replaced; the pod gets its address once the garbage collector releases it or a new set adopts it",
    );
  }

  /** `receivedAt`: when the request arrived, for its one bound on waiting (the same across families and retries). */
  async add(req: CniRequest, receivedAt = this.waits.now()): Promise<CniResult> {
    const { namespace, name, uid } = req.pod;
    const pod = await this.readPod(namespace, name, uid);
    if (!pod) throw new CniError(CNI_CODE.unknownContainer, `pod ${namespace}/${name} does not exist`, "it may have been deleted while its sandbox was being created; nothing was allocated");
    if (uid && pod.metadata?.uid !== uid) {
      throw new CniError(CNI_CODE.unknownContainer, `pod ${namespace}/${name} was recreated`, `the sandbox is for UID ${uid}, the pod now has ${pod.metadata?.uid}; nothing was allocated`);
    }
    const facts = await this.ownFacts(podFacts(pod, this.node));
    const candidates = await this.candidates(facts, req);
    const families = ([4, 6] as const).filter((f) => candidates[f].length > 0);
    if (families.length === 0) {
      throw new CniError(CNI_CODE.noPool, `no pool for pod ${namespace}/${name} on ${req.ifName}`, `${candidates.source} name none; annotate the workload (ipam.spidernet.io/subnet or ippool) or mark a pool spec.default`);
    }
    // What pools may ask about the pod beyond itself is looked up only when one asks.
    const subject: PoolSubject = { namespace, pod: name, node: this.node, interface: req.ifName, podLabels: facts.labels };
    const claimant: Claimant = { holder: facts.holder, use: { interface: req.ifName, sandbox: sandboxDigest(req.containerID) }, subject };
    const claimed: Claimed[] = [];
    const how = { source: candidates.source, pod, until: receivedAt + this.waits.waitMs };
    for (const f of families) claimed.push(await this.claimFrom(candidates[f], f, facts, claimant, how));
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

  del(req: CniRequest): Promise<void> {
    return this.teardown.del(req);
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
